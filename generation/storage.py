"""Store a completion: align tokens to sentences, gate them, write everything in one transaction.

Parsing, alignment and scoring are pure and run before the transaction opens; the
transaction only writes and moves the description out of GENERATING with a conditional UPDATE
on the version its claim produced, so a worker whose claim was taken over cannot overwrite the
newer result. Sentences and tokens go in with COPY on PostgreSQL (reviewq.core.bulk).

`completions_store` stores many completions in one transaction (Batch API imports); each
description's claim is still checked on its own, so one that was taken over is reported and
skipped without holding back the rest. `completion_store` is the one-description case the
workers use.
"""

import contextlib
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from generation.alignment import Alignment, align
from generation.types import Completion
from reviewq.core.audit import AuditAction
from reviewq.core.bulk import InsertForUpdated, ids_reserve, rows_insert
from reviewq.core.models import Description, DescriptionStatus, Sentence, Token
from reviewq.core.transitions import ConflictError, TransitionRequest, descriptions_transition
from reviewq.gating.gate import description_outcome, description_risk
from reviewq.gating.service import (
    SCORE_COLUMNS,
    GateInput,
    TokenInput,
    gate_config,
    gate_description,
    sentence_score_columns,
)

S = DescriptionStatus

FAILED_FINISH_REASONS = {
    "content_filter": "The provider's content filter stopped the output.",
}


def gate_input(
    *,
    completion: Completion,
    alignment: Alignment,
    attributes: Mapping[str, Any],
    product_name: str,
    prompt: str,
    verifier_p_true: Sequence[float | None] = (),
    other_candidates: Sequence[str] = (),
) -> GateInput:
    """What the gate reads of a completion, the prompt that produced it and the texts of the
    other candidates of that prompt (`other_candidates`); gate_eval builds it the same way.
    `verifier_p_true`: the verifier's P(True) per sentence of `alignment`, or empty (not run;
    one per sentence or none, anything else is dropped)."""
    return GateInput(
        sentences=[span.text for span in alignment.sentences],
        tokens=[
            TokenInput(
                text=t.text,
                logprob=t.logprob,
                alternatives=[(a.text, a.logprob) for a in t.alternatives],
                sentence=alignment.token_sentence[i],
                char_start=alignment.token_start[i],
            )
            for i, t in enumerate(completion.tokens)
        ],
        sentence_starts=[span.start for span in alignment.sentences],
        attributes=attributes,
        product_name=product_name,
        finish_reason=completion.finish_reason or "",
        has_logprobs=completion.has_logprobs,
        prompt=prompt,
        verifier_p_true=tuple(verifier_p_true) if len(verifier_p_true) == len(alignment.sentences) else (),
        other_candidates=tuple(other_candidates),
    )


@dataclass(frozen=True)
class StoreRequest:
    description: Description  # claimed (GENERATING), product and catalog loaded
    completion: Completion
    prompt: str
    claim_version: int
    verifier_p_true: tuple[float | None, ...] = ()  # per sentence (generation/verifier.py), or not run
    # The texts of the candidates not kept (LLM_CANDIDATES > 1), for the agreement signals.
    other_candidates: tuple[str, ...] = ()


SENTENCE_COLUMNS = ("description_id", "index", "char_start", "char_end", "text", *SCORE_COLUMNS)
TOKEN_COLUMNS = ("description_id", "sentence_id", "position", "char_start", "text", "bytes", "logprob", "alternatives")


@dataclass
class _Prepared:
    request: StoreRequest
    to_status: str
    action: str
    note: str
    fields: dict
    sentence_rows: list[tuple]
    token_rows: list[tuple]  # sentence_id holds the sentence's index until its id is known
    replaces: bool = False  # a regenerated description: its old sentences and tokens go


def completion_store(
    *,
    description: Description,
    completion: Completion,
    prompt: str,
    claim_version: int,
    verifier_p_true: tuple[float | None, ...] = (),
    other_candidates: tuple[str, ...] = (),
) -> Description:
    """Store one completion (`other_candidates`: the texts of the candidates pick_best did not
    keep); raises ConflictError (nothing written) if the claim was taken over."""
    [result] = completions_store(
        [
            StoreRequest(
                description=description,
                completion=completion,
                prompt=prompt,
                claim_version=claim_version,
                verifier_p_true=verifier_p_true,
                other_candidates=other_candidates,
            )
        ]
    )
    if isinstance(result, ConflictError):
        raise result
    return result


def completions_store(requests: list[StoreRequest]) -> list[Description | ConflictError]:
    """Store completions in one transaction; per request, the stored Description or the
    ConflictError that kept it out (its claim was taken over: nothing of it is written)."""
    gate_configs: dict = {}
    prepared = [_prepare(request, gate_configs) for request in requests]
    # A first result's sentences and tokens go in with its status change, in one statement and
    # only if its claim held; a regenerated one's replace its old rows after it. Results that
    # neither publish nor replace rows are that one statement (descriptions_transition keeps it
    # atomic): no transaction of its own, so no BEGIN and COMMIT round trips.
    one_statement = not any(item.replaces or item.to_status == S.PUBLISHED for item in prepared)
    with contextlib.nullcontext() if one_statement else transaction.atomic():
        prepared = _beside_live(prepared)
        results = descriptions_transition(
            [
                TransitionRequest(
                    description=item.request.description,
                    to_status=item.to_status,
                    action=item.action,
                    expected_version=item.request.claim_version,
                    note=item.note,
                    fields=item.fields,
                )
                for item in prepared
            ],
            then_insert=_rows([item for item in prepared if not item.replaces]),
        )
        _rows_replace(
            [
                item
                for item, result in zip(prepared, results, strict=True)
                if item.replaces and isinstance(result, Description)
            ]
        )
    return results


def _prepare(request: StoreRequest, gate_configs: dict) -> _Prepared:
    """Everything but the writes: failure check, alignment, gate, the rows (pure but for the
    thresholds and the adopted gate model, read once per catalog and model and call)."""
    completion, description = request.completion, request.description
    meta = {
        "provider": completion.provider,
        "model": completion.model,
        "prompt": request.prompt,
        "finish_reason": completion.finish_reason or "",
        "has_logprobs": completion.has_logprobs,
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion.completion_tokens,
        "generated_at": timezone.now(),
    }
    failure = FAILED_FINISH_REASONS.get(completion.finish_reason)
    if failure is None and not completion.text.strip():
        failure = "The provider returned no text."
    if failure is not None:
        return _Prepared(
            request=request,
            to_status=S.FAILED,
            action=AuditAction.GENERATION_FAILED,
            note=failure,
            fields={
                **meta,
                "text": completion.text,
                "error_code": completion.finish_reason or "empty",
                "error": failure,
            },
            sentence_rows=[],
            token_rows=[],
        )

    tokens = completion.tokens
    alignment = align(completion.text, [t.text for t in tokens])
    product = description.product
    key = (completion.model, product.catalog_id)
    if key not in gate_configs:
        gate_configs[key] = gate_config(catalog_id=product.catalog_id, model_name=completion.model)
    thresholds, adopted = gate_configs[key]
    gate = gate_description(
        gate_input(
            completion=completion,
            alignment=alignment,
            attributes=product.attributes,
            product_name=product.name,
            prompt=request.prompt,
            verifier_p_true=request.verifier_p_true,
            other_candidates=request.other_candidates,
        ),
        thresholds=thresholds,
        publish_confident_now=product.catalog.publish_confident_now,
    )
    columns = [sentence_score_columns(score, gate_model=adopted) for score in gate.sentences]
    outcome, summary, risk = gate.outcome, gate.summary, gate.risk
    if adopted is not None:
        risk = description_risk(c["fitted_risk"] for c in columns)
        outcome = description_outcome(((c["band"], "") for c in columns), product.catalog.publish_confident_now)
        summary = f"gate model {adopted.model_name} v{adopted.version}: " + ", ".join(
            f"{n} {band}" for band in ("publish", "review", "flag") if (n := sum(c["band"] == band for c in columns))
        )
    pk = description.pk
    sentence_rows = [
        (pk, span.index, span.start, span.end, span.text, *_in_order(column))
        for span, column in zip(alignment.sentences, columns, strict=True)
    ]
    token_rows = [
        (
            pk,
            alignment.token_sentence[i],
            i,
            alignment.token_start[i],
            t.text,
            t.bytes,
            t.logprob,
            [[a.text, a.logprob] for a in t.alternatives],
        )
        for i, t in enumerate(tokens)
    ]
    return _Prepared(
        request=request,
        to_status=outcome,
        action=AuditAction.GENERATED,
        note=f"{len(sentence_rows)} sentences, {len(tokens)} tokens; gate: {summary}",
        fields={**meta, "text": completion.text, "risk": risk, "error_code": "", "error": ""},
        sentence_rows=sentence_rows,
        token_rows=token_rows,
        replaces=description.generated_at is not None,
    )


def _beside_live(prepared: list[_Prepared]) -> list[_Prepared]:
    """A draft the gate would auto-publish waits for a reviewer instead when its product already
    has a live copy: a person decided that copy, so a run never replaces it by itself."""
    if not any(item.to_status == S.PUBLISHED for item in prepared):
        return prepared  # nothing would publish: no need to look for live copies
    live = set(
        Description.objects.filter(
            product_id__in=[item.request.description.product_id for item in prepared], status=S.PUBLISHED
        ).values_list("product_id", flat=True)
    )
    return [
        dataclasses.replace(item, to_status=S.REVIEW, note=item.note + "; a live copy exists, so it waits for review")
        if item.to_status == S.PUBLISHED and item.request.description.product_id in live
        else item
        for item in prepared
    ]


def _rows(items: list[_Prepared]) -> list[InsertForUpdated]:
    """The sentences and tokens of `items`, keyed by description: sentence ids reserved first, so
    each token names its sentence in the same go."""
    sentence_ids = iter(ids_reserve(Sentence, sum(len(item.sentence_rows) for item in items)))
    sentences: list[tuple[Any, ...]] = []
    tokens: list[tuple[Any, ...]] = []
    for item in items:
        ids = [next(sentence_ids) for _ in item.sentence_rows]
        sentences.extend((sentence_id, *row) for sentence_id, row in zip(ids, item.sentence_rows, strict=True))
        tokens.extend((row[0], ids[row[1]], *row[2:]) for row in item.token_rows)
    return [
        InsertForUpdated(Sentence, ("id", *SENTENCE_COLUMNS), sentences, key="description_id"),
        InsertForUpdated(Token, TOKEN_COLUMNS, tokens, key="description_id"),
    ]


def _rows_replace(stored: list[_Prepared]) -> None:
    """A regenerated description's old sentences and tokens go, its new ones go in (COPY)."""
    if not stored:
        return
    regenerated = [item.request.description.pk for item in stored]
    Token.objects.filter(description_id__in=regenerated).delete()
    Sentence.objects.filter(description_id__in=regenerated).delete()
    for insert in _rows(stored):
        rows_insert(insert.model, insert.columns, insert.rows)


def _in_order(columns: dict) -> tuple:
    return tuple(columns[name] for name in SCORE_COLUMNS)

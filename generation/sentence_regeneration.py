"""Regeneration of one sentence, asked for by a reviewer (generation/regeneration_requests.py
holds the request and its progress).

`regenerate_sentence_task` claims the request (a redelivered message is a no-op), calls the
provider with no transaction open, and `sentence_regeneration_store` replaces that sentence's
tokens, shifts the positions and character offsets of everything after it, re-gates the
sentence and bumps the version, in one transaction.
"""

import logging

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from generation.alignment import split_sentences
from generation.limiter import SlotUnavailable, limiter_for
from generation.prompts import SYSTEM_PROMPT, format_attributes
from generation.providers import get_provider, other_candidates, pick_best
from generation.regeneration_requests import (
    sentence_regeneration_claim,
    sentence_regeneration_finish,
    sentence_regeneration_release,
)
from generation.types import Completion, ProviderError, TokenResult
from reviewq.core.models import Description, DescriptionStatus, Sentence, SentenceDecision, SentenceRegeneration, Token
from reviewq.core.selectors import published_text
from reviewq.gating.service import (
    GateInput,
    TokenInput,
    adopted_gate_model,
    gate_description,
    sentence_score_columns,
    thresholds_for_catalog,
)

logger = logging.getLogger(__name__)

S = DescriptionStatus
SENTENCE_MAX_TOKENS = 80
# Positions are unique per description: later tokens move out of the way, then into place.
_POSITION_PARKING = 10_000_000


def sentence_messages(*, description: Description, sentence: Sentence) -> list[dict]:
    product = description.product
    sentences = list(description.sentences.order_by("index"))
    context = published_text(sentences)
    user = (
        f'Product: "{product.name}" (SKU {product.sku}).\n\nProduct facts:\n{format_attributes(product.attributes or {})}\n\n'
        f"Current description:\n{context}\n\n"
        f"Rewrite only this sentence of it, using only the facts above:\n{sentence.current_text.strip()}\n\n"
        "Reply with the one new sentence and nothing else."
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def sentence_regenerate(*, request_id: int) -> str:
    """Body of regenerate_sentence_task. Returns what happened; raises ProviderError when a
    retryable provider error should be retried by the task."""
    claim = sentence_regeneration_claim(request_id=request_id, lease_seconds=settings.GENERATION_LEASE_SECONDS)
    if claim is None:
        return "skipped"
    description = Description.objects.select_related("product").get(pk=claim.request.description_id)
    try:
        provider = get_provider()
        candidates = provider.complete(
            messages=sentence_messages(description=description, sentence=claim.sentence),
            max_tokens=SENTENCE_MAX_TOKENS,
            temperature=settings.LLM_TEMPERATURE,
            top_logprobs=settings.LLM_TOP_LOGPROBS,
            n=settings.LLM_CANDIDATES,
            in_flight=limiter_for(provider.name).slot(wait_seconds=settings.LLM_TIMEOUT),
        )
        completion = pick_best(candidates)
    except SlotUnavailable as exc:
        sentence_regeneration_release(request=claim.request)
        raise ProviderError(str(exc), code="in_flight_cap", retryable=True) from exc
    except ProviderError as exc:
        if exc.retryable:
            sentence_regeneration_release(request=claim.request)
            raise
        sentence_regeneration_finish(request=claim.request, failed=f"{exc.code}: {exc}")
        return "failed"
    return sentence_regeneration_store(
        request=claim.request, completion=completion, other_candidates=other_candidates(candidates, completion)
    )


def _trimmed_tokens(completion: Completion, *, lead: str, trail: str) -> list[TokenResult]:
    """The completion's tokens cut to its text without surrounding whitespace (and to its first
    sentence), with the original sentence's leading/trailing whitespace put on the first/last
    token, so the sentence is still exactly the concatenation of its tokens."""
    tokens = list(completion.tokens) or [
        TokenResult(text=completion.text, bytes=completion.text.encode(), logprob=None)
    ]
    text = "".join(t.text for t in tokens)
    spans = split_sentences(text)
    if not spans or not text.strip():
        return []
    # Only the first sentence: a model asked for one sometimes writes two.
    first_start, first_end = spans[0]
    core = text[first_start:first_end].strip()
    start = text.find(core, first_start)
    end = start + len(core)
    kept, offset = [], 0
    for token in tokens:
        t_start, t_end = offset, offset + len(token.text)
        offset = t_end
        piece_start, piece_end = max(t_start, start), min(t_end, end)
        if piece_end <= piece_start:
            continue
        piece = token.text[piece_start - t_start : piece_end - t_start]
        kept.append(
            TokenResult(text=piece, bytes=piece.encode(), logprob=token.logprob, alternatives=token.alternatives)
        )
    if not kept:
        return []
    first, last = kept[0], kept[-1]
    kept[0] = TokenResult(
        text=lead + first.text,
        bytes=(lead + first.text).encode(),
        logprob=first.logprob,
        alternatives=first.alternatives,
    )
    last = kept[-1]
    kept[-1] = TokenResult(
        text=last.text + trail, bytes=(last.text + trail).encode(), logprob=last.logprob, alternatives=last.alternatives
    )
    return kept


def _store_refused(request: SentenceRegeneration, description: Description, sentence: Sentence | None) -> str:
    """Why the result cannot be stored, or "" (the caller holds the description's row lock)."""
    if not SentenceRegeneration.objects.filter(pk=request.pk, status__in=SentenceRegeneration.OPEN).exists():
        return "superseded"
    if description.status != S.REVIEW or sentence is None:
        return "The description left review while the sentence was regenerated."
    if sentence.current_text != request.original_text:
        return "The sentence was changed while it was regenerated."
    return ""


def sentence_regeneration_store(
    *, request: SentenceRegeneration, completion: Completion, other_candidates: tuple[str, ...] = ()
) -> str:
    """Replace the requested sentence by the completion and re-gate it (one transaction);
    `other_candidates`: the texts of the rewrites pick_best did not keep (agreement signals)."""
    with transaction.atomic():
        description = (
            Description.objects.select_for_update().select_related("product__catalog").get(pk=request.description_id)
        )
        sentence = Sentence.objects.filter(description=description, index=request.sentence_index).first()
        refused = _store_refused(request, description, sentence)
        if refused == "superseded":
            return "skipped"  # a newer request (or a give-up) closed it: its result is not wanted
        if refused:
            sentence_regeneration_finish(request=request, failed=refused)
            return "failed"
        assert sentence is not None  # _store_refused refuses a missing sentence
        original = sentence.text
        lead = original[: len(original) - len(original.lstrip())]
        trail = original[len(original.rstrip()) :]
        new_tokens = _trimmed_tokens(completion, lead=lead, trail=trail)
        if not new_tokens:
            sentence_regeneration_finish(request=request, failed="The model returned no text.")
            return "failed"
        new_text = "".join(t.text for t in new_tokens)
        old_positions = list(sentence.tokens.order_by("position").values_list("position", flat=True))
        if old_positions:
            first_position = old_positions[0]
        else:
            before = (
                Token.objects.filter(description=description, sentence__index__lt=sentence.index)
                .order_by("-position")
                .values_list("position", flat=True)
                .first()
            )
            first_position = 0 if before is None else before + 1
        after_position = old_positions[-1] if old_positions else first_position - 1
        delta_tokens = len(new_tokens) - len(old_positions)
        delta_chars = len(new_text) - len(original)

        sentence.tokens.all().delete()
        later = Token.objects.filter(description=description, position__gt=after_position)
        later.update(position=F("position") + _POSITION_PARKING, char_start=F("char_start") + delta_chars)
        Token.objects.filter(description=description, position__gte=_POSITION_PARKING).update(
            position=F("position") - _POSITION_PARKING + delta_tokens
        )
        Sentence.objects.filter(description=description, index__gt=sentence.index).update(
            char_start=F("char_start") + delta_chars, char_end=F("char_end") + delta_chars
        )
        char = sentence.char_start
        rows = []
        for i, token in enumerate(new_tokens):
            rows.append(
                Token(
                    description=description,
                    sentence=sentence,
                    position=first_position + i,
                    char_start=char,
                    text=token.text,
                    bytes=token.bytes,
                    logprob=token.logprob,
                    alternatives=[[a.text, a.logprob] for a in token.alternatives],
                )
            )
            char += len(token.text)
        Token.objects.bulk_create(rows)

        # Re-gate the whole description as it now reads and keep this sentence's score.
        sentences = list(description.sentences.order_by("index"))
        texts = [new_text if s.pk == sentence.pk else s.text for s in sentences]
        starts = [s.char_start for s in sentences]
        index_of = {s.pk: i for i, s in enumerate(sentences)}
        tokens = list(Token.objects.filter(description=description).order_by("position"))
        gate = gate_description(
            GateInput(
                sentences=texts,
                sentence_starts=starts,
                tokens=[
                    TokenInput(
                        text=t.text,
                        logprob=t.logprob,
                        alternatives=[tuple(a) for a in t.alternatives],
                        sentence=index_of[t.sentence_id],
                        char_start=t.char_start,
                    )
                    for t in tokens
                ],
                attributes=description.product.attributes or {},
                product_name=description.product.name,
                finish_reason=completion.finish_reason or "",
                has_logprobs=completion.has_logprobs,
                prompt=description.prompt,
                other_candidates=other_candidates,
            ),
            thresholds=thresholds_for_catalog(catalog_id=description.product.catalog_id),
            publish_confident_now=False,
        )
        score = gate.sentences[index_of[sentence.pk]]
        Sentence.objects.filter(pk=sentence.pk).update(
            text=new_text,
            char_end=sentence.char_start + len(new_text),
            edited_text="",
            decision=SentenceDecision.NONE,
            decided_by=None,
            decided_at=None,
            error_category=None,
            substitutions={},
            generated_score=None,
            **sentence_score_columns(
                score,
                gate_model=adopted_gate_model(model_name=description.model, catalog_id=description.product.catalog_id),
            ),
        )
        before_version = description.version
        Description.objects.filter(pk=description.pk).update(
            text="".join(texts), risk=gate.risk, version=F("version") + 1, updated_at=timezone.now()
        )
        sentence_regeneration_finish(
            request=request,
            result_version=before_version + 1,
            before={"text": request.original_text, "version": before_version},
            after={
                "text": new_text,
                "band": score.band,
                "version": before_version + 1,
                "tokens": len(new_tokens),
                "model": completion.model,
            },
        )
    return "regenerated"

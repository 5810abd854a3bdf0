"""Store a completion: align tokens to sentences, gate them, write everything in one transaction.

Parsing, alignment and scoring are pure and run before the transaction opens; the
transaction only writes (bulk inserts) and moves the description out of GENERATING with a
conditional UPDATE on the version its claim produced, so a worker whose claim was taken over
cannot overwrite the newer result.
"""

from django.db import transaction
from django.utils import timezone

from reviewq.gating.service import (
    GateInput,
    TokenInput,
    gate_description,
    stored_reasons,
    thresholds_for_catalog,
)
from reviewq.models import Description, DescriptionStatus, Sentence, Token
from reviewq.services import description_transition

from .alignment import Alignment, align
from .types import Completion

S = DescriptionStatus

FAILED_FINISH_REASONS = {
    "content_filter": "The provider's content filter stopped the output.",
}


def gate_input(*, completion: Completion, alignment: Alignment, attributes: dict, product_name: str) -> GateInput:
    """What the gate reads of a completion; gate_eval builds it the same way."""
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
    )


def completion_store(
    *, description: Description, completion: Completion, prompt: str, claim_version: int
) -> Description:
    meta = {
        "provider": completion.provider,
        "model": completion.model,
        "prompt": prompt,
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
        return description_transition(
            description=description,
            to_status=S.FAILED,
            action="generation_failed",
            expected_version=claim_version,
            note=failure,
            fields={**meta, "text": completion.text, "error_code": completion.finish_reason or "empty", "error": failure},
        )

    tokens = completion.tokens
    alignment = align(completion.text, [t.text for t in tokens])
    product = description.product
    gate = gate_description(
        gate_input(completion=completion, alignment=alignment, attributes=product.attributes, product_name=product.name),
        thresholds=thresholds_for_catalog(catalog_id=product.catalog_id),
        publish_confident_now=product.catalog.publish_confident_now,
    )

    with transaction.atomic():
        if description.generated_at is not None:
            # A regenerated description replaces its previous sentences and tokens.
            Token.objects.filter(description=description).delete()
            Sentence.objects.filter(description=description).delete()
        sentences = Sentence.objects.bulk_create(
            [
                Sentence(
                    description=description,
                    index=span.index,
                    char_start=span.start,
                    char_end=span.end,
                    text=span.text,
                    band=score.band,
                    mean_logprob=score.mean_logprob,
                    min_logprob=score.min_logprob,
                    risk=score.risk,
                    critical_min_logprob=score.signals.get("critical_min_logprob"),
                    hard_flag=bool(score.signals.get("hard_flag")),
                    has_warning=bool(score.signals.get("has_warning")),
                    signals=score.signals,
                    reasons=stored_reasons(score),
                )
                for span, score in zip(alignment.sentences, gate.sentences, strict=True)
            ]
        )
        Token.objects.bulk_create(
            [
                Token(
                    description=description,
                    sentence=sentences[alignment.token_sentence[i]],
                    position=i,
                    char_start=alignment.token_start[i],
                    text=t.text,
                    bytes=t.bytes,
                    logprob=t.logprob,
                    alternatives=[[a.text, a.logprob] for a in t.alternatives],
                )
                for i, t in enumerate(tokens)
            ],
            batch_size=2000,
        )
        return description_transition(
            description=description,
            to_status=gate.outcome,
            action="generated",
            expected_version=claim_version,
            note=f"{len(sentences)} sentences, {len(tokens)} tokens; gate: {gate.summary}",
            fields={**meta, "text": completion.text, "risk": gate.risk, "error_code": "", "error": ""},
        )

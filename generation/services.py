"""Generation: from a queued product to a stored, gated description.

`description_generate` is the body of the Celery task. It claims the work with a conditional
UPDATE, calls the provider with no transaction open, and stores the result in one transaction
(generation/storage.py). Transient provider errors release the claim and ask the task to retry.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from generation.limiter import SlotUnavailable, limiter_for
from generation.prompts import build_messages, prompt_text
from generation.providers import get_provider, other_candidates, pick_best
from generation.queueing import description_claim_for_generation
from generation.runs import run_finish_if_done
from generation.storage import completion_store
from generation.types import ProviderError
from generation.verifier import description_verdicts
from reviewq.core.audit import AuditAction
from reviewq.core.models import Description, DescriptionStatus, GenerationRun
from reviewq.core.transitions import ConflictError, description_transition

logger = logging.getLogger(__name__)
S = DescriptionStatus


class RetryLater(Exception):
    """Raised to the task: the claim was released, try again after `countdown` seconds."""

    def __init__(self, message: str, *, retry_after: float | None, attempt: int):
        super().__init__(message)
        self.retry_after = retry_after
        self.attempt = attempt


@dataclass(frozen=True)
class GenerateOutcome:
    status: str  # "skipped" | a Description status
    description_id: int | None = None


def description_generate(*, product_id: int) -> GenerateOutcome:
    outcome = _description_generate(product_id=product_id)
    if outcome.description_id is not None:
        run_finish_if_done(description_id=outcome.description_id)
    return outcome


def _description_generate(*, product_id: int) -> GenerateOutcome:
    description = description_claim_for_generation(
        product_id=product_id, lease_seconds=settings.GENERATION_LEASE_SECONDS
    )
    if description is None:
        return GenerateOutcome(status="skipped")
    product = description.product
    # The run that queued it chose provider, model, template and candidates (empty: settings).
    run = GenerationRun.objects.filter(pk=description.run_id).first() if description.run_id else None
    try:
        messages = build_messages(
            name=product.name,
            sku=product.sku,
            attributes=product.attributes,
            template=(run.prompt_template if run and run.prompt_template else product.catalog.prompt_template),
        )
        provider = get_provider(run.provider or None, model=run.model or None) if run else get_provider()
    except (ValueError, ImproperlyConfigured) as exc:
        # A bad catalog template or provider configuration: no retry fixes it.
        description_fail(description=description, error_code="configuration", error=str(exc))
        return GenerateOutcome(status=S.FAILED, description_id=description.pk)
    prompt = prompt_text(messages)
    _release_pooled_connection()
    try:
        with limiter_for(provider.name).slot(wait_seconds=settings.LLM_TIMEOUT):
            candidates = provider.complete(
                messages=messages,
                max_tokens=settings.LLM_MAX_TOKENS,
                temperature=settings.LLM_TEMPERATURE,
                top_logprobs=settings.LLM_TOP_LOGPROBS,
                n=run.candidates if run else settings.LLM_CANDIDATES,
            )
        completion = pick_best(candidates)
    except SlotUnavailable as exc:
        return _retry_or_fail(description, code="in_flight_cap", message=str(exc), retryable=True, retry_after=None)
    except ProviderError as exc:
        return _retry_or_fail(
            description, code=exc.code, message=str(exc), retryable=exc.retryable, retry_after=exc.retry_after
        )
    # Optional (GATE_VERIFIER): never raises; a failed verifier stores the text without the signal.
    verdicts = description_verdicts(
        completion=completion, attributes=product.attributes, product_name=product.name, generator=provider
    )
    if verdicts.calls:
        logger.info("verifier on description %s: %d calls in %.2f s", description.pk, verdicts.calls, verdicts.seconds)
    try:
        stored = completion_store(
            description=description,
            completion=completion,
            prompt=prompt,
            claim_version=description.version,
            verifier_p_true=verdicts.values,
            other_candidates=other_candidates(candidates, completion),
        )
    except ConflictError:
        logger.warning("description %s was reclaimed while generating; result dropped", description.pk)
        return GenerateOutcome(status="skipped", description_id=description.pk)
    return GenerateOutcome(status=stored.status, description_id=stored.pk)


def _release_pooled_connection() -> None:
    """Hand a pooled database connection back while waiting on the provider, so a worker's
    threads share a small pool instead of each holding a connection through the call."""
    if connection.settings_dict.get("OPTIONS", {}).get("pool") and not connection.in_atomic_block:
        connection.close()


def _retry_or_fail(
    description: Description, *, code: str, message: str, retryable: bool, retry_after: float | None
) -> GenerateOutcome:
    fields = {"error_code": code, "error": message[:2000]}
    if retryable and description.attempts < settings.GENERATION_MAX_ATTEMPTS:
        description_transition(
            description=description,
            to_status=S.QUEUED,
            action=AuditAction.GENERATION_RETRY,
            expected_version=description.version,
            note=message[:500],
            fields=fields,
        )
        raise RetryLater(message, retry_after=retry_after, attempt=description.attempts)
    if retryable:
        fields["error"] = f"Gave up after {description.attempts} attempts: {message}"[:2000]
    description_fail(description=description, **fields)
    return GenerateOutcome(status=S.FAILED, description_id=description.pk)


def description_fail(*, description: Description, error_code: str, error: str) -> Description:
    return description_transition(
        description=description,
        to_status=S.FAILED,
        action=AuditAction.GENERATION_FAILED,
        expected_version=description.version,
        note=error[:500],
        fields={"error_code": error_code, "error": error or error_code},
    )

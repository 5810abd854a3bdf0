"""Generation: from a queued product to a stored, gated description.

`description_generate` is the body of the one-product task: it claims the work with a
conditional UPDATE, calls the provider with no transaction open, and stores the result in one
transaction (generation/storage.py). `descriptions_generate` is the body of a bulk run's chunk
task: it claims its products with one set-based conditional UPDATE, keeps their provider calls
in flight at once on a thread pool (each under the in-flight limiter, no transaction open, no
database access off the task's thread) and stores the completions that have finished together
(`completions_store`: each claim still checked on its own). A transient provider error puts
that one product back to QUEUED and the task sends it a retry with backoff.
"""

import logging
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.models import Q

from generation.limiter import SlotUnavailable, limiter_for
from generation.prompts import build_messages, prompt_text
from generation.providers import Provider, get_provider, other_candidates, pick_best, provider_name
from generation.queueing import description_claim_for_generation, descriptions_claim_for_generation
from generation.runs import run_finish_if_done
from generation.storage import StoreRequest, completion_store, completions_store
from generation.types import Completion, ProviderError
from generation.verifier import description_verdicts
from reviewq.core.audit import AuditAction
from reviewq.core.models import Description, DescriptionStatus
from reviewq.core.transitions import ConflictError, description_transition

logger = logging.getLogger(__name__)
S = DescriptionStatus
RETRY = "retry"
# After a chunk's first call returns, how long the others may take to join its storage
# transaction (fewer, larger transactions: less CPU per description).
STORE_GATHER_SECONDS = 0.05


class RetryLater(Exception):
    """Raised to the task: the claim was released, try again after `countdown` seconds."""

    def __init__(self, message: str, *, retry_after: float | None, attempt: int):
        super().__init__(message)
        self.retry_after = retry_after
        self.attempt = attempt


@dataclass(frozen=True)
class GenerateOutcome:
    status: str  # "skipped" | RETRY (back in QUEUED, the task sends a retry) | a Description status
    description_id: int | None = None
    product_id: int | None = None
    message: str = ""
    retry_after: float | None = None  # RETRY: the provider's Retry-After, if it sent one
    attempt: int = 0  # RETRY: the attempts so far, for the backoff


def description_generate(*, product_id: int) -> GenerateOutcome:
    outcome = _description_generate(product_id=product_id)
    if outcome.status == RETRY:
        raise RetryLater(outcome.message, retry_after=outcome.retry_after, attempt=outcome.attempt)
    if outcome.description_id is not None:
        run_finish_if_done(description_id=outcome.description_id)
    return outcome


def descriptions_generate(*, product_ids: list[int]) -> list[GenerateOutcome]:
    """Generate a chunk of products; one outcome each (RETRY: back in QUEUED, the caller sends
    its retry). The products of a provider that runs one call at a time (the embedded model),
    and any the set-based claim did not take (done already, claimed elsewhere), go one by one
    through the one-product path, so each is claimed just before its call."""
    claimed = descriptions_claim_for_generation(
        product_ids=product_ids,
        lease_seconds=settings.GENERATION_LEASE_SECONDS,
        condition=_concurrent_provider_rows(),
    )
    outcomes = _descriptions_generate_claimed(claimed) if claimed else []
    taken = {description.product_id for description in claimed}
    outcomes += [_description_generate(product_id=pid) for pid in product_ids if pid not in taken]
    run_ids = {d.run_id for d in claimed if d.run_id is not None}
    for outcome in outcomes:
        if outcome.product_id not in taken and outcome.description_id is not None and outcome.status != RETRY:
            run_finish_if_done(description_id=outcome.description_id)
    for run_id in sorted(run_ids):
        run_finish_if_done(run_id=run_id)
    return outcomes


def _concurrent_provider_rows() -> Q:
    """Descriptions whose provider (their run's, else the configured one) takes many calls at
    once: the OpenAI-compatible one. The embedded model decodes one request at a time."""
    try:
        default = provider_name(None)
    except ImproperlyConfigured:
        return Q(pk__in=[])  # the one-product path fails each with the configuration error
    rows = Q(run__provider="openai")
    if default == "openai":
        rows |= Q(run__isnull=True) | Q(run__provider="")
    return rows


@dataclass(frozen=True)
class _Call:
    description: Description
    provider: Provider
    messages: list[dict]
    prompt: str
    n: int


def _descriptions_generate_claimed(claimed: list[Description]) -> list[GenerateOutcome]:
    outcomes: list[GenerateOutcome] = []
    calls: list[_Call] = []
    for description in claimed:
        try:
            call = _call_for(description)
        except (ValueError, ImproperlyConfigured) as exc:
            description_fail(description=description, error_code="configuration", error=str(exc))
            outcomes.append(_outcome(description, S.FAILED))
            continue
        calls.append(call)
    if not calls:
        return outcomes
    # The calls run on pool threads, which never touch the database; this thread stores what
    # has finished while the rest are still in flight.
    with ThreadPoolExecutor(max_workers=len(calls), thread_name_prefix="provider-call") as pool:
        pending: dict[Future[_Result], _Call] = {pool.submit(_complete, call): call for call in calls}
        while pending:
            _release_pooled_connection()
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            if len(done) < len(pending):  # calls sent together end together: store them together
                done, _ = wait(pending, timeout=STORE_GATHER_SECONDS)
            finished = [(pending.pop(future), future) for future in done]
            outcomes += _calls_finish(finished)
    return outcomes


def _call_for(description: Description) -> _Call:
    """What to send for a claimed description; ValueError / ImproperlyConfigured for a bad
    catalog template or provider configuration (no retry fixes those)."""
    product, run = description.product, description.run
    messages = build_messages(
        name=product.name,
        sku=product.sku,
        attributes=product.attributes,
        template=(run.prompt_template if run and run.prompt_template else product.catalog.prompt_template),
    )
    provider = get_provider(run.provider or None, model=run.model or None) if run else get_provider()
    n = run.candidates if run else settings.LLM_CANDIDATES
    return _Call(description=description, provider=provider, messages=messages, prompt=prompt_text(messages), n=n)


@dataclass(frozen=True)
class _Result:
    completion: Completion
    verifier_p_true: tuple[float | None, ...]
    other_candidates: tuple[str, ...]


def _complete(call: _Call) -> _Result:
    """One provider call, holding an in-flight slot only while the request is at the provider,
    then the optional verifier (on a pool thread in a chunk: no database here)."""
    candidates = call.provider.complete(
        messages=call.messages,
        max_tokens=settings.LLM_MAX_TOKENS,
        temperature=settings.LLM_TEMPERATURE,
        top_logprobs=settings.LLM_TOP_LOGPROBS,
        n=call.n,
        in_flight=limiter_for(call.provider.name).slot(wait_seconds=settings.LLM_TIMEOUT),
    )
    completion = pick_best(candidates)
    product = call.description.product
    # Optional (GATE_VERIFIER): never raises; a failed verifier stores the text without the signal.
    verdicts = description_verdicts(
        completion=completion, attributes=product.attributes, product_name=product.name, generator=call.provider
    )
    if verdicts.calls:
        logger.info(
            "verifier on description %s: %d calls in %.2f s", call.description.pk, verdicts.calls, verdicts.seconds
        )
    return _Result(
        completion=completion,
        verifier_p_true=verdicts.values,
        other_candidates=other_candidates(candidates, completion),
    )


def _calls_finish(finished: list[tuple[_Call, Future[_Result]]]) -> list[GenerateOutcome]:
    """Store the completions among `finished` in one transaction; retry or fail the errors."""
    outcomes: list[GenerateOutcome] = []
    requests: list[StoreRequest] = []
    for call, future in finished:
        description = call.description
        try:
            result = future.result()
        except (SlotUnavailable, ProviderError) as exc:
            try:
                outcomes.append(_error_outcome(description, exc))
            except ConflictError:  # reclaimed meanwhile: the new claim's worker owns the row
                outcomes.append(_outcome(description, "skipped"))
        except Exception:
            # Not a provider outcome (a bug): the row stays GENERATING under its lease and the
            # recovery sweep re-sends it; the rest of the chunk goes on.
            logger.exception("generating description %s failed unexpectedly", description.pk)
            outcomes.append(_outcome(description, "skipped"))
        else:
            requests.append(StoreRequest(**_store_fields(description, call, result)))
    if requests:
        for request, stored in zip(requests, completions_store(requests), strict=True):
            description = request.description
            if isinstance(stored, ConflictError):
                logger.warning("description %s was reclaimed while generating; result dropped", description.pk)
                outcomes.append(_outcome(description, "skipped"))
            else:
                outcomes.append(_outcome(stored, stored.status))
    return outcomes


def _store_fields(description: Description, call: _Call, result: _Result) -> dict[str, Any]:
    """What storage takes of a claimed row and its finished call, for one or a chunk."""
    return {
        "description": description,
        "completion": result.completion,
        "prompt": call.prompt,
        "claim_version": description.version,
        "verifier_p_true": result.verifier_p_true,
        "other_candidates": result.other_candidates,
    }


def _outcome(description: Description, status: str) -> GenerateOutcome:
    return GenerateOutcome(status=status, description_id=description.pk, product_id=description.product_id)


def _description_generate(*, product_id: int) -> GenerateOutcome:
    description = description_claim_for_generation(
        product_id=product_id, lease_seconds=settings.GENERATION_LEASE_SECONDS
    )
    if description is None:
        return GenerateOutcome(status="skipped", product_id=product_id)
    # The run that queued it chose provider, model, template and candidates (empty: settings).
    try:
        call = _call_for(description)
    except (ValueError, ImproperlyConfigured) as exc:
        description_fail(description=description, error_code="configuration", error=str(exc))
        return _outcome(description, S.FAILED)
    _release_pooled_connection()
    try:
        result = _complete(call)
    except (SlotUnavailable, ProviderError) as exc:
        return _error_outcome(description, exc)
    try:
        stored = completion_store(**_store_fields(description, call, result))
    except ConflictError:
        logger.warning("description %s was reclaimed while generating; result dropped", description.pk)
        return _outcome(description, "skipped")
    return _outcome(stored, stored.status)


def _release_pooled_connection() -> None:
    """Hand a pooled database connection back while waiting on the provider, so a worker's
    threads share a small pool instead of each holding a connection through the call."""
    if connection.settings_dict.get("OPTIONS", {}).get("pool") and not connection.in_atomic_block:
        connection.close()


def _error_outcome(description: Description, exc: SlotUnavailable | ProviderError) -> GenerateOutcome:
    if isinstance(exc, SlotUnavailable):
        return _retry_or_fail(description, code="in_flight_cap", message=str(exc), retryable=True, retry_after=None)
    return _retry_or_fail(
        description, code=exc.code, message=str(exc), retryable=exc.retryable, retry_after=exc.retry_after
    )


def _retry_or_fail(
    description: Description, *, code: str, message: str, retryable: bool, retry_after: float | None
) -> GenerateOutcome:
    """A retryable error within GENERATION_MAX_ATTEMPTS puts the row back to QUEUED and returns
    RETRY (the task sends the retry); anything else fails it with the reason stored."""
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
        return GenerateOutcome(
            status=RETRY,
            description_id=description.pk,
            product_id=description.product_id,
            message=message,
            retry_after=retry_after,
            attempt=description.attempts,
        )
    if retryable:
        fields["error"] = f"Gave up after {description.attempts} attempts: {message}"[:2000]
    description_fail(description=description, **fields)
    return _outcome(description, S.FAILED)


def description_fail(*, description: Description, error_code: str, error: str) -> Description:
    return description_transition(
        description=description,
        to_status=S.FAILED,
        action=AuditAction.GENERATION_FAILED,
        expected_version=description.version,
        note=error[:500],
        fields={"error_code": error_code, "error": error or error_code},
    )

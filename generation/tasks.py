import logging
import random

from celery import Task, shared_task
from celery.app.task import Context
from celery.signals import worker_ready
from django.conf import settings
from django.db import InterfaceError, OperationalError

from generation.dispatch import GENERATE_DESCRIPTION, GENERATE_DESCRIPTIONS, RECOVER_STALE, REGENERATE_SENTENCE
from generation.limiter import slots_release_dead_holders
from generation.recovery import descriptions_requeue_stale
from generation.regeneration_requests import sentence_regeneration_fail
from generation.sentence_regeneration import sentence_regenerate
from generation.services import RETRY, RetryLater, description_generate, descriptions_generate
from generation.types import ProviderError

logger = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 300.0
DATABASE_RETRIES = 20
# A recovery message nobody ran within this is dropped: the next one does the same work.
RECOVERY_MESSAGE_EXPIRES_SECONDS = 300


def retry_countdown(*, attempt: int, retry_after: float | None) -> float:
    """Exponential backoff with full jitter; a provider's Retry-After is a floor we honour."""
    backoff = random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(attempt - 1, 0)))
    if retry_after is not None:
        return max(retry_after, 0.0) + random.uniform(0, 1.0)
    return backoff


def database_retry_countdown(*, retries: int) -> float:
    """After a database error: rows may have been claimed before it, so retry once their lease
    has run out, or the retry finds them still leased, skips them, and nothing picks them up."""
    return float(settings.GENERATION_LEASE_SECONDS) + 1 + retry_countdown(attempt=retries + 1, retry_after=None)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None, name=GENERATE_DESCRIPTION)
def generate_description_task(self: Task, product_id: int) -> str:
    """Generate, store and gate one product's description. Safe to deliver twice: the claim in
    description_generate makes a second delivery a no-op. Attempts are counted on the row
    (Description.attempts), so the give-up point holds across redeliveries."""
    try:
        outcome = description_generate(product_id=product_id)
    except RetryLater as exc:
        raise self.retry(exc=exc, countdown=retry_countdown(attempt=exc.attempt, retry_after=exc.retry_after)) from exc
    except (OperationalError, InterfaceError) as exc:
        # Database briefly unavailable: nothing was half-written (one transaction); the claim
        # lease expires and the retry reclaims it.
        if self.request.retries >= DATABASE_RETRIES:
            raise
        logger.warning("database unavailable generating product %s: %s", product_id, exc)
        raise self.retry(exc=exc, countdown=database_retry_countdown(retries=self.request.retries)) from exc
    return outcome.status


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None, name=GENERATE_DESCRIPTIONS)
def generate_descriptions_task(self: Task, product_ids: list[int]) -> dict[str, int]:
    """Generate a chunk of a bulk run's products, their provider calls in flight at once. Safe
    to deliver twice: the set-based claim takes only rows still claimable, each under its own
    lease and attempts. A product whose provider call failed transiently is back in QUEUED and
    gets a generate_description retry of its own, with backoff."""
    try:
        outcomes = descriptions_generate(product_ids=product_ids)
    except (OperationalError, InterfaceError) as exc:
        # As for one product: what was stored is stored (one transaction per batch); the rest
        # is claimable again once its lease runs out, so the retry waits for that.
        if self.request.retries >= DATABASE_RETRIES:
            raise
        logger.warning("database unavailable generating products %s: %s", product_ids, exc)
        raise self.retry(exc=exc, countdown=database_retry_countdown(retries=self.request.retries)) from exc
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
        if outcome.status == RETRY:
            generate_description_task.apply_async(
                args=[outcome.product_id],
                countdown=retry_countdown(attempt=outcome.attempt, retry_after=outcome.retry_after),
                **_route_of(self.request),
            )
    return counts


def _route_of(request: Context) -> dict[str, str]:
    """Where a message came from, so a retry goes to the queue its workers consume (as
    Task.retry routes one)."""
    info = request.delivery_info or {}
    if info.get("exchange") == "" and info.get("routing_key"):
        return {"queue": info["routing_key"]}
    return {key: info[key] for key in ("exchange", "routing_key") if info.get(key)}


@shared_task(name=RECOVER_STALE, ignore_result=True)
def recover_stale_task() -> int:
    """Re-send generation for rows whose message was lost, and free in-flight slots of dead
    processes on this host. Scheduled by beat (GENERATION_RECOVERY_INTERVAL_SECONDS) and sent
    when a worker becomes ready; running it twice at once re-sends nothing twice."""
    slots_release_dead_holders()
    return len(descriptions_requeue_stale())


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=5, name=REGENERATE_SENTENCE)
def regenerate_sentence_task(self: Task, request_id: int) -> str:
    """Regenerate one sentence for a reviewer's request. Safe to deliver twice (the claim)."""
    try:
        return sentence_regenerate(request_id=request_id)
    except ProviderError as exc:
        if self.request.retries >= self.max_retries:
            sentence_regeneration_fail(request_id=request_id, note=f"Gave up: {exc}")
            return "failed"
        raise self.retry(
            exc=exc, countdown=retry_countdown(attempt=self.request.retries + 1, retry_after=exc.retry_after)
        ) from exc


@worker_ready.connect
def recover_on_worker_ready(sender: object = None, **kwargs: object) -> None:
    """A restarted worker frees its dead predecessor's slots now (this host only) and has the
    leftover rows looked at without waiting for beat's next tick."""
    slots_release_dead_holders()
    recover_stale_task.apply_async(expires=RECOVERY_MESSAGE_EXPIRES_SECONDS)

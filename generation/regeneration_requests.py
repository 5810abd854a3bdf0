"""Sentence regeneration requests: the SentenceRegeneration row is the request and its progress.

requested -> running (a worker's claim: one conditional UPDATE, with a lease, so a redelivered
message is a no-op) -> done or failed. A retryable provider error hands the claim back
(running -> requested). A newer request for the same sentence closes the open one (the
database keeps one open request per sentence). Each step also writes an audit row, for
History only: nothing here reads the audit log.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from generation.dispatch import sentence_regeneration_enqueue
from reviewq.core.audit import AuditAction, audit_actor, audit_record
from reviewq.core.models import Description, DescriptionStatus, Sentence, SentenceRegeneration

R = SentenceRegeneration.Status
S = DescriptionStatus
SUPERSEDED_NOTE = "A newer request replaced it."


@transaction.atomic
def sentence_regeneration_open(
    *, description: Description, sentence: Sentence, reviewer: AbstractBaseUser, page_version: int
) -> SentenceRegeneration:
    """Record a reviewer's request (closing the sentence's open one) and send its task after
    commit. The caller holds the description's review lock."""
    now = timezone.now()
    SentenceRegeneration.objects.filter(
        description=description, sentence_index=sentence.index, status__in=SentenceRegeneration.OPEN
    ).update(status=R.FAILED, note=SUPERSEDED_NOTE, lease_until=None, finished_at=now, updated_at=now)
    regeneration = SentenceRegeneration.objects.create(
        description=description,
        sentence_index=sentence.index,
        requested_by=audit_actor(reviewer),
        original_text=sentence.current_text,
        original_signals=sentence.signals if sentence.generated_score is None else sentence.generated_score["signals"],
    )
    audit_record(
        action=AuditAction.SENTENCE_REGENERATION_REQUESTED,
        actor=reviewer,
        description=description,
        sentence_index=sentence.index,
        before={"text": sentence.current_text, "version": page_version},
        after={"version": description.version, "request": regeneration.pk},
    )
    sentence_regeneration_enqueue(request_id=regeneration.pk)
    return regeneration


@dataclass(frozen=True, slots=True)
class RegenerationClaim:
    request: SentenceRegeneration
    sentence: Sentence


def sentence_regeneration_claim(*, request_id: int, lease_seconds: int) -> RegenerationClaim | None:
    """Claim a request, or None (unknown, finished, superseded, or running elsewhere within its
    lease: what a redelivered message sees)."""
    now = timezone.now()
    claimable = Q(status=R.REQUESTED) | Q(status=R.RUNNING, lease_until__lt=now)
    with transaction.atomic():
        claimed = SentenceRegeneration.objects.filter(claimable, pk=request_id).update(
            status=R.RUNNING,
            lease_until=now + timedelta(seconds=lease_seconds),
            attempts=F("attempts") + 1,
            updated_at=now,
        )
        if not claimed:
            return None
        request = SentenceRegeneration.objects.select_related("description").get(pk=request_id)
        sentence = Sentence.objects.filter(description_id=request.description_id, index=request.sentence_index).first()
        if request.description.status != S.REVIEW or sentence is None:
            sentence_regeneration_finish(
                request=request, failed="The description left review before the sentence was regenerated."
            )
            return None
        audit_record(
            action=AuditAction.SENTENCE_REGENERATION_STARTED,
            description=request.description,
            sentence_index=request.sentence_index,
            after={"request": request.pk, "attempt": request.attempts},
        )
    return RegenerationClaim(request=request, sentence=sentence)


def sentence_regeneration_release(*, request: SentenceRegeneration) -> bool:
    """Hand a claim back (running -> requested) so the task's retry can claim it again."""
    return bool(
        SentenceRegeneration.objects.filter(pk=request.pk, status=R.RUNNING).update(
            status=R.REQUESTED, lease_until=None, updated_at=timezone.now()
        )
    )


@transaction.atomic
def sentence_regeneration_finish(
    *,
    request: SentenceRegeneration,
    failed: str = "",
    result_version: int | None = None,
    before: dict | None = None,
    after: dict | None = None,
) -> bool:
    """Close an open request: failed (with the reason) or done (at `result_version`), and audit
    it. False, and nothing written, when it was closed already (superseded, or a duplicate)."""
    now = timezone.now()
    status = R.FAILED if failed else R.DONE
    closed = SentenceRegeneration.objects.filter(pk=request.pk, status__in=SentenceRegeneration.OPEN).update(
        status=status,
        note=failed[:500],
        result_version=result_version,
        lease_until=None,
        finished_at=now,
        updated_at=now,
    )
    if closed:
        audit_record(
            action=AuditAction.SENTENCE_REGENERATION_FAILED if failed else AuditAction.SENTENCE_REGENERATED,
            description=request.description,
            sentence_index=request.sentence_index,
            before=before or {},
            after={"request": request.pk, **(after or {})},
            note=failed[:500],
        )
    return bool(closed)


def sentence_regeneration_fail(*, request_id: int, note: str) -> None:
    """The task gave up on a request (retries exhausted)."""
    request = SentenceRegeneration.objects.filter(pk=request_id).first()
    if request is not None:
        sentence_regeneration_finish(request=request, failed=note or "Regeneration failed.")


# --- selectors ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegenerationState:
    open: dict[int, SentenceRegeneration]  # sentence index -> its open request
    failures: dict[int, str]  # sentence index -> why its latest regeneration failed (none open)


def sentence_regeneration_state(*, description_id: int) -> RegenerationState:
    """Open requests and latest failures per sentence of a description, from one query."""
    open_requests: dict[int, SentenceRegeneration] = {}
    latest_finished: dict[int, SentenceRegeneration] = {}
    for request in SentenceRegeneration.objects.filter(description_id=description_id).order_by("id"):
        if request.status in SentenceRegeneration.OPEN:
            open_requests[request.sentence_index] = request
        else:  # a superseded one is never the latest: its successor came after it
            latest_finished[request.sentence_index] = request
    failures = {
        index: request.note
        for index, request in latest_finished.items()
        if request.status == R.FAILED and index not in open_requests
    }
    return RegenerationState(open=open_requests, failures=failures)


def sentence_regeneration_pending(*, description_id: int) -> dict[int, SentenceRegeneration]:
    """Sentence index -> its open regeneration request."""
    return sentence_regeneration_state(description_id=description_id).open


def sentence_regenerated_version(*, description_id: int, index: int, page_version: int) -> int | None:
    """The version a page at `page_version` may move to because only the regeneration of this
    sentence changed the description since (None if anything else changed it too)."""
    done = (
        SentenceRegeneration.objects.filter(description_id=description_id, sentence_index=index, status=R.DONE)
        .order_by("-id")
        .values_list("result_version", flat=True)
        .first()
    )
    if done is None or done - 1 != page_version:
        return None
    return done

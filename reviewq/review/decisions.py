"""A reviewer's decisions on whole descriptions: approve (publish), reject, bulk approve."""

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from reviewq.core.audit import AuditAction
from reviewq.core.models import (
    Description,
    DescriptionStatus,
    ErrorCategory,
    Sentence,
    SentenceBand,
    SentenceDecision,
)
from reviewq.core.selectors import description_published_text, descriptions_published_texts
from reviewq.core.transitions import ConflictError, TransitionRequest, description_transition, descriptions_transition
from reviewq.review.claims import claim_free, claim_live, description_review_lock
from reviewq.review.sentences import EditRefused

S = DescriptionStatus


class ReviewIncomplete(Exception):
    """Sentences in the review or flag band still need a decision before publishing."""

    def __init__(self, message: str, *, pending: list[int]):
        super().__init__(message)
        self.pending = pending


def description_pending_sentences(*, description: Description) -> list[int]:
    """Indexes of review/flag sentences nobody has decided yet (they block publishing)."""
    return list(
        description.sentences.filter(decision=SentenceDecision.NONE)
        .exclude(band=SentenceBand.PUBLISH)
        .order_by("index")
        .values_list("index", flat=True)
    )


@transaction.atomic
def description_approve(
    *,
    description: Description,
    reviewer: AbstractBaseUser,
    expected_version: int,
    approve_remaining: bool = False,
) -> Description:
    """Publish a description in review. Every review/flag sentence must be decided first;
    with approve_remaining the reviewer approves the undecided ones in the same step.
    The published text is the current text of the sentences not removed."""
    current = description_review_lock(
        description_id=description.pk, reviewer=reviewer, expected_version=expected_version
    )
    pending = description_pending_sentences(description=current)
    if pending and not approve_remaining:
        raise ReviewIncomplete(
            f"{len(pending)} sentence{'s' if len(pending) != 1 else ''} still need a decision.",
            pending=pending,
        )
    if pending:
        now = timezone.now()
        current.sentences.filter(index__in=pending).update(
            decision=SentenceDecision.APPROVED, decided_by=reviewer, decided_at=now
        )
    text = description_published_text(description=current)
    return description_transition(
        description=current,
        to_status=S.PUBLISHED,
        action=AuditAction.REVIEW_APPROVED,
        actor=reviewer,
        expected_version=current.version,
        note=f"approved {len(pending)} undecided sentences with it" if pending else "",
        fields={"text": text, "review_claimed_by": None, "review_claimed_until": None},
    )


@transaction.atomic
def description_reject(
    *,
    description: Description,
    reviewer: AbstractBaseUser,
    expected_version: int,
    reason: str,
    category: ErrorCategory | None = None,
) -> Description:
    """Reject a description in review; the reason is required and kept on the row, with the
    error category when the reviewer chose one."""
    reason = reason.strip()
    if not reason:
        raise EditRefused("Say why the description is rejected.")
    current = description_review_lock(
        description_id=description.pk, reviewer=reviewer, expected_version=expected_version
    )
    return description_transition(
        description=current,
        to_status=S.REJECTED,
        action=AuditAction.REVIEW_REJECTED,
        actor=reviewer,
        expected_version=current.version,
        note=reason,
        fields={
            "rejection_reason": reason,
            "rejection_category": category,
            "review_claimed_by": None,
            "review_claimed_until": None,
        },
    )


@dataclass(frozen=True, slots=True)
class BulkApproveResult:
    approved: list[int]
    skipped: dict[int, str]  # description id -> why it was left alone


@transaction.atomic
def descriptions_bulk_approve(*, versions: dict[int, int], reviewer: AbstractBaseUser) -> BulkApproveResult:
    """Publish the confident descriptions of a confirmed selection (id -> version the
    reviewer confirmed). A description is confident when no review/flag sentence is left
    undecided; the others, those changed since confirmation and those someone else holds,
    are skipped and reported. The UPDATE repeats the version and claim checks, so a claim
    taken meanwhile (which does not bump the version) still keeps the row out."""
    now = timezone.now()
    rows = {d.pk: d for d in Description.objects.filter(pk__in=versions.keys()).select_related("review_claimed_by")}
    pending_ids = set(
        Sentence.objects.filter(description_id__in=rows.keys(), decision=SentenceDecision.NONE)
        .exclude(band=SentenceBand.PUBLISH)
        .values_list("description_id", flat=True)
    )
    skipped: dict[int, str] = {}
    eligible = []
    for pk, version in versions.items():
        row = rows.get(pk)
        if row is None or row.status != S.REVIEW:
            skipped[pk] = "not in review any more"
        elif row.version != version:
            skipped[pk] = "changed since you selected it"
        elif row.review_claimed_by_id != reviewer.pk and claim_live(
            claimed_by_id=row.review_claimed_by_id, claimed_until=row.review_claimed_until, now=now
        ):
            holder = row.review_claimed_by
            assert holder is not None  # claim_live: a live claim has a holder
            skipped[pk] = f"claimed by {holder.get_username()}"
        elif pk in pending_ids:
            skipped[pk] = "has sentences that still need a decision"
        else:
            eligible.append(pk)
    texts = descriptions_published_texts(description_ids=eligible)
    results = descriptions_transition(
        [
            TransitionRequest(
                description=rows[pk],
                to_status=S.PUBLISHED,
                action=AuditAction.REVIEW_APPROVED,
                expected_version=versions[pk],
                note="bulk approval of confident descriptions",
                fields={"text": texts[pk], "review_claimed_by": None, "review_claimed_until": None},
            )
            for pk in eligible
        ],
        actor=reviewer,
        condition=claim_free(reviewer=reviewer, now=now),
    )
    approved = []
    for pk, result in zip(eligible, results, strict=True):
        if isinstance(result, ConflictError):
            skipped[pk] = "changed or claimed since you selected it"
        else:
            approved.append(pk)
    return BulkApproveResult(approved=sorted(approved), skipped=skipped)

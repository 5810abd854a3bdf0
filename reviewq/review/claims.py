"""Review claims: a reviewer who takes an item (an explicit POST: Open, Next, Take over; never a
page view) holds it for a while; a write checks the claim and the version the reviewer saw."""

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from reviewq.core.audit import AuditAction, audit_actor, audit_record, audit_rows
from reviewq.core.models import Description, DescriptionStatus
from reviewq.core.transitions import ConflictError, InvalidTransition

S = DescriptionStatus

# --- Review actions ------------------------------------------------------------------------
# A reviewer's write bumps Description.version with a conditional UPDATE that matches the
# version the reviewer's page showed, so two reviewers (or two tabs) never overwrite each
# other silently: the loser gets ConflictError carrying the current row. A review claim is a
# lock, not content: taking or renewing it does not bump the version.

REVIEW_CLAIM_DURATION = timedelta(minutes=20)


class ClaimHeld(Exception):
    """Someone else holds the review claim on this description and it has not expired."""

    def __init__(self, message: str, *, holder: AbstractBaseUser | None = None, until: datetime | None = None):
        super().__init__(message)
        self.holder = holder
        self.until = until


# The one rule for "is this review claim still live": someone holds it and it has not run out.
# claim_free (SQL) and claim_live (Python, for rows already read) are its two spellings.


def claim_free(*, now: datetime, reviewer: AbstractBaseUser | None = None) -> Q:
    """Rows nobody holds a live claim on (or, given a reviewer, that the reviewer holds)."""
    free = Q(review_claimed_by__isnull=True) | Q(review_claimed_until__isnull=True) | Q(review_claimed_until__lt=now)
    return free | Q(review_claimed_by=reviewer) if reviewer is not None else free


def claim_held_by(*, reviewer: AbstractBaseUser, now: datetime) -> Q:
    """Rows `reviewer` holds a live claim on."""
    return Q(review_claimed_by=reviewer, review_claimed_until__gte=now)


def claim_live(*, claimed_by_id: int | None, claimed_until: datetime | None, now: datetime) -> bool:
    return claimed_by_id is not None and claimed_until is not None and claimed_until >= now


def _claim_refused(*, pk: int, reviewer: AbstractBaseUser) -> ClaimHeld | InvalidTransition:
    current = Description.objects.select_related("review_claimed_by").get(pk=pk)
    if current.status != S.REVIEW:
        return InvalidTransition(f"This description is {current.get_status_display().lower()}, not in review.")
    holder = current.review_claimed_by
    return ClaimHeld(
        f"{holder.get_username() if holder else 'Another reviewer'} is reviewing this description.",
        holder=holder,
        until=current.review_claimed_until,
    )


def description_review_claim(*, description: Description, reviewer: AbstractBaseUser) -> Description:
    """Claim (or renew the claim on) a description in review for `reviewer`.

    Raises ClaimHeld when another reviewer's claim has not expired, InvalidTransition when the
    description is not in review. Taking a claim is audited; renewing one's own is not."""
    now = timezone.now()
    before = Description.objects.filter(pk=description.pk).values("review_claimed_by", "review_claimed_until").first()
    updated = (
        Description.objects.filter(pk=description.pk, status=S.REVIEW)
        .filter(claim_free(reviewer=reviewer, now=now))
        .update(review_claimed_by=reviewer, review_claimed_until=now + REVIEW_CLAIM_DURATION)
    )
    if not updated:
        raise _claim_refused(pk=description.pk, reviewer=reviewer)
    renewed = (
        before is not None
        and before["review_claimed_by"] == reviewer.pk
        and claim_live(claimed_by_id=reviewer.pk, claimed_until=before["review_claimed_until"], now=now)
    )
    if not renewed:
        audit_record(
            action=AuditAction.REVIEW_CLAIMED,
            actor=reviewer,
            description=description,
            before={"claimed_by": before["review_claimed_by"] if before else None},
            after={"claimed_by": reviewer.pk, "until": (now + REVIEW_CLAIM_DURATION).isoformat()},
        )
    description.refresh_from_db()
    return description


CLAIM_TAKE_OVER_PERMISSION = "reviewq.publish_revision"


@transaction.atomic
def description_review_take_over(*, description: Description, reviewer: AbstractBaseUser) -> Description:
    """An admin takes the review claim someone else holds (a stale tab, a reviewer gone home):
    one conditional UPDATE that matches the holder the admin saw, audited with who held it."""
    user = audit_actor(reviewer)  # the user model, which has permissions
    if user is None or not user.has_perm(CLAIM_TAKE_OVER_PERMISSION):
        raise InvalidTransition("Only an admin can take over another reviewer's claim.")
    now = timezone.now()
    holder_id = description.review_claimed_by_id
    updated = Description.objects.filter(pk=description.pk, status=S.REVIEW, review_claimed_by_id=holder_id).update(
        review_claimed_by=reviewer, review_claimed_until=now + REVIEW_CLAIM_DURATION
    )
    if not updated:
        raise _claim_refused(pk=description.pk, reviewer=reviewer)
    audit_record(
        action=AuditAction.REVIEW_CLAIM_TAKEN_OVER,
        actor=reviewer,
        description=description,
        before={"claimed_by": holder_id},
        after={"claimed_by": reviewer.pk, "until": (now + REVIEW_CLAIM_DURATION).isoformat()},
    )
    description.refresh_from_db()
    return description


def descriptions_review_release(*, description_ids: Iterable[int], reviewer: AbstractBaseUser) -> list[int]:
    """Release review claims; returns the ids released. A reviewer releases their own claims;
    someone with reviewq.change_description (the admin role) releases anyone's."""
    ids = list(description_ids)
    rows = Description.objects.filter(pk__in=ids, review_claimed_by__isnull=False)
    user = audit_actor(reviewer)  # the user model, which has permissions
    if user is None or not user.has_perm("reviewq.change_description"):
        rows = rows.filter(review_claimed_by=user)
    held = list(rows.values_list("id", "review_claimed_by"))
    with transaction.atomic():
        Description.objects.filter(pk__in=[pk for pk, _ in held]).update(
            review_claimed_by=None, review_claimed_until=None
        )
        audit_rows(
            action=AuditAction.REVIEW_RELEASED,
            actor=reviewer,
            rows=[
                {"description_id": pk, "before": {"claimed_by": holder}, "after": {"claimed_by": None}}
                for pk, holder in held
            ],
        )
    return sorted(pk for pk, _ in held)


def description_review_release(*, description: Description, reviewer: AbstractBaseUser) -> bool:
    return bool(descriptions_review_release(description_ids=[description.pk], reviewer=reviewer))


def description_review_next(
    *,
    reviewer: AbstractBaseUser,
    candidates: Iterable[int],
    release: Description | None = None,
) -> Description | None:
    """Claim the first of `candidates` (description ids, riskiest first, from
    selectors.queue_next_candidates) that nobody else holds; release `release` first if the
    reviewer holds it. Returns None when every candidate was taken meanwhile."""
    if release is not None:
        description_review_release(description=release, reviewer=reviewer)
    for pk in candidates:
        if release is not None and pk == release.pk:
            continue
        try:
            return description_review_claim(description=Description(pk=pk), reviewer=reviewer)
        except (ClaimHeld, InvalidTransition):
            continue  # another reviewer won it, or it left review: try the next one
    return None


def description_review_lock(*, description_id: int, reviewer: AbstractBaseUser, expected_version: int) -> Description:
    """Bump the version of a description in review if it still has `expected_version` and no
    one else holds its claim; renew the reviewer's claim. Raises ConflictError (stale version,
    with the current row), ClaimHeld or InvalidTransition and changes nothing otherwise."""
    now = timezone.now()
    updated = (
        Description.objects.filter(pk=description_id, status=S.REVIEW, version=expected_version)
        .filter(claim_free(reviewer=reviewer, now=now))
        .update(
            version=F("version") + 1,
            updated_at=now,
            review_claimed_by=reviewer,
            review_claimed_until=now + REVIEW_CLAIM_DURATION,
        )
    )
    current = Description.objects.select_related("review_claimed_by").get(pk=description_id)
    if updated:
        return current
    if current.version != expected_version:
        raise ConflictError(
            "Someone changed this description since you opened it; nothing was saved. "
            "The newer version is shown below.",
            current=current,
        )
    raise _claim_refused(pk=description_id, reviewer=reviewer)

"""Assignment: editors and admins hand queue items to reviewers. "Assigned to me" and Next
read it (reviewq/review/queue.py). With k reviewers per item (calibration rounds) each of them
sees the item as theirs; claims stay one at a time and the first decision takes the item out
of review for everyone, so k > 1 shows who was meant to look, it is not a parallel review."""

from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from reviewq.core.audit import AuditAction, audit_actor, audit_rows
from reviewq.core.models import Assignment, Description, DescriptionStatus
from reviewq.core.roles import ROLES

# Items one assignment may cover (a filter or a whole catalog): bounds the INSERT and the
# audit rows written in one transaction.
ASSIGN_MAX_ITEMS = 5000
PER_ITEM_MAX = 5


class TooManyItems(ValueError):
    """The scope holds more queue items than one assignment may cover."""


@dataclass(frozen=True, slots=True)
class AssignResult:
    items: int  # descriptions in the scope
    created: int  # new (description, reviewer) rows; existing ones are kept as they are


def assignable_reviewers() -> QuerySet:
    """Active users with a role (every role may review), by username."""
    return get_user_model().objects.filter(is_active=True, groups__name__in=ROLES).distinct().order_by("username")


def assignment_scope(*, description_ids: Sequence[int] | None = None, rows: QuerySet | None = None) -> QuerySet:
    """The descriptions in review among `description_ids` or `rows`, riskiest first (so a
    round-robin spreads the riskiest items evenly)."""
    scope = Description.objects.filter(status=DescriptionStatus.REVIEW)
    if description_ids is not None:
        scope = scope.filter(pk__in=description_ids)
    if rows is not None:
        scope = scope.filter(pk__in=rows.values("pk"))
    return scope


def round_robin(*, description_ids: Sequence[int], reviewer_ids: Sequence[int], per_item: int) -> list[tuple[int, int]]:
    """(description, reviewer) pairs: item n gets the per_item reviewers that follow item n-1's
    in the rotation, so each item has per_item distinct reviewers and loads differ by at most one."""
    if not 1 <= per_item <= len(reviewer_ids):
        raise ValueError(f"per_item must be between 1 and the {len(reviewer_ids)} reviewer(s) chosen")
    count = len(reviewer_ids)
    return [
        (pk, reviewer_ids[(n * per_item + slot) % count])
        for n, pk in enumerate(description_ids)
        for slot in range(per_item)
    ]


@transaction.atomic
def descriptions_assign(
    *, scope: QuerySet, reviewers: Sequence[AbstractBaseUser], per_item: int = 1, assigned_by: AbstractBaseUser
) -> AssignResult:
    """Assign every description of `scope` (from assignment_scope) to `per_item` of `reviewers`,
    round-robin. Pairs that already exist are kept; one audit row per description that gained
    an assignee. Raises TooManyItems (nothing written) past ASSIGN_MAX_ITEMS."""
    ids = list(scope.order_by("-risk", "-id").values_list("pk", flat=True)[: ASSIGN_MAX_ITEMS + 1])
    if len(ids) > ASSIGN_MAX_ITEMS:
        raise TooManyItems(f"More than {ASSIGN_MAX_ITEMS} items: narrow the filter first.")
    pairs = round_robin(description_ids=ids, reviewer_ids=[r.pk for r in reviewers], per_item=per_item)
    existing = set(
        Assignment.objects.filter(description_id__in=ids, reviewer_id__in=[r.pk for r in reviewers]).values_list(
            "description_id", "reviewer_id"
        )
    )
    new = [pair for pair in pairs if pair not in existing]
    now = timezone.now()
    actor = audit_actor(assigned_by)
    # ignore_conflicts: a concurrent assignment of the same pair is not an error.
    Assignment.objects.bulk_create(
        [Assignment(description_id=d, reviewer_id=r, assigned_by=actor, assigned_at=now) for d, r in new],
        batch_size=1000,
        ignore_conflicts=True,
    )
    names = dict(get_user_model().objects.filter(pk__in={r for _, r in new}).values_list("pk", "username"))
    gained: dict[int, list[str]] = {}
    for description_id, reviewer_id in new:
        gained.setdefault(description_id, []).append(names[reviewer_id])
    audit_rows(
        action=AuditAction.REVIEW_ASSIGNED,
        actor=assigned_by,
        rows=({"description_id": d, "after": {"assigned": users}} for d, users in gained.items()),
        created_at=now,
    )
    return AssignResult(items=len(ids), created=len(new))


@transaction.atomic
def descriptions_unassign(
    *, scope: QuerySet, reviewers: Sequence[AbstractBaseUser] = (), unassigned_by: AbstractBaseUser
) -> int:
    """Remove the assignments of the descriptions of `scope` (to `reviewers` only, when given).
    One audit row per description that lost an assignee; returns how many assignments went."""
    rows = Assignment.objects.filter(description__in=scope.values("pk"))
    if reviewers:
        rows = rows.filter(reviewer_id__in=[r.pk for r in reviewers])
    lost: dict[int, list[str]] = {}
    for description_id, username in rows.values_list("description_id", "reviewer__username"):
        lost.setdefault(description_id, []).append(username)
    deleted, _ = rows.delete()
    audit_rows(
        action=AuditAction.REVIEW_UNASSIGNED,
        actor=unassigned_by,
        rows=({"description_id": d, "before": {"assigned": users}} for d, users in lost.items()),
    )
    return deleted


def description_assignees(*, description_ids: Sequence[int]) -> dict[int, list[str]]:
    """Usernames assigned to each of `description_ids` (one query, for a queue page)."""
    assignees: dict[int, list[str]] = {}
    rows = Assignment.objects.filter(description_id__in=description_ids).order_by("reviewer__username")
    for description_id, username in rows.values_list("description_id", "reviewer__username"):
        assignees.setdefault(description_id, []).append(username)
    return assignees

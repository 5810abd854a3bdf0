"""Writes to reviewq's data. Every status change goes through `description_transition` (or a
set-based sibling here), which refuses an illegal source state and writes an AuditEvent."""

from collections.abc import Iterable
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from .models import AuditEvent, Description, DescriptionStatus, Product

S = DescriptionStatus

# from-status -> statuses it may move to. Anything else is refused.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.QUEUED: frozenset({S.GENERATING}),
    S.GENERATING: frozenset({S.QUEUED, S.REVIEW, S.PUBLISHED, S.FAILED}),
    S.REVIEW: frozenset({S.PUBLISHED, S.REJECTED, S.QUEUED}),
    S.PUBLISHED: frozenset({S.REVIEW, S.QUEUED}),
    S.REJECTED: frozenset({S.QUEUED}),
    S.FAILED: frozenset({S.QUEUED}),
}


class InvalidTransition(Exception):
    """The description's status does not allow the requested change."""


class ConflictError(Exception):
    """The row changed since the caller read it (stale version or status)."""

    def __init__(self, message: str, *, current: Description | None = None):
        super().__init__(message)
        self.current = current


def transition_allowed(from_status: str, to_status: str) -> bool:
    return to_status in TRANSITIONS.get(from_status, frozenset())


def audit_record(
    *,
    action: str,
    actor: AbstractBaseUser | None = None,
    description: Description | None = None,
    sentence_index: int | None = None,
    catalog=None,
    before: dict | None = None,
    after: dict | None = None,
    note: str = "",
) -> AuditEvent:
    return AuditEvent.objects.create(
        action=action,
        actor=actor if actor is not None and actor.is_authenticated else None,
        description=description,
        sentence_index=sentence_index,
        catalog=catalog,
        before=before or {},
        after=after or {},
        note=note,
    )


@transaction.atomic
def description_transition(
    *,
    description: Description,
    to_status: str,
    action: str,
    actor: AbstractBaseUser | None = None,
    expected_version: int | None = None,
    note: str = "",
    fields: dict | None = None,
) -> Description:
    """Move `description` to `to_status` with a conditional UPDATE.

    The UPDATE matches the status (and version, when given) the caller saw, so a concurrent
    change makes it match nothing and raises ConflictError instead of overwriting.
    """
    from_status = description.status
    if not transition_allowed(from_status, to_status):
        raise InvalidTransition(f"A {from_status} description cannot become {to_status}.")
    fields = dict(fields or {})
    now = timezone.now()
    if to_status == S.PUBLISHED:
        fields.setdefault("published_at", now)
    if to_status in (S.QUEUED, S.REVIEW, S.REJECTED):
        fields.setdefault("published_at", None)
    if to_status != S.GENERATING:
        fields.setdefault("lease_until", None)
    match = Q(pk=description.pk, status=from_status)
    if expected_version is not None:
        match &= Q(version=expected_version)
    updated = Description.objects.filter(match).update(
        status=to_status, version=F("version") + 1, updated_at=now, **fields
    )
    if not updated:
        current = Description.objects.filter(pk=description.pk).first()
        raise ConflictError(
            "This description was changed by someone else; reload to see the newer version.",
            current=current,
        )
    audit_record(
        action=action,
        actor=actor,
        description=description,
        before={"status": from_status, "version": description.version},
        after={"status": to_status, **_jsonable(fields)},
        note=note,
    )
    description.refresh_from_db()
    return description


def _jsonable(fields: dict) -> dict:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in fields.items()}


@transaction.atomic
def descriptions_queue(
    *,
    products: Iterable[Product] | None = None,
    product_ids: Iterable[int] | None = None,
    actor: AbstractBaseUser | None = None,
    only_missing: bool = False,
    only_failed: bool = False,
) -> list[int]:
    """Queue generation for products, set-based; returns the product ids that were queued.

    Products without a description get a QUEUED one; FAILED ones are re-queued (unless
    only_missing); with neither flag, REVIEW/PUBLISHED/REJECTED ones are re-queued too
    (regenerate). QUEUED and GENERATING ones are left alone, so two runs on one catalog do
    not duplicate work.
    """
    ids = set(product_ids or ()) | {p.pk for p in (products or ())}
    if not ids:
        return []
    existing = dict(Description.objects.filter(product_id__in=ids).values_list("product_id", "status"))
    missing = [] if only_failed else sorted(ids - existing.keys())
    if only_missing:
        requeue_from = []
    elif only_failed:
        requeue_from = [S.FAILED]
    else:
        requeue_from = [S.FAILED, S.REVIEW, S.PUBLISHED, S.REJECTED]
    now = timezone.now()
    Description.objects.bulk_create(
        [Description(product_id=pid, status=S.QUEUED) for pid in missing], ignore_conflicts=True
    )
    requeue = [
        (pid, status) for pid, status in existing.items() if status in requeue_from
    ]
    requeued_ids = []
    for status in {status for _, status in requeue}:
        pids = [pid for pid, s in requeue if s == status]
        Description.objects.filter(product_id__in=pids, status=status).update(
            status=S.QUEUED, version=F("version") + 1, updated_at=now, published_at=None,
            lease_until=None, attempts=0,
        )
        requeued_ids.extend(pids)
    rows = Description.objects.filter(product_id__in=[*missing, *requeued_ids]).values_list(
        "id", "product_id", "status"
    )
    before = {pid: status for pid, status in requeue}
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                action="generation_queued",
                actor=actor if actor is not None and actor.is_authenticated else None,
                description_id=did,
                before={"status": before.get(pid, "")},
                after={"status": S.QUEUED},
            )
            for did, pid, status in rows
            if status == S.QUEUED
        ]
    )
    return sorted({pid for _, pid, status in rows if status == S.QUEUED})


def description_claim_for_generation(*, product_id: int, lease_seconds: int) -> Description | None:
    """Claim a product's QUEUED description (or a GENERATING one whose lease ran out, left by a
    worker that died) with one conditional UPDATE. Returns None when there is nothing to do,
    which is what a redelivered or duplicate message sees."""
    now = timezone.now()
    claimable = Q(status=S.QUEUED) | Q(status=S.GENERATING, lease_until__lt=now)
    row = Description.objects.filter(product_id=product_id).filter(claimable).values("id", "status").first()
    if row is None:
        return None
    updated = Description.objects.filter(claimable, pk=row["id"]).update(
        status=S.GENERATING,
        lease_until=now + timedelta(seconds=lease_seconds),
        attempts=F("attempts") + 1,
        version=F("version") + 1,
        updated_at=now,
    )
    if not updated:
        return None  # another worker won the race
    description = Description.objects.select_related("product__catalog").get(pk=row["id"])
    audit_record(
        action="generation_claimed",
        description=description,
        before={"status": row["status"]},
        after={"status": S.GENERATING, "attempt": description.attempts},
    )
    return description

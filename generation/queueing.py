"""Queue generation work: descriptions become QUEUED (set-based) and workers claim them."""

from collections.abc import Iterable
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from generation.dispatch import descriptions_enqueue
from reviewq.core.audit import audit_actor, audit_record
from reviewq.core.models import (
    DRAFT_STATUSES,
    AuditEvent,
    Catalog,
    Description,
    DescriptionStatus,
    Product,
)

S = DescriptionStatus


@transaction.atomic
def descriptions_queue(
    *,
    products: Iterable[Product] | None = None,
    product_ids: Iterable[int] | None = None,
    actor: AbstractBaseUser | None = None,
    only_missing: bool = False,
    only_failed: bool = False,
    run=None,
) -> list[int]:
    """Queue generation for products, set-based; returns the product ids that were queued.

    Generation always writes the product's working draft, never its live (PUBLISHED) revision:
    a product without a draft gets a new QUEUED one beside its live copy; an existing draft is
    re-queued (remembering its status, which cancelling the run restores). only_missing queues
    products with neither a live copy nor a draft (and cancelled drafts of products without a
    live copy); only_failed re-queues FAILED and CANCELLED drafts. QUEUED and GENERATING drafts are left
    alone, so two runs on one catalog do not duplicate work. Rows it queues point at `run`.
    """
    ids = set(product_ids or ()) | {p.pk for p in (products or ())}
    if not ids:
        return []
    existing = dict(
        Description.objects.filter(product_id__in=ids, status__in=DRAFT_STATUSES).values_list("product_id", "status")
    )
    live = set(Description.objects.filter(product_id__in=ids, status=S.PUBLISHED).values_list("product_id", flat=True))
    if only_failed:
        missing, requeue_from = [], [S.FAILED, S.CANCELLED]
    elif only_missing:
        missing, requeue_from = sorted(ids - existing.keys() - live), [S.CANCELLED]
        existing = {pid: status for pid, status in existing.items() if pid not in live}
    else:
        missing, requeue_from = sorted(ids - existing.keys()), [S.FAILED, S.REVIEW, S.REJECTED, S.CANCELLED]
    now = timezone.now()
    Description.objects.bulk_create(
        [Description(product_id=pid, status=S.QUEUED, run=run) for pid in missing], ignore_conflicts=True
    )
    requeue = [(pid, status) for pid, status in existing.items() if status in requeue_from]
    requeued_ids = []
    for status in {status for _, status in requeue}:
        pids = [pid for pid, s in requeue if s == status]
        Description.objects.filter(product_id__in=pids, status=status).update(
            status=S.QUEUED,
            version=F("version") + 1,
            updated_at=now,
            published_at=None,
            lease_until=None,
            attempts=0,
            run=run,
            queued_from=F("status"),  # the value before this UPDATE
        )
        requeued_ids.extend(pids)
    rows = Description.objects.filter(product_id__in=[*missing, *requeued_ids], status=S.QUEUED).values_list(
        "id", "product_id", "status"
    )
    before = dict(requeue)
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                action="generation_queued",
                actor=audit_actor(actor),
                description_id=did,
                before={"status": before.get(pid, "")},
                after={"status": S.QUEUED},
            )
            for did, pid, status in rows
            if status == S.QUEUED
        ]
    )
    return sorted({pid for _, pid, status in rows if status == S.QUEUED})


@transaction.atomic
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


@transaction.atomic
def generation_queue(
    *,
    product_ids: Iterable[int],
    actor: AbstractBaseUser | None = None,
    only_missing: bool = False,
    only_failed: bool = False,
    run=None,
) -> list[int]:
    """Queue generation (descriptions_queue) and send one task per queued product after commit:
    the one place where work is queued for the workers. Returns the queued product ids."""
    queued = descriptions_queue(
        product_ids=product_ids, actor=actor, only_missing=only_missing, only_failed=only_failed, run=run
    )
    descriptions_enqueue(product_ids=queued)
    return queued


def catalog_generate(
    *, catalog: Catalog, actor=None, only_missing: bool = False, only_failed: bool = False, run=None
) -> list[int]:
    """Queue generation for a catalog's products. With `run` (a GenerationRun) the queued rows
    use its provider, model, template and candidates."""
    product_ids = list(Product.objects.filter(catalog=catalog).values_list("id", flat=True))
    return generation_queue(
        product_ids=product_ids, actor=actor, only_missing=only_missing, only_failed=only_failed, run=run
    )


def product_generate(*, product: Product, actor=None) -> bool:
    """Queue (re)generation of one product; False when it is already queued or generating."""
    return bool(generation_queue(product_ids=[product.pk], actor=actor))

"""Queue generation work: descriptions become QUEUED (set-based) and workers claim them."""

from collections.abc import Iterable
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from generation.dispatch import descriptions_enqueue
from reviewq.core.audit import AuditAction
from reviewq.core.models import DRAFT_STATUSES, Catalog, Description, DescriptionStatus, GenerationRun, Product
from reviewq.core.transitions import descriptions_create_queued, descriptions_transition_where

S = DescriptionStatus


@transaction.atomic
def descriptions_queue(
    *,
    products: Iterable[Product] | None = None,
    product_ids: Iterable[int] | None = None,
    actor: AbstractBaseUser | None = None,
    only_missing: bool = False,
    only_failed: bool = False,
    run: GenerationRun | None = None,
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
    created = descriptions_create_queued(product_ids=missing, run=run, actor=actor)
    requeued = descriptions_transition_where(
        # Drafts only: requeue_from never holds PUBLISHED or ARCHIVED, and `existing` is drafts.
        descriptions=Description.objects.filter(product_id__in=list(existing)),
        from_statuses=requeue_from,
        to_status=S.QUEUED,
        action=AuditAction.GENERATION_QUEUED,
        actor=actor,
        fields={"attempts": 0, "run": run, "queued_from": F("status")},  # the status before this UPDATE
    )
    requeued_products = Description.objects.filter(pk__in=requeued).values_list("product_id", flat=True)
    return sorted({*created, *requeued_products})


def description_claim_for_generation(*, product_id: int, lease_seconds: int) -> Description | None:
    """Claim a product's QUEUED description (or a GENERATING one whose lease ran out, left by a
    worker that died) with one conditional UPDATE. Returns None when there is nothing to do,
    which is what a redelivered or duplicate message sees."""
    claimed = descriptions_claim_for_generation(product_ids=[product_id], lease_seconds=lease_seconds)
    return claimed[0] if claimed else None  # none: nothing to do, or another worker won the race


@transaction.atomic
def descriptions_claim_for_generation(
    *, product_ids: Iterable[int], lease_seconds: int, condition: Q | None = None
) -> list[Description]:
    """Claim, set-based, the QUEUED descriptions of the products (and GENERATING ones whose lease
    ran out) that meet `condition`: one conditional UPDATE per source status, so each row keeps
    its own lease and attempts, and a redelivered chunk claims only what is still claimable.
    Returns the claimed rows (product, catalog and run loaded), by id."""
    now = timezone.now()
    claimable = Q(status=S.QUEUED) | Q(lease_until__lt=now)  # GENERATING: its worker died
    claimed = descriptions_transition_where(
        descriptions=Description.objects.filter(product_id__in=list(product_ids)),
        from_statuses=[S.QUEUED, S.GENERATING],
        to_status=S.GENERATING,
        condition=claimable & condition if condition is not None else claimable,
        action=AuditAction.GENERATION_CLAIMED,
        fields={"lease_until": now + timedelta(seconds=lease_seconds), "attempts": F("attempts") + 1},
    )
    if not claimed:
        return []
    return list(Description.objects.select_related("product__catalog", "run").filter(pk__in=claimed).order_by("pk"))


@transaction.atomic
def generation_queue(
    *,
    product_ids: Iterable[int],
    actor: AbstractBaseUser | None = None,
    only_missing: bool = False,
    only_failed: bool = False,
    run: GenerationRun | None = None,
) -> list[int]:
    """Queue generation (descriptions_queue) and send one task per queued product after commit:
    the one place where work is queued for the workers. Returns the queued product ids."""
    queued = descriptions_queue(
        product_ids=product_ids, actor=actor, only_missing=only_missing, only_failed=only_failed, run=run
    )
    descriptions_enqueue(product_ids=queued)
    return queued


def catalog_generate(
    *,
    catalog: Catalog,
    actor: AbstractBaseUser | None = None,
    only_missing: bool = False,
    only_failed: bool = False,
    run: GenerationRun | None = None,
) -> list[int]:
    """Queue generation for a catalog's products. With `run` (a GenerationRun) the queued rows
    use its provider, model, template and candidates."""
    product_ids = list(Product.objects.filter(catalog=catalog).values_list("id", flat=True))
    return generation_queue(
        product_ids=product_ids, actor=actor, only_missing=only_missing, only_failed=only_failed, run=run
    )


def product_generate(*, product: Product, actor: AbstractBaseUser | None = None) -> bool:
    """Queue (re)generation of one product; False when it is already queued or generating."""
    return bool(generation_queue(product_ids=[product.pk], actor=actor))

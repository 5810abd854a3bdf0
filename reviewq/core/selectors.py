"""Reads shared by every page: catalogs with their counts."""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q, Subquery

from reviewq.core.models import (
    DRAFT_STATUSES,
    Catalog,
    Description,
    DescriptionStatus,
    GenerationRun,
    Product,
    Sentence,
    SentenceDecision,
)


@dataclass(frozen=True, slots=True)
class StatusCount:
    status: str
    label: str
    count: int


@dataclass(frozen=True, slots=True)
class CatalogOverview:
    catalog: Catalog
    product_count: int
    not_generated: int  # products without any revision yet
    status_counts: tuple[StatusCount, ...]  # one per current DescriptionStatus (not archived), in order
    running: bool  # a generation run of this catalog is running

    @property
    def published(self) -> int:
        return next(c.count for c in self.status_counts if c.status == DescriptionStatus.PUBLISHED)


def catalog_overview_list(*, catalog_id: int | None = None) -> list[CatalogOverview]:
    """Every catalog (or the one given) with its product count, description counts per status
    and whether a run is running, in one query: the dashboard and the catalog pages read it."""
    status_annotations = {
        f"n_{status}": Count("products__descriptions", filter=Q(products__descriptions__status=status))
        for status in DescriptionStatus.values
    }
    catalogs = Catalog.objects.all() if catalog_id is None else Catalog.objects.filter(pk=catalog_id)
    # A product has many revisions: products are counted distinct; each revision row once.
    catalogs = catalogs.annotate(
        product_count=Count("products", distinct=True),
        not_generated=Count("products", filter=Q(products__descriptions__isnull=True)),
        running=Exists(GenerationRun.objects.filter(catalog=OuterRef("pk"), status=GenerationRun.Status.RUNNING)),
        **status_annotations,
    ).order_by("name")
    return [
        CatalogOverview(
            catalog=catalog,
            product_count=catalog.product_count,
            not_generated=catalog.not_generated,
            status_counts=tuple(
                StatusCount(status=status, label=label, count=getattr(catalog, f"n_{status}"))
                for status, label in DescriptionStatus.choices
                if status != DescriptionStatus.ARCHIVED
            ),
            running=catalog.running,
        )
        for catalog in catalogs
    ]


def published_text(sentences: Iterable[Sentence]) -> str:
    """The one rule for the text a description publishes: the current text (the reviewer's
    edit, else the generated text) of every sentence not removed, in the order given."""
    return "".join(s.current_text for s in sentences if s.decision != SentenceDecision.REJECTED).strip()


def description_published_text(*, description: Description) -> str:
    return published_text(description.sentences.order_by("index"))


def descriptions_published_texts(*, description_ids: Iterable[int]) -> dict[int, str]:
    """published_text of many descriptions, from one query."""
    ids = list(description_ids)
    by_description: dict[int, list[Sentence]] = {pk: [] for pk in ids}
    for sentence in (
        Sentence.objects.filter(description_id__in=ids)
        .order_by("description_id", "index")
        .only("description_id", "index", "text", "edited_text", "decision")
    ):
        by_description[sentence.description_id].append(sentence)
    return {pk: published_text(sentences) for pk, sentences in by_description.items()}


CATALOG_PRODUCTS_SHOWN = 100


@dataclass(frozen=True, slots=True)
class CatalogProduct:
    product: Product
    live_id: int | None  # the published revision, what exports and the API serve
    draft_id: int | None  # the working draft (queued ... cancelled), if any
    draft_status: str
    draft_status_label: str


def catalog_products(*, catalog_id: int, limit: int = CATALOG_PRODUCTS_SHOWN) -> list[CatalogProduct]:
    """The catalog's first `limit` products by SKU, each with its live revision and draft (two
    index lookups per product through the partial unique indexes, in one query)."""
    revisions = Description.objects.filter(product=OuterRef("pk"))
    drafts = revisions.filter(status__in=DRAFT_STATUSES)
    rows = (
        Product.objects.filter(catalog_id=catalog_id)
        .annotate(
            live_id=Subquery(revisions.filter(status=DescriptionStatus.PUBLISHED).values("pk")[:1]),
            draft_id=Subquery(drafts.values("pk")[:1]),
            draft_status=Subquery(drafts.values("status")[:1]),
        )
        .order_by("sku", "pk")[:limit]
    )
    labels = dict(DescriptionStatus.choices)
    return [
        CatalogProduct(
            product=row,
            live_id=row.live_id,
            draft_id=row.draft_id,
            draft_status=row.draft_status or "",
            draft_status_label=labels.get(row.draft_status, "") if row.draft_status else "",
        )
        for row in rows
    ]

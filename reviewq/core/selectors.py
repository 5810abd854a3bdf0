"""Reads shared by every page: catalogs with their counts."""

from dataclasses import dataclass

from django.db.models import Count, Q

from reviewq.core.models import Catalog, Description, DescriptionStatus, SentenceDecision


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


def catalog_overview_list() -> list[CatalogOverview]:
    """Every catalog with its product count and description counts per status (one query)."""
    status_annotations = {
        f"n_{status}": Count("products__descriptions", filter=Q(products__descriptions__status=status))
        for status in DescriptionStatus.values
    }
    # A product has many revisions: products are counted distinct; each revision row once.
    catalogs = Catalog.objects.annotate(
        product_count=Count("products", distinct=True),
        not_generated=Count("products", filter=Q(products__descriptions__isnull=True)),
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
        )
        for catalog in catalogs
    ]


def description_published_text(*, description: Description) -> str:
    """The current text of every sentence not removed, in order."""
    sentences = description.sentences.exclude(decision=SentenceDecision.REJECTED).order_by("index")
    return "".join(s.current_text for s in sentences).strip()

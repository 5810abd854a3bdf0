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
    not_generated: int  # products without a description yet
    status_counts: tuple[StatusCount, ...]  # one per DescriptionStatus, in declaration order


def catalog_overview_list() -> list[CatalogOverview]:
    """Every catalog with its product count and description counts per status (one query)."""
    status_annotations = {
        f"n_{status}": Count("products__description", filter=Q(products__description__status=status))
        for status in DescriptionStatus.values
    }
    # One description per product (OneToOne), so the product/description join never fans out.
    catalogs = Catalog.objects.annotate(
        product_count=Count("products"),
        description_count=Count("products__description"),
        **status_annotations,
    ).order_by("name")
    return [
        CatalogOverview(
            catalog=catalog,
            product_count=catalog.product_count,
            not_generated=catalog.product_count - catalog.description_count,
            status_counts=tuple(
                StatusCount(status=status, label=label, count=getattr(catalog, f"n_{status}"))
                for status, label in DescriptionStatus.choices
            ),
        )
        for catalog in catalogs
    ]


def description_published_text(*, description: Description) -> str:
    """The current text of every sentence not removed, in order."""
    sentences = description.sentences.exclude(decision=SentenceDecision.REJECTED).order_by("index")
    return "".join(s.current_text for s in sentences).strip()

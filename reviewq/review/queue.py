"""The review queue: what awaits review, riskiest first; counts, next item, neighbours."""

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import urlencode

from django.core.cache import cache
from django.db.models import Case, Count, Exists, F, Max, OuterRef, Q, Subquery, TextField, Value, When
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from reviewq.core.models import (
    Catalog,
    Description,
    DescriptionStatus,
    Sentence,
    SentenceBand,
    SentenceDecision,
)
from reviewq.review.claims import claim_free, claim_held_by, claim_live

# --- Review queue ------------------------------------------------------------------------
# The queue is the descriptions in review, riskiest first. Unknown risk (no logprobs) sorts
# first: a sentence nobody could score is the riskiest of all. Pages use keyset pagination on
# (risk, id) so page 2,000 costs what page 1 costs, served by the (status, risk) index.

QUEUE_PAGE_SIZE = 50
BAND_RANK = {SentenceBand.FLAG: 2, SentenceBand.REVIEW: 1, SentenceBand.PUBLISH: 0}


@dataclass(frozen=True, slots=True)
class QueueFilters:
    catalog_id: int | None = None
    band: str = ""  # worst undecided band: "flag", "review" or "publish" (confident)
    reason: str = ""  # substring of a flagged reason
    mine: bool = False  # only what the reviewer holds
    run_id: int | None = None  # only drafts a generation run wrote

    def querystring(self) -> str:
        params = {
            "catalog": self.catalog_id or "",
            "band": self.band,
            "reason": self.reason,
            "mine": "1" if self.mine else "",
            "run": self.run_id or "",
        }
        return urlencode({k: v for k, v in params.items() if v})


@dataclass(frozen=True, slots=True)
class QueueCursor:
    risk: float | None
    id: int

    def __str__(self) -> str:
        return f"{'' if self.risk is None else repr(self.risk)}:{self.id}"

    @classmethod
    def parse(cls, value: str) -> "QueueCursor | None":
        risk, sep, pk = (value or "").partition(":")
        try:
            return cls(risk=float(risk) if risk else None, id=int(pk)) if sep else None
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class QueueItem:
    id: int
    version: int
    risk: float | None
    product_name: str
    sku: str
    catalog_name: str
    claimed_by: str  # username, "" when free
    claimed_until: datetime | None
    claim_mine: bool
    worst_band: str
    flag_count: int
    review_count: int
    updated_at: datetime

    @property
    def cursor(self) -> QueueCursor:
        return QueueCursor(risk=self.risk, id=self.id)


@dataclass(frozen=True, slots=True)
class QueuePage:
    items: list[QueueItem]
    next_cursor: QueueCursor | None
    is_first: bool


def _pending(band: str):
    return Sentence.objects.filter(description=OuterRef("pk"), decision=SentenceDecision.NONE, band=band)


def _queue_base(*, user, filters: QueueFilters):
    rows = Description.objects.filter(status=DescriptionStatus.REVIEW)
    if filters.catalog_id:
        rows = rows.filter(product__catalog_id=filters.catalog_id)
    if filters.run_id:
        rows = rows.filter(run_id=filters.run_id)
    if filters.mine:
        rows = rows.filter(claim_held_by(reviewer=user, now=timezone.now()))
    flag, review = _pending(SentenceBand.FLAG), _pending(SentenceBand.REVIEW)
    if filters.band == SentenceBand.FLAG:
        rows = rows.filter(Exists(flag))
    elif filters.band == SentenceBand.REVIEW:
        rows = rows.filter(Exists(review), ~Exists(flag))
    elif filters.band == SentenceBand.PUBLISH:
        rows = rows.filter(~Exists(review), ~Exists(flag))
    if filters.reason:
        rows = rows.filter(
            Exists(
                Sentence.objects.annotate(reasons_text=Cast("reasons", TextField())).filter(
                    description=OuterRef("pk"),
                    decision=SentenceDecision.NONE,
                    reasons_text__icontains=filters.reason,
                )
            )
        )
    return rows


QUEUE_ORDER = (F("risk").desc(nulls_first=True), F("id").desc())


def _after(cursor: QueueCursor) -> Q:
    """Rows strictly after `cursor` in QUEUE_ORDER. The redundant `risk <= x` bound lets the
    (status, risk) index do a range scan instead of filtering the whole queue."""
    if cursor.risk is None:
        return Q(risk__isnull=True, id__lt=cursor.id) | Q(risk__isnull=False)
    return Q(risk__lte=cursor.risk) & (Q(risk__lt=cursor.risk) | Q(risk=cursor.risk, id__lt=cursor.id))


def _queue_items(rows, *, user, limit: int) -> list[QueueItem]:
    """Up to `limit` rows of an ordered description queryset as QueueItems (one query)."""
    pending = Sentence.objects.filter(description=OuterRef("pk"), decision=SentenceDecision.NONE)

    def pending_count(band: str):
        counted = pending.filter(band=band).values("description").annotate(n=Count("pk")).values("n")
        return Coalesce(Subquery(counted), 0)

    values = rows.annotate(
        flag_count=pending_count(SentenceBand.FLAG), review_count=pending_count(SentenceBand.REVIEW)
    ).values(
        "id",
        "version",
        "risk",
        "updated_at",
        "product__name",
        "product__sku",
        "product__catalog__name",
        "review_claimed_by",
        "review_claimed_by__username",
        "review_claimed_until",
        "flag_count",
        "review_count",
    )[:limit]
    now = timezone.now()
    items = []
    for row in values:
        claimed = claim_live(claimed_by_id=row["review_claimed_by"], claimed_until=row["review_claimed_until"], now=now)
        items.append(
            QueueItem(
                id=row["id"],
                version=row["version"],
                risk=row["risk"],
                product_name=row["product__name"],
                sku=row["product__sku"],
                catalog_name=row["product__catalog__name"],
                claimed_by=(row["review_claimed_by__username"] or "") if claimed else "",
                claimed_until=row["review_claimed_until"] if claimed else None,
                claim_mine=claimed and row["review_claimed_by"] == user.pk,
                worst_band=(
                    SentenceBand.FLAG
                    if row["flag_count"]
                    else SentenceBand.REVIEW
                    if row["review_count"]
                    else SentenceBand.PUBLISH
                ),
                flag_count=row["flag_count"],
                review_count=row["review_count"],
                updated_at=row["updated_at"],
            )
        )
    return items


def queue_page(
    *, user, filters: QueueFilters, after: QueueCursor | None = None, limit: int = QUEUE_PAGE_SIZE
) -> QueuePage:
    """One page of the queue after `after` (the first page when None)."""
    rows = _queue_base(user=user, filters=filters)
    if after is not None:
        rows = rows.filter(_after(after))
    items = _queue_items(rows.order_by(*QUEUE_ORDER), user=user, limit=limit + 1)
    next_cursor = items[limit - 1].cursor if len(items) > limit else None
    return QueuePage(items=items[:limit], next_cursor=next_cursor, is_first=after is None)


def queue_items(*, user, ids: list[int]) -> list[QueueItem]:
    """The queue items among `ids` (for a bulk action's confirmation), in queue order."""
    rows = Description.objects.filter(pk__in=ids, status=DescriptionStatus.REVIEW).order_by(*QUEUE_ORDER)
    return _queue_items(rows, user=user, limit=len(ids))


def catalog_choices() -> list[tuple[int, str]]:
    return list(Catalog.objects.order_by("name").values_list("id", "name"))


@dataclass(frozen=True, slots=True)
class QueueCounts:
    total: int
    flag: int
    review: int
    publish: int  # confident: nothing left to decide
    mine: int


QUEUE_COUNTS_SECONDS = 30


def queue_counts(*, user, filters: QueueFilters, cached_only: bool = False) -> QueueCounts | None:
    """Queue size per worst pending band for the filters other than band.

    Counting bands reads every pending sentence of the queue (~100 ms at 50k descriptions in
    review), so the band counts are shared for QUEUE_COUNTS_SECONDS per catalog/reason
    filter; the reviewer's own count is always live. With cached_only, returns None instead
    of counting when nothing is cached (the page then loads the counts separately)."""
    now = timezone.now()
    mine = Description.objects.filter(claim_held_by(reviewer=user, now=now), status=DescriptionStatus.REVIEW)
    if filters.catalog_id:
        mine = mine.filter(product__catalog_id=filters.catalog_id)
    scope = f"{filters.catalog_id or ''}:{filters.reason}:{user.pk if filters.mine else ''}:{filters.run_id or ''}"
    key = f"reviewq:queue-counts:{hashlib.sha256(scope.encode()).hexdigest()[:32]}"
    bands = cache.get(key)
    if bands is None:
        if cached_only:
            return None
        bands = _band_counts(user=user, filters=filters)
        cache.set(key, bands, QUEUE_COUNTS_SECONDS)
    return QueueCounts(**bands, mine=mine.count())


def _band_counts(*, user, filters: QueueFilters) -> dict[str, int]:
    rows = _queue_base(user=user, filters=replace(filters, band=""))
    # One row per queue description with an undecided review/flag sentence, then counted.
    pending = (
        Sentence.objects.filter(
            decision=SentenceDecision.NONE,
            band__in=[SentenceBand.FLAG, SentenceBand.REVIEW],
            description__in=rows.values("pk"),
        )
        .values("description_id")
        .annotate(flagged=Max(Case(When(band=SentenceBand.FLAG, then=Value(1)), default=Value(0))))
    )
    counted = pending.aggregate(
        flag=Count("description_id", filter=Q(flagged=1)), review=Count("description_id", filter=Q(flagged=0))
    )
    total = rows.count()
    return {
        "total": total,
        "flag": counted["flag"],
        "review": counted["review"],
        "publish": total - counted["flag"] - counted["review"],
    }


def queue_next_candidates(*, user, filters: QueueFilters, limit: int = 20) -> list[int]:
    """Ids of the riskiest queue items nobody else holds, for description_review_next."""
    now = timezone.now()
    return list(
        _queue_base(user=user, filters=filters)
        .filter(claim_free(now=now))
        .order_by(*QUEUE_ORDER)
        .values_list("id", flat=True)[:limit]
    )


def queue_neighbours(*, user, filters: QueueFilters, description: Description) -> tuple[int | None, int | None]:
    """(previous id, next id) around `description` in queue order, for j/k."""
    rows = _queue_base(user=user, filters=filters)
    following = (
        rows.filter(_after(QueueCursor(risk=description.risk, id=description.pk)))
        .order_by(*QUEUE_ORDER)
        .values_list("id", flat=True)
        .first()
    )
    # Before it: higher risk (or equal risk, higher id), and every unknown risk; two range
    # scans of the (status, risk) index rather than one OR the index cannot serve.
    reverse = (F("risk").asc(), F("id").asc())
    preceding = None
    if description.risk is not None:
        preceding = (
            rows.filter(Q(risk__gte=description.risk), Q(risk__gt=description.risk) | Q(id__gt=description.pk))
            .order_by(*reverse)
            .values_list("id", flat=True)
            .first()
        )
    if preceding is None:
        unknown = rows.filter(risk__isnull=True)
        if description.risk is None:
            unknown = unknown.filter(id__gt=description.pk)
        preceding = unknown.order_by("id").values_list("id", flat=True).first()
    return preceding, following

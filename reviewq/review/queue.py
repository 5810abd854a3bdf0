"""The review queue: what awaits review, riskiest first; counts, next item, neighbours."""

import hashlib
import json
import math
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import urlencode

from django.core.cache import cache
from django.db.models import Case, Count, Exists, F, Max, OuterRef, Q, Subquery, TextField, Value, When
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from reviewq.core.forms import ID_MAX
from reviewq.core.models import (
    Assignment,
    Catalog,
    Description,
    DescriptionStatus,
    Product,
    Sentence,
    SentenceBand,
    SentenceDecision,
)
from reviewq.review.claims import claim_free, claim_held_by, claim_live

# --- Review queue ------------------------------------------------------------------------
# The queue is the descriptions in review, riskiest first by default. Unknown risk (no
# logprobs) sorts first: a sentence nobody could score is the riskiest of all. Pages use
# keyset pagination on the sort's keys (risk, id by default) so page 2,000 costs what page 1
# costs, served by the (status, risk) index; the age sort by the (status, created_at) one.

QUEUE_PAGE_SIZE = 50
BAND_RANK = {SentenceBand.FLAG: 2, SentenceBand.REVIEW: 1, SentenceBand.PUBLISH: 0}
SEARCH_MAX_CHARS = 100


@dataclass(frozen=True, slots=True)
class SortKey:
    field: str  # a Description lookup
    attr: str  # the QueueItem attribute holding its value
    descending: bool = False
    nullable: bool = False  # nulls sort first (descending) or last (ascending), as Postgres does

    def reversed(self) -> "SortKey":
        return replace(self, descending=not self.descending)

    def order(self):
        expression = F(self.field)
        if not self.nullable:
            return expression.desc() if self.descending else expression.asc()
        return expression.desc(nulls_first=True) if self.descending else expression.asc(nulls_last=True)


_RISK = SortKey("risk", "risk", descending=True, nullable=True)
# Each ends with the id, so the order is total and a keyset cursor names one position.
QUEUE_SORTS: dict[str, tuple[SortKey, ...]] = {
    "risk": (_RISK, SortKey("id", "id", descending=True)),
    "age": (SortKey("created_at", "created_at"), SortKey("id", "id")),
    "catalog": (SortKey("product__catalog__name", "catalog_name"), _RISK, SortKey("id", "id", descending=True)),
}
SORT_LABELS = {"risk": "Riskiest first", "age": "Oldest first", "catalog": "By catalog, riskiest first"}


@dataclass(frozen=True, slots=True)
class QueueFilters:
    catalog_id: int | None = None
    band: str = ""  # worst undecided band: "flag", "review" or "publish" (confident)
    reason: str = ""  # substring of a flagged reason
    mine: bool = False  # only what the reviewer holds
    assigned: bool = False  # only what an editor assigned to the reviewer
    run_id: int | None = None  # only drafts a generation run wrote
    search: str = ""  # substring of the SKU or the product name
    sort: str = "risk"  # a QUEUE_SORTS key

    def querystring(self) -> str:
        params = {
            "catalog": self.catalog_id or "",
            "band": self.band,
            "reason": self.reason,
            "mine": "1" if self.mine else "",
            "assigned": "1" if self.assigned else "",
            "run": self.run_id or "",
            "q": self.search,
            "sort": "" if self.sort == "risk" else self.sort,
        }
        return urlencode({k: v for k, v in params.items() if v})


CursorValue = float | int | str | datetime | None


@dataclass(frozen=True, slots=True)
class QueueCursor:
    """A position in the queue: the values of the sort's keys, as a JSON list in the URL."""

    values: tuple[CursorValue, ...]

    def __str__(self) -> str:
        return json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in self.values], separators=(",", ":"))

    @classmethod
    def parse(cls, value: str, *, sort: str = "risk") -> "QueueCursor | None":
        """The cursor `value` names for `sort`; None for anything else."""
        try:
            raw = json.loads(value or "null")
        except ValueError:
            return None
        keys = QUEUE_SORTS[sort]
        if not isinstance(raw, list) or len(raw) != len(keys):
            return None
        values = [_cursor_value(key, item) for key, item in zip(keys, raw, strict=True)]
        return None if any(v is _BAD for v in values) else cls(values=tuple(values))


_BAD = object()


def _cursor_value(key: SortKey, item: object):
    if item is None:
        return None if key.nullable else _BAD
    if key.attr == "id":
        return item if isinstance(item, int) and not isinstance(item, bool) and 0 < item <= ID_MAX else _BAD
    if key.attr == "risk":
        ok = isinstance(item, int | float) and not isinstance(item, bool) and math.isfinite(item)
        return float(item) if ok else _BAD  # type: ignore[arg-type]
    if key.attr == "created_at":
        try:  # a well-formed but impossible date (Feb 30, hour 25) raises
            parsed = parse_datetime(item) if isinstance(item, str) and len(item) <= 40 else None
        except ValueError:
            return _BAD
        return parsed if parsed is not None and parsed.tzinfo is not None else _BAD
    return item if isinstance(item, str) and len(item) <= 200 and _storable(item) else _BAD


def _storable(text: str) -> bool:
    """Text a catalog name can hold: no NUL (Postgres refuses it) and no lone surrogate (JSON's
    \\ud800 decodes to one; no database driver encodes it)."""
    if "\x00" in text:
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


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
    created_at: datetime

    def cursor(self, sort: str) -> QueueCursor:
        return QueueCursor(values=tuple(getattr(self, key.attr) for key in QUEUE_SORTS[sort]))


@dataclass(frozen=True, slots=True)
class QueuePage:
    items: list[QueueItem]
    next_cursor: QueueCursor | None
    is_first: bool


def _assigned_to(user) -> Exists:
    return Exists(Assignment.objects.filter(description=OuterRef("pk"), reviewer=user))


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
    if filters.assigned:
        rows = rows.filter(_assigned_to(user))
    flag, review = _pending(SentenceBand.FLAG), _pending(SentenceBand.REVIEW)
    if filters.band == SentenceBand.FLAG:
        rows = rows.filter(Exists(flag))
    elif filters.band == SentenceBand.REVIEW:
        rows = rows.filter(Exists(review), ~Exists(flag))
    elif filters.band == SentenceBand.PUBLISH:
        rows = rows.filter(~Exists(review), ~Exists(flag))
    if filters.search:
        # A semi-join: the matching products are found first (one scan of the product table),
        # then the queue is read in its index order, rather than joining every queued row first.
        matching = Product.objects.filter(Q(sku__icontains=filters.search) | Q(name__icontains=filters.search))
        rows = rows.filter(product_id__in=matching.values("pk"))
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


def queue_order(sort: str) -> list:
    return [key.order() for key in QUEUE_SORTS[sort]]


def queue_descriptions(*, user, filters: QueueFilters):
    """The queue's descriptions under `filters`, unordered (to assign all of them)."""
    return _queue_base(user=user, filters=filters)


QUEUE_ORDER = tuple(queue_order("risk"))


def _beyond(key: SortKey, value: CursorValue) -> Q:
    """Rows whose `key` comes strictly after `value`."""
    isnull = Q(**{f"{key.field}__isnull": True})
    if value is None:  # nulls sort first when descending, last when ascending
        return ~isnull if key.descending else Q(pk__in=[])
    beyond = Q(**{f"{key.field}__{'lt' if key.descending else 'gt'}": value})
    return beyond | isnull if key.nullable and not key.descending else beyond


def _after(cursor: QueueCursor, keys: tuple[SortKey, ...]) -> Q:
    """Rows strictly after `cursor` in the keys' order. A redundant bound on the first key
    (risk <= x) lets its index do a range scan instead of filtering the whole queue."""
    after, equal = Q(pk__in=[]), Q()
    for key, value in zip(keys, cursor.values, strict=True):
        after |= equal & _beyond(key, value)
        equal &= Q(**{f"{key.field}__isnull": True}) if value is None else Q(**{key.field: value})
    first, value = keys[0], cursor.values[0]
    if value is not None and (first.descending or not first.nullable):
        after &= Q(**{f"{first.field}__{'lte' if first.descending else 'gte'}": value})
    return after


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
        "created_at",
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
                created_at=row["created_at"],
            )
        )
    return items


def queue_page(
    *, user, filters: QueueFilters, after: QueueCursor | None = None, limit: int = QUEUE_PAGE_SIZE
) -> QueuePage:
    """One page of the queue after `after` (the first page when None)."""
    rows = _queue_base(user=user, filters=filters)
    if filters.sort == "catalog":
        items = _queue_items_by_catalog(rows, user=user, after=after, limit=limit + 1)
    else:
        if after is not None:
            rows = rows.filter(_after(after, QUEUE_SORTS[filters.sort]))
        items = _queue_items(rows.order_by(*queue_order(filters.sort)), user=user, limit=limit + 1)
    next_cursor = items[limit - 1].cursor(filters.sort) if len(items) > limit else None
    return QueuePage(items=items[:limit], next_cursor=next_cursor, is_first=after is None)


def _queue_items_by_catalog(rows, *, user, after: QueueCursor | None, limit: int) -> list[QueueItem]:
    """The catalog sort read a catalog at a time (names are unique), each in risk order: one
    range of the (status, risk) index per catalog instead of sorting the whole queue by the
    joined catalog name (60 ms at 100k descriptions in review)."""
    catalogs = Catalog.objects.order_by("name")
    if after is not None:
        catalogs = catalogs.filter(name__gte=after.values[0])
    within = QUEUE_SORTS["catalog"][1:]
    items: list[QueueItem] = []
    for catalog_id, name in catalogs.values_list("id", "name").iterator():
        these = rows.filter(product__catalog_id=catalog_id)
        if after is not None and name == after.values[0]:
            these = these.filter(_after(QueueCursor(values=after.values[1:]), within))
        items += _queue_items(these.order_by(*queue_order("risk")), user=user, limit=limit - len(items))
        if len(items) >= limit:
            break
    return items


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
    # Every filter but band and sort (neither changes the counts) names the cached scope.
    scope = json.dumps(
        [
            filters.catalog_id,
            filters.reason,
            user.pk if filters.mine else None,
            user.pk if filters.assigned else None,
            filters.run_id,
            filters.search,
        ]
    )
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
    """Ids of the first queue items in the filters' order (riskiest by default) nobody else
    holds, for description_review_next: those assigned to the reviewer first, then (unless the
    filter asks for assigned ones only) the rest."""
    free = (
        _queue_base(user=user, filters=filters)
        .filter(claim_free(now=timezone.now()))
        .order_by(*queue_order(filters.sort))
    )
    assigned = list(free.filter(_assigned_to(user)).values_list("id", flat=True)[:limit])
    if filters.assigned or len(assigned) == limit:
        return assigned
    return assigned + list(free.exclude(pk__in=assigned).values_list("id", flat=True)[: limit - len(assigned)])


def _cursor_of(description: Description, keys: tuple[SortKey, ...]) -> QueueCursor:
    values = {"risk": description.risk, "id": description.pk, "created_at": description.created_at}
    if any(key.attr == "catalog_name" for key in keys):
        values["catalog_name"] = description.product.catalog.name
    return QueueCursor(values=tuple(values[key.attr] for key in keys))


def _first_after(rows, cursor: QueueCursor, keys: tuple[SortKey, ...]) -> int | None:
    """The id of the first row after `cursor` in the keys' order. A nullable first key sorted
    nulls last (risk, ascending) takes two range scans, the rows with a value and then the
    nulls, rather than one OR that its index cannot serve."""
    first, value = keys[0], cursor.values[0]
    ordered = rows.order_by(*[key.order() for key in keys])
    if not (first.nullable and not first.descending and value is not None):
        return ordered.filter(_after(cursor, keys)).values_list("id", flat=True).first()
    non_null = ordered.filter(**{f"{first.field}__isnull": False})
    # Among the rows with a value the key is not nullable: no OR on NULL, and the range bound.
    found = non_null.filter(_after(cursor, (replace(first, nullable=False), *keys[1:])))
    found = found.values_list("id", flat=True).first()
    if found is None:
        found = ordered.filter(**{f"{first.field}__isnull": True}).values_list("id", flat=True).first()
    return found


def queue_neighbours(*, user, filters: QueueFilters, description: Description) -> tuple[int | None, int | None]:
    """(previous id, next id) around `description` in the filters' queue order, for j/k."""
    rows = _queue_base(user=user, filters=filters)
    keys = QUEUE_SORTS[filters.sort]
    cursor = _cursor_of(description, keys)
    following = _first_after(rows, cursor, keys)
    preceding = _first_after(rows, cursor, tuple(key.reversed() for key in keys))
    return preceding, following

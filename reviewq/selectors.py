"""Reads of reviewq's data. Views call these; nothing here writes."""

import difflib
import hashlib
import math
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from django.core.cache import cache
from django.db.models import Case, Count, Exists, F, Max, OuterRef, Q, Subquery, TextField, Value, When
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from .gating.service import sentence_reasons, thresholds_for_catalog
from .models import (
    AuditEvent,
    Catalog,
    Description,
    DescriptionStatus,
    Sentence,
    SentenceBand,
    SentenceDecision,
    Token,
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

    def querystring(self) -> str:
        params = {
            "catalog": self.catalog_id or "",
            "band": self.band,
            "reason": self.reason,
            "mine": "1" if self.mine else "",
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
    if filters.mine:
        rows = rows.filter(review_claimed_by=user, review_claimed_until__gte=timezone.now())
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

    values = (
        rows.annotate(flag_count=pending_count(SentenceBand.FLAG), review_count=pending_count(SentenceBand.REVIEW))
        .values(
            "id", "version", "risk", "updated_at", "product__name", "product__sku", "product__catalog__name",
            "review_claimed_by", "review_claimed_by__username", "review_claimed_until", "flag_count", "review_count",
        )[:limit]
    )
    now = timezone.now()
    items = []
    for row in values:
        claimed = row["review_claimed_until"] is not None and row["review_claimed_until"] >= now
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
                    else SentenceBand.REVIEW if row["review_count"] else SentenceBand.PUBLISH
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
    mine = Description.objects.filter(
        status=DescriptionStatus.REVIEW, review_claimed_by=user, review_claimed_until__gte=now
    )
    if filters.catalog_id:
        mine = mine.filter(product__catalog_id=filters.catalog_id)
    scope = f"{filters.catalog_id or ''}:{filters.reason}:{user.pk if filters.mine else ''}"
    key = f"reviewq:queue-counts:{hashlib.sha256(scope.encode()).hexdigest()[:32]}"
    bands = cache.get(key)
    if bands is None:
        if cached_only:
            return None
        bands = _band_counts(user=user, filters=filters)
        cache.set(key, bands, QUEUE_COUNTS_SECONDS)
    return QueueCounts(**bands, mine=mine.count())


def _band_counts(*, user, filters: QueueFilters) -> dict[str, int]:
    rows = _queue_base(
        user=user, filters=QueueFilters(catalog_id=filters.catalog_id, reason=filters.reason, mine=filters.mine)
    )
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
    free = Q(review_claimed_by__isnull=True) | Q(review_claimed_until__isnull=True) | Q(review_claimed_until__lt=now)
    return list(
        _queue_base(user=user, filters=filters)
        .filter(free)
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


# --- Review page -------------------------------------------------------------------------


REGENERATION_REQUESTED = "sentence_regeneration_requested"
REGENERATION_STARTED = "sentence_regeneration_started"
REGENERATION_DONE = "sentence_regenerated"
REGENERATION_FAILED = "sentence_regeneration_failed"
REGENERATION_ACTIONS = (REGENERATION_REQUESTED, REGENERATION_STARTED, REGENERATION_DONE, REGENERATION_FAILED)


def sentence_regeneration_pending(*, description_id: int) -> dict[int, AuditEvent]:
    """Sentence index -> its open regeneration request (neither done nor failed yet)."""
    return _regeneration_state(description_id)[0]


def _regeneration_state(description_id: int) -> tuple[dict[int, AuditEvent], dict[int, str]]:
    """(open requests by sentence index, failure note by sentence index where the latest
    finished regeneration failed), from one query."""
    events = AuditEvent.objects.filter(description_id=description_id, action__in=REGENERATION_ACTIONS).order_by("id")
    open_requests: dict[int, AuditEvent] = {}
    finished: dict[int, AuditEvent] = {}
    for event in events:
        if event.action == REGENERATION_REQUESTED:
            open_requests[event.sentence_index] = event
        elif event.action in (REGENERATION_DONE, REGENERATION_FAILED):
            finished[event.sentence_index] = event
            request = open_requests.get(event.sentence_index)
            if request is not None and event.after.get("request") == request.pk:
                del open_requests[event.sentence_index]
    failures = {
        i: e.note or "Regeneration failed." for i, e in finished.items()
        if e.action == REGENERATION_FAILED and i not in open_requests
    }
    return open_requests, failures


def sentence_regenerated_version(*, description_id: int, index: int, page_version: int) -> int | None:
    """The version a page at `page_version` may move to because only the regeneration of this
    sentence changed the description since (None if anything else changed it too)."""
    done = (
        AuditEvent.objects.filter(description_id=description_id, sentence_index=index, action=REGENERATION_DONE)
        .order_by("-id")
        .first()
    )
    if done is None or done.before.get("version") != page_version:
        return None
    return done.after.get("version")


@dataclass(frozen=True, slots=True)
class TokenView:
    position: int
    text: str
    logprob: float | None
    alternatives: list[tuple[str, float | None]]  # most likely first, as stored
    original: str | None  # the generated text when a reviewer substituted this token

    @property
    def probability(self) -> float | None:
        return None if self.logprob is None else math.exp(self.logprob)


@dataclass(frozen=True, slots=True)
class SentenceView:
    sentence: Sentence
    tokens: list[TokenView]  # empty when the sentence is shown as plain text
    reasons: list[str]
    pending: bool  # review/flag band and undecided: blocks publishing
    hand_edited: bool  # edited by typing, so tokens no longer match the text
    regenerating: bool = False  # a reviewer asked for a new version; the worker has not answered
    regeneration_failed: str = ""  # why the last regeneration of this sentence failed

    @property
    def index(self) -> int:
        return self.sentence.index


@dataclass(frozen=True, slots=True)
class ReviewDetail:
    description: Description
    sentences: list[SentenceView]
    attributes: list[tuple[str, str]]
    pending: list[int]
    claim_holder: str  # username of a live claim, "" when free
    claim_until: datetime | None
    claim_mine: bool
    published_text: str


def reason_text(reason) -> str:
    """A gate reason as one line; the gate stores strings or {code, message} objects."""
    if isinstance(reason, dict):
        return str(reason.get("message") or reason.get("text") or reason.get("code") or "")
    return str(reason)


def _attribute_value(value) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    return "" if value is None else str(value)


def sentence_substitutions(*, sentence, last_event: AuditEvent | None) -> dict[int, str]:
    """Token substitutions (position -> text) behind an edited sentence, or {} when its text
    was typed by hand. Read from the sentence's latest audit row and trusted only if the
    tokens with those substitutions still give exactly the edited text."""
    if sentence.decision != SentenceDecision.EDITED or last_event is None:
        return {}
    if last_event.action != "sentence_substituted":
        return {}
    raw = last_event.after.get("substitutions") or {}
    substitutions = {int(k): v for k, v in raw.items()}
    tokens = list(sentence.tokens.order_by("position").values_list("position", "text"))
    rebuilt = "".join(substitutions.get(pos, text) for pos, text in tokens)
    return substitutions if rebuilt == sentence.edited_text else {}


SENTENCE_TEXT_ACTIONS = ("sentence_approved", "sentence_edited", "sentence_substituted", "sentence_removed", "sentence_reset")


def _sentence_view(
    sentence: Sentence,
    tokens: list[Token],
    last_event: AuditEvent | None,
    *,
    thresholds,
    regeneration: AuditEvent | None,
    failure: str,
) -> SentenceView:
    substitutions = sentence_substitutions(sentence=sentence, last_event=last_event) if sentence.decision == SentenceDecision.EDITED else {}
    hand_edited = sentence.decision == SentenceDecision.EDITED and not substitutions
    token_views = []
    if not hand_edited:
        token_views = [
            TokenView(
                position=t.position,
                text=substitutions.get(t.position, t.text),
                logprob=t.logprob,
                alternatives=[(str(a[0]), a[1] if len(a) > 1 else None) for a in (t.alternatives or []) if a],
                original=t.text if t.position in substitutions else None,
            )
            for t in tokens
        ]
    return SentenceView(
        sentence=sentence,
        tokens=token_views,
        reasons=[text for text in (reason_text(r) for r in sentence_reasons(sentence, thresholds)) if text],
        pending=sentence.decision == SentenceDecision.NONE and sentence.band != SentenceBand.PUBLISH,
        hand_edited=hand_edited,
        regenerating=regeneration is not None,
        regeneration_failed=failure,
    )


def _last_sentence_events(description_id: int, indexes: list[int]) -> dict[int, AuditEvent]:
    """The latest decision/edit event of each sentence (what its substitutions are read from)."""
    last: dict[int, AuditEvent] = {}
    if not indexes:
        return last
    events = AuditEvent.objects.filter(
        description_id=description_id, sentence_index__in=indexes, action__in=SENTENCE_TEXT_ACTIONS
    ).order_by("sentence_index", "-created_at", "-id")
    for event in events:
        last.setdefault(event.sentence_index, event)
    return last


def review_detail(*, description_id: int, user) -> ReviewDetail:
    """Everything the review page shows, in a fixed number of queries whatever the length."""
    description = Description.objects.select_related("product__catalog", "review_claimed_by").get(pk=description_id)
    sentences = list(description.sentences.order_by("index"))
    tokens_by_sentence: dict[int, list[Token]] = {s.pk: [] for s in sentences}
    for token in Token.objects.filter(description=description).order_by("position").only(
        "sentence_id", "position", "text", "logprob", "alternatives"
    ):
        tokens_by_sentence.setdefault(token.sentence_id, []).append(token)
    edited = [s.index for s in sentences if s.decision == SentenceDecision.EDITED]
    events = _last_sentence_events(description.pk, edited)
    thresholds = thresholds_for_catalog(catalog_id=description.product.catalog_id)
    regenerating, failures = _regeneration_state(description.pk)
    views = [
        _sentence_view(
            s, tokens_by_sentence[s.pk], events.get(s.index), thresholds=thresholds,
            regeneration=regenerating.get(s.index), failure=failures.get(s.index, ""),
        )
        for s in sentences
    ]
    now = timezone.now()
    claimed = (
        description.review_claimed_by_id is not None
        and description.review_claimed_until is not None
        and description.review_claimed_until >= now
    )
    attributes = description.product.attributes or {}
    if not isinstance(attributes, dict):
        attributes = {"attributes": attributes}
    return ReviewDetail(
        description=description,
        sentences=views,
        attributes=[(str(k), _attribute_value(v)) for k, v in attributes.items()],
        pending=[v.index for v in views if v.pending],
        claim_holder=description.review_claimed_by.get_username() if claimed else "",
        claim_until=description.review_claimed_until if claimed else None,
        claim_mine=claimed and description.review_claimed_by_id == user.pk,
        published_text="".join(
            s.current_text for s in sentences if s.decision != SentenceDecision.REJECTED
        ).strip(),
    )


# --- History -----------------------------------------------------------------------------

ACTION_LABELS = {
    "generation_queued": "Queued for generation",
    "generation_claimed": "Generation started",
    "generation_retry": "Generation will retry",
    "generation_failed": "Generation failed",
    "generated": "Generated",
    "review_claimed": "Opened for review",
    "review_released": "Review claim released",
    "review_approved": "Approved and published",
    "review_rejected": "Rejected",
    "sentence_approved": "Sentence approved",
    "sentence_edited": "Sentence edited",
    "sentence_substituted": "Word substituted",
    "sentence_removed": "Sentence removed",
    "sentence_reset": "Sentence decision undone",
    "sentence_regeneration_requested": "Sentence regeneration requested",
    "sentence_regenerated": "Sentence regenerated",
}

_DIFF_PIECES = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    event: AuditEvent
    label: str
    actor: str
    diff: list[tuple[str, str]]  # (op, text): op is "same", "del" or "ins"


def text_diff(before: str, after: str) -> list[tuple[str, str]]:
    """Word-level diff for display (difflib), as (op, text) runs."""
    a, b = _DIFF_PIECES.findall(before), _DIFF_PIECES.findall(after)
    runs: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            runs.append(("same", "".join(a[i1:i2])))
            continue
        if op in ("delete", "replace"):
            runs.append(("del", "".join(a[i1:i2])))
        if op in ("insert", "replace"):
            runs.append(("ins", "".join(b[j1:j2])))
    return runs


def description_history(*, description: Description) -> list[HistoryEntry]:
    """Every audited change to the description, newest first, with a text diff where the
    change touched text: a sentence's before/after, or the description's text against the
    text before it."""
    events = list(
        AuditEvent.objects.filter(description=description).select_related("actor").order_by("created_at", "id")
    )
    entries = []
    last_text = ""
    for event in events:
        diff: list[tuple[str, str]] = []
        if event.sentence_index is not None and "text" in event.after:
            diff = text_diff(str(event.before.get("text", "")), str(event.after["text"]))
        elif "text" in event.after:
            diff = text_diff(last_text, str(event.after["text"]))
            last_text = str(event.after["text"])
        entries.append(
            HistoryEntry(
                event=event,
                label=ACTION_LABELS.get(event.action, event.action.replace("_", " ").capitalize()),
                actor=event.actor.get_username() if event.actor else "system",
                diff=diff,
            )
        )
    entries.reverse()
    return entries

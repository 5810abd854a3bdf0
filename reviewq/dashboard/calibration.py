"""How well the gate's scores predict what reviewers did, and what thresholds would do.

Reviewer decisions are the labels: a sentence approved unchanged was fine; an edited (typed or
substituted) or removed sentence needed a human. The database work is a few grouped queries;
the math on their rows is pure (reviewq.dashboard.stats) and the charts are drawn in
reviewq.dashboard.charts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Case, Count, DurationField, Exists, ExpressionWrapper, F, FloatField, OuterRef, Q, When
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Floor, TruncDate
from django.utils import timezone

from reviewq.core.models import (
    AuditEvent,
    Catalog,
    Description,
    Sentence,
)
from reviewq.dashboard.stats import (
    BANDS,
    LABELLED,
    NEEDED_HUMAN,
    REVIEW_DONE_ACTIONS,
    SCORE_MIN,
    SCORE_STEP,
    B,
    CurvePoint,
    D,
    ReliabilityPoint,
    S,
    ScoreBucket,
    bucket_shares,
    duration_text,
    reliability_points,
    review_curve,
)
from reviewq.gating.gate import GateThresholds
from reviewq.gating.service import band_expression


@dataclass(frozen=True, slots=True)
class BandCounts:
    sentences: dict[str, int]
    descriptions: dict[str, int]  # by the worst undecided band; "publish" = would auto-publish


@dataclass(frozen=True, slots=True)
class Simulation:
    current: BandCounts
    proposed: BandCounts
    sentences_total: int
    descriptions_total: int

    @property
    def rows(self) -> list[dict]:
        return [
            {
                "band": band,
                "label": B(band).label,
                "sentences_now": self.current.sentences[band],
                "sentences_then": self.proposed.sentences[band],
                "sentences_delta": self.proposed.sentences[band] - self.current.sentences[band],
                "descriptions_now": self.current.descriptions[band],
                "descriptions_then": self.proposed.descriptions[band],
                "descriptions_delta": self.proposed.descriptions[band] - self.current.descriptions[band],
            }
            for band in BANDS
        ]


def threshold_simulation(*, catalog: Catalog | None, thresholds: GateThresholds) -> Simulation:
    """Sentences and descriptions per band now and under `thresholds`, over the stored
    sentences the catalog's (or the global) thresholds govern: ONE aggregate query.

    As in a re-gate, only undecided sentences move; a description is counted by its worst
    undecided band (none left: it would publish)."""
    # The scope as a join, not a list of ids, keeps this one query (as sentences_regate scopes it).
    scope = (
        Q(description__product__catalog=catalog)
        if catalog is not None
        else Q(description__product__catalog__thresholds__isnull=True)
    )
    undecided = Q(decision=D.NONE)
    proposed = Case(When(undecided, then=band_expression(thresholds)), default=F("band"))
    rows = Sentence.objects.filter(scope, description__status__in=[S.REVIEW, S.PUBLISHED]).annotate(proposed=proposed)
    aggregates: dict[str, Count] = {
        "sentences": Count("id"),
        "descriptions": Count("description_id", distinct=True),
    }
    for name, column in (("now", "band"), ("then", "proposed")):
        for band in BANDS:
            aggregates[f"s_{name}_{band}"] = Count("id", filter=Q(**{column: band}))
        aggregates[f"d_{name}_flag"] = Count("description_id", distinct=True, filter=undecided & Q(**{column: B.FLAG}))
        aggregates[f"d_{name}_blocked"] = Count(
            "description_id", distinct=True, filter=undecided & Q(**{f"{column}__in": [B.REVIEW, B.FLAG]})
        )
    result = rows.aggregate(**aggregates)

    def counts(name: str) -> BandCounts:
        blocked, flagged = result[f"d_{name}_blocked"], result[f"d_{name}_flag"]
        return BandCounts(
            sentences={band: result[f"s_{name}_{band}"] for band in BANDS},
            descriptions={
                B.FLAG: flagged,
                B.REVIEW: blocked - flagged,
                B.PUBLISH: result["descriptions"] - blocked,
            },
        )

    return Simulation(
        current=counts("now"),
        proposed=counts("then"),
        sentences_total=result["sentences"],
        descriptions_total=result["descriptions"],
    )


# --- Calibration: pure math --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CalibrationData:
    buckets: list[ScoreBucket]
    always_total: int
    always_needed: int
    reliability: list[ReliabilityPoint]
    curve: list[CurvePoint]
    labelled: int
    needed_human: int


def _generated(column: str) -> Case:
    """A Sentence score column as the gate gave it for the generated text (Sentence.generated_score)."""
    return Case(
        When(generated_score__isnull=True, then=F(column)),
        default=Cast(KT(f"generated_score__{column}"), FloatField()),
        output_field=FloatField(),
    )


def calibration_data(*, catalog: Catalog | None) -> CalibrationData:
    """Reviewer-labelled sentences grouped by score bucket (three grouped queries)."""
    # The gate's score of the generated text, also for a sentence a reviewer's edit re-gated.
    labelled = Sentence.objects.filter(decision__in=LABELLED).annotate(
        generated_mean=_generated("mean_logprob"), generated_risk=_generated("risk")
    )
    if catalog is not None:
        labelled = labelled.filter(description__product__catalog=catalog)
    needed = Count("id", filter=Q(decision__in=NEEDED_HUMAN))
    always = (
        Q(generated_score__isnull=True, hard_flag=True)
        | Q(generated_score__isnull=True, has_warning=True)
        | Q(generated_score__hard_flag=True)
        | Q(generated_score__has_warning=True)
        | Q(generated_mean__isnull=True)
    )
    clipped = Case(
        When(generated_mean__lt=SCORE_MIN, then=SCORE_MIN), default=F("generated_mean"), output_field=FloatField()
    )
    bucket_rows = (
        labelled.exclude(always)
        .annotate(bucket=Floor(clipped / SCORE_STEP))
        .values("bucket")
        .annotate(total=Count("id"), needed=needed)
        .order_by("bucket")
    )
    buckets = bucket_shares((row["bucket"] * SCORE_STEP, row["total"], row["needed"]) for row in bucket_rows)
    always_row = labelled.filter(always).aggregate(total=Count("id"), needed=needed)
    risk_bucket = Floor(
        Cast(Case(When(generated_risk__gte=1, then=0.999), default=F("generated_risk")), FloatField()) * 10
    )
    reliability_rows = (
        labelled.annotate(bucket=risk_bucket)
        .values("bucket")
        .annotate(total=Count("id"), needed=needed, risk_sum=_sum_float("generated_risk"))
        .order_by("bucket")
    )
    reliability = reliability_points(
        (row["bucket"] / 10, row["total"], row["needed"], row["risk_sum"] or 0.0) for row in reliability_rows
    )
    curve = review_curve(buckets, always_total=always_row["total"], always_needed=always_row["needed"])
    total = sum(b.total for b in buckets) + always_row["total"]
    needed_total = sum(b.needed_human for b in buckets) + always_row["needed"]
    return CalibrationData(
        buckets=buckets,
        always_total=always_row["total"],
        always_needed=always_row["needed"],
        reliability=reliability,
        curve=curve,
        labelled=total,
        needed_human=needed_total,
    )


def _sum_float(field: str):
    from django.db.models import Sum

    return Sum(field, output_field=FloatField())


# --- Dashboard ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReviewerThroughput:
    reviewer: str
    decided: int


@dataclass(frozen=True, slots=True)
class DashboardMetrics:
    queue_by_band: dict[str, int]  # descriptions in review by worst undecided band
    queue_total: int
    reviewers: list[ReviewerThroughput]  # descriptions approved/rejected in the window
    per_day: list[tuple[str, int]]
    median_time_to_publish: timedelta | None
    published: int
    auto_published: int
    published_sentences: int
    edited_sentences: int
    window_days: int

    @property
    def auto_publish_rate(self) -> float | None:
        return self.auto_published / self.published if self.published else None

    @property
    def median_time_to_publish_text(self) -> str:
        return duration_text(self.median_time_to_publish) if self.median_time_to_publish is not None else "—"

    @property
    def edit_rate(self) -> float | None:
        return self.edited_sentences / self.published_sentences if self.published_sentences else None


def dashboard_metrics(*, catalog: Catalog | None = None, window_days: int = 7) -> DashboardMetrics:
    """Queue, throughput and outcome figures, each one set-based query."""
    descriptions = Description.objects.all()
    if catalog is not None:
        descriptions = descriptions.filter(product__catalog=catalog)
    undecided = Sentence.objects.filter(description=OuterRef("pk"), decision=D.NONE)
    queue = (
        descriptions.filter(status=S.REVIEW)
        .annotate(
            has_flag=Exists(undecided.filter(band=B.FLAG)),
            has_review=Exists(undecided.filter(band=B.REVIEW)),
        )
        .aggregate(
            total=Count("id"),
            flag=Count("id", filter=Q(has_flag=True)),
            review=Count("id", filter=Q(has_flag=False, has_review=True)),
        )
    )
    queue_by_band = {
        B.FLAG: queue["flag"],
        B.REVIEW: queue["review"],
        B.PUBLISH: queue["total"] - queue["flag"] - queue["review"],
    }

    since = timezone.now() - timedelta(days=window_days)
    events = AuditEvent.objects.filter(action__in=REVIEW_DONE_ACTIONS, created_at__gte=since, actor__isnull=False)
    if catalog is not None:
        events = events.filter(description__product__catalog=catalog)
    reviewers = [
        ReviewerThroughput(reviewer=row["actor__username"], decided=row["n"])
        for row in events.values("actor__username").annotate(n=Count("id")).order_by("-n", "actor__username")
    ]
    per_day = [
        (row["day"].isoformat() if row["day"] else "", row["n"])
        for row in events.annotate(day=TruncDate("created_at")).values("day").annotate(n=Count("id")).order_by("day")
    ]

    published = descriptions.filter(status=S.PUBLISHED)
    decided_sentence = Sentence.objects.filter(description=OuterRef("pk")).exclude(decision=D.NONE)
    outcome = published.annotate(touched=Exists(decided_sentence)).aggregate(
        total=Count("id"), auto=Count("id", filter=Q(touched=False))
    )
    timed = published.filter(generated_at__isnull=False, published_at__gte=F("generated_at")).annotate(
        wait=ExpressionWrapper(F("published_at") - F("generated_at"), output_field=DurationField())
    )
    count = timed.count()
    median = None
    if count:
        # Median without percentile functions (SQLite has none): the middle row(s) by wait.
        middle = list(timed.order_by("wait").values_list("wait", flat=True)[(count - 1) // 2 : count // 2 + 1])
        median = sum(middle, timedelta()) / len(middle)
    sentences = (
        Sentence.objects.filter(description__in=published)
        .exclude(decision=D.REJECTED)
        .aggregate(total=Count("id"), edited=Count("id", filter=Q(decision=D.EDITED)))
    )
    return DashboardMetrics(
        queue_by_band=queue_by_band,
        queue_total=queue["total"],
        reviewers=reviewers,
        per_day=per_day,
        median_time_to_publish=median,
        published=outcome["total"],
        auto_published=outcome["auto"],
        published_sentences=sentences["total"],
        edited_sentences=sentences["edited"],
        window_days=window_days,
    )


# --- SVG charts ---------------------------------------------------------------------------------

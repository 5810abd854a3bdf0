"""How well the gate's scores predict what reviewers did, and what thresholds would do.

Reviewer decisions are the labels: a sentence approved unchanged was fine; an edited (typed or
substituted) or removed sentence needed a human. The database work is a few grouped queries
(`calibration_data`, `threshold_simulation`, `dashboard_metrics`); the math on their rows is
pure (`bucket_shares`, `review_curve`, `threshold_for_catch_rate`, `reliability_points`), and
the charts are inline SVG drawn here, readable without colour (shapes, dashes and labels) and
always shown with a table of the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from xml.sax.saxutils import escape

from django.db.models import Case, Count, DurationField, Exists, ExpressionWrapper, F, FloatField, OuterRef, Q, When
from django.db.models.functions import Cast, Floor, TruncDate
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from .gating.gate import GateThresholds
from .gating.service import band_expression
from .models import AuditEvent, Catalog, Description, DescriptionStatus, Sentence, SentenceBand, SentenceDecision

S = DescriptionStatus
B = SentenceBand
D = SentenceDecision
BANDS = (B.PUBLISH, B.REVIEW, B.FLAG)
NEEDED_HUMAN = (D.EDITED, D.REJECTED)
LABELLED = (D.APPROVED, D.EDITED, D.REJECTED)
SCORE_STEP = 0.1  # width of a mean-logprob bucket
SCORE_MIN = -5.0  # everything lower shares the lowest bucket
TRUTH_NOTE = "Logprobs measure how probable the model found each token, not whether the text is true."


# --- What-if simulator -----------------------------------------------------------------------


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
class ScoreBucket:
    """Labelled sentences whose mean logprob is in [low, low + SCORE_STEP)."""

    low: float
    total: int
    needed_human: int
    always_review: int = 0  # of total: hard flags, warnings (reviewed whatever the thresholds)

    @property
    def high(self) -> float:
        return round(self.low + SCORE_STEP, 6)

    @property
    def share(self) -> float:
        return self.needed_human / self.total if self.total else 0.0


@dataclass(frozen=True, slots=True)
class CurvePoint:
    threshold: float  # publish_above: sentences at or below it go to a reviewer
    review_load: float  # share of labelled sentences sent to review
    catch_rate: float  # share of the sentences that needed a human sent to review


@dataclass(frozen=True, slots=True)
class ReliabilityPoint:
    low: float
    predicted: float  # mean risk in the bucket
    observed: float  # share that needed a human
    total: int


def bucket_shares(rows: Iterable[tuple[float, int, int]]) -> list[ScoreBucket]:
    """(bucket low edge, total, needed_human) rows -> buckets sorted by score, merged by edge."""
    merged: dict[float, list[int]] = {}
    for low, total, needed in rows:
        key = round(low, 6)
        merged.setdefault(key, [0, 0])
        merged[key][0] += total
        merged[key][1] += needed
    return [ScoreBucket(low=low, total=t, needed_human=n) for low, (t, n) in sorted(merged.items())]


def review_curve(
    buckets: Sequence[ScoreBucket], *, always_total: int = 0, always_needed: int = 0
) -> list[CurvePoint]:
    """Catch rate against review load for every bucket edge as the publish threshold.

    A sentence goes to review when its mean logprob is at or below the threshold, or always
    (hard flag, warning, no logprobs: `always_*`). Points run from the lowest threshold
    (least review) to the highest (everything reviewed)."""
    total = sum(b.total for b in buckets) + always_total
    needed = sum(b.needed_human for b in buckets) + always_needed
    if not total:
        return []
    points = []
    reviewed, caught = always_total, always_needed
    ordered = sorted(buckets, key=lambda b: b.low)
    start = ordered[0].low if ordered else 0.0
    points.append(CurvePoint(threshold=start, review_load=reviewed / total, catch_rate=caught / needed if needed else 1.0))
    for bucket in ordered:
        reviewed += bucket.total
        caught += bucket.needed_human
        points.append(
            CurvePoint(
                threshold=bucket.high,
                review_load=reviewed / total,
                catch_rate=caught / needed if needed else 1.0,
            )
        )
    return points


def curve_at(curve: Sequence[CurvePoint], threshold: float) -> CurvePoint | None:
    """The curve point for `threshold` (the last edge at or below it)."""
    below = [p for p in curve if p.threshold <= threshold + 1e-9]
    if below:
        return CurvePoint(threshold=threshold, review_load=below[-1].review_load, catch_rate=below[-1].catch_rate)
    return curve[0] if curve else None


def threshold_for_catch_rate(curve: Sequence[CurvePoint], target: float) -> CurvePoint | None:
    """The lowest publish threshold (least review) whose catch rate reaches `target`."""
    for point in curve:
        if point.catch_rate >= target - 1e-12:
            return point
    return None


def reliability_points(rows: Iterable[tuple[float, int, int, float]]) -> list[ReliabilityPoint]:
    """(risk bucket low edge, total, needed_human, sum of risk) -> predicted vs observed."""
    points = []
    for low, total, needed, risk_sum in sorted(rows):
        if total:
            points.append(ReliabilityPoint(low=low, predicted=risk_sum / total, observed=needed / total, total=total))
    return points


# --- Calibration: the queries -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CalibrationData:
    buckets: list[ScoreBucket]
    always_total: int
    always_needed: int
    reliability: list[ReliabilityPoint]
    curve: list[CurvePoint]
    labelled: int
    needed_human: int


def calibration_data(*, catalog: Catalog | None) -> CalibrationData:
    """Reviewer-labelled sentences grouped by score bucket (three grouped queries)."""
    labelled = Sentence.objects.filter(decision__in=LABELLED)
    if catalog is not None:
        labelled = labelled.filter(description__product__catalog=catalog)
    needed = Count("id", filter=Q(decision__in=NEEDED_HUMAN))
    always = Q(hard_flag=True) | Q(has_warning=True) | Q(mean_logprob__isnull=True)
    clipped = Case(When(mean_logprob__lt=SCORE_MIN, then=SCORE_MIN), default=F("mean_logprob"), output_field=FloatField())
    bucket_rows = (
        labelled.exclude(always)
        .annotate(bucket=Floor(clipped / SCORE_STEP))
        .values("bucket")
        .annotate(total=Count("id"), needed=needed)
        .order_by("bucket")
    )
    buckets = bucket_shares((row["bucket"] * SCORE_STEP, row["total"], row["needed"]) for row in bucket_rows)
    always_row = labelled.filter(always).aggregate(total=Count("id"), needed=needed)
    risk_bucket = Floor(Cast(Case(When(risk__gte=1, then=0.999), default=F("risk")), FloatField()) * 10)
    reliability_rows = (
        labelled.annotate(bucket=risk_bucket)
        .values("bucket")
        .annotate(total=Count("id"), needed=needed, risk_sum=_sum_float("risk"))
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


REVIEW_DONE_ACTIONS = ("review_approved", "review_rejected")


def duration_text(value: timedelta) -> str:
    """'3 d 4 h', '2 h 5 min', '4 min 10 s', '12 s'."""
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def dashboard_metrics(*, catalog: Catalog | None = None, window_days: int = 7) -> DashboardMetrics:
    """Queue, throughput and outcome figures, each one set-based query."""
    descriptions = Description.objects.all()
    if catalog is not None:
        descriptions = descriptions.filter(product__catalog=catalog)
    undecided = Sentence.objects.filter(description=OuterRef("pk"), decision=D.NONE)
    queue = descriptions.filter(status=S.REVIEW).annotate(
        has_flag=Exists(undecided.filter(band=B.FLAG)),
        has_review=Exists(undecided.filter(band=B.REVIEW)),
    ).aggregate(
        total=Count("id"),
        flag=Count("id", filter=Q(has_flag=True)),
        review=Count("id", filter=Q(has_flag=False, has_review=True)),
    )
    queue_by_band = {B.FLAG: queue["flag"], B.REVIEW: queue["review"], B.PUBLISH: queue["total"] - queue["flag"] - queue["review"]}

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
    sentences = Sentence.objects.filter(description__in=published).exclude(decision=D.REJECTED).aggregate(
        total=Count("id"), edited=Count("id", filter=Q(decision=D.EDITED))
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

WIDTH, HEIGHT = 560, 300
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 56, 16, 16, 48


@dataclass(frozen=True, slots=True)
class Marker:
    x: float
    y: float
    label: str
    shape: str = "diamond"  # diamond | square | triangle


def _scale(value: float, low: float, high: float, out_low: float, out_high: float) -> float:
    if high == low:
        return (out_low + out_high) / 2
    return out_low + (value - low) / (high - low) * (out_high - out_low)


def _shape(shape: str, x: float, y: float, size: float = 6) -> str:
    if shape == "square":
        return f'<rect x="{x - size:.1f}" y="{y - size:.1f}" width="{2 * size:.1f}" height="{2 * size:.1f}" class="marker"/>'
    if shape == "triangle":
        return (f'<polygon points="{x:.1f},{y - size:.1f} {x + size:.1f},{y + size:.1f} {x - size:.1f},{y + size:.1f}" '
                f'class="marker"/>')
    if shape == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{size * 0.6:.1f}" class="point"/>'
    return (f'<polygon points="{x:.1f},{y - size:.1f} {x + size:.1f},{y:.1f} {x:.1f},{y + size:.1f} {x - size:.1f},{y:.1f}" '
            f'class="marker"/>')


def line_chart_svg(
    *,
    title: str,
    x_label: str,
    y_label: str,
    points: Sequence[tuple[float, float]],
    x_range: tuple[float, float],
    y_range: tuple[float, float] = (0.0, 1.0),
    diagonal: bool = False,
    markers: Sequence[Marker] = (),
    x_ticks: Sequence[float] = (),
    y_ticks: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
    percent_x: bool = False,
    percent_y: bool = True,
) -> SafeString:
    """A line with circle points; optional dashed y=x diagonal and labelled shape markers."""
    x0, x1 = x_range
    y0, y1 = y_range
    left, right, top, bottom = PAD_LEFT, WIDTH - PAD_RIGHT, PAD_TOP, HEIGHT - PAD_BOTTOM

    def sx(v: float) -> float:
        return _scale(v, x0, x1, left, right)

    def sy(v: float) -> float:
        return _scale(v, y0, y1, bottom, top)

    def fmt(v: float, percent: bool) -> str:
        return f"{v * 100:.0f}%" if percent else f"{v:g}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" class="chart" '
        f'aria-label="{escape(title, {chr(34): "&quot;"})}">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" class="axis"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" class="axis"/>',
    ]
    for tick in y_ticks:
        y = sy(tick)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{fmt(tick, percent_y)}</text>')
    for tick in x_ticks:
        x = sx(tick)
        parts.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" class="axis"/>')
        parts.append(f'<text x="{x:.1f}" y="{bottom + 18}" text-anchor="middle" class="tick">{fmt(tick, percent_x)}</text>')
    parts.append(f'<text x="{(left + right) / 2:.1f}" y="{HEIGHT - 8}" text-anchor="middle" class="label">{escape(x_label)}</text>')
    parts.append(
        f'<text x="14" y="{(top + bottom) / 2:.1f}" text-anchor="middle" class="label" '
        f'transform="rotate(-90 14 {(top + bottom) / 2:.1f})">{escape(y_label)}</text>'
    )
    if diagonal:
        parts.append(f'<line x1="{sx(x0):.1f}" y1="{sy(y0):.1f}" x2="{sx(x1):.1f}" y2="{sy(y1):.1f}" class="diagonal"/>')
    if points:
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)
        parts.append(f'<polyline points="{path}" class="series"/>')
        parts.extend(_shape("circle", sx(x), sy(y)) for x, y in points)
    for i, marker in enumerate(markers):
        x, y = sx(marker.x), sy(marker.y)
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" class="marker-line"/>')
        parts.append(_shape(marker.shape, x, y))
        anchor = "end" if x > (left + right) / 2 else "start"
        dx = -9 if anchor == "end" else 9
        # Labels stack downwards from the point (one line per marker) so two markers never overlap.
        label_y = min(max(y + 22 + 16 * i, top + 12), bottom - 6)
        parts.append(
            f'<text x="{x + dx:.1f}" y="{label_y:.1f}" text-anchor="{anchor}" class="marker-label">{escape(marker.label)}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))


def bar_chart_svg(
    *, title: str, x_label: str, y_label: str, bars: Sequence[tuple[str, float, int]]
) -> SafeString:
    """Vertical bars (label, share 0..1, count) with the share printed above each bar."""
    left, right, top, bottom = PAD_LEFT, WIDTH - PAD_RIGHT, PAD_TOP + 10, HEIGHT - PAD_BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" class="chart" '
        f'aria-label="{escape(title, {chr(34): "&quot;"})}">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" class="axis"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" class="axis"/>',
    ]
    for tick in (0.0, 0.5, 1.0):
        y = _scale(tick, 0, 1, bottom, top)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{tick * 100:.0f}%</text>')
    n = max(len(bars), 1)
    slot = (right - left) / n
    every = max(1, math.ceil(n / 12))
    for i, (label, share, count) in enumerate(bars):
        x = left + i * slot + slot * 0.15
        width = slot * 0.7
        y = _scale(share, 0, 1, bottom, top)
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{bottom - y:.1f}" class="bar">'
            f"<title>{escape(label)}: {share * 100:.0f}% of {count}</title></rect>"
        )
        if i % every == 0:
            parts.append(f'<text x="{x + width / 2:.1f}" y="{bottom + 16}" text-anchor="middle" class="tick">{escape(label)}</text>')
        if n <= 24:
            parts.append(f'<text x="{x + width / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" class="value">{share * 100:.0f}%</text>')
    parts.append(f'<text x="{(left + right) / 2:.1f}" y="{HEIGHT - 8}" text-anchor="middle" class="label">{escape(x_label)}</text>')
    parts.append(
        f'<text x="14" y="{(top + bottom) / 2:.1f}" text-anchor="middle" class="label" '
        f'transform="rotate(-90 14 {(top + bottom) / 2:.1f})">{escape(y_label)}</text>'
    )
    parts.append("</svg>")
    return mark_safe("".join(parts))


@dataclass(frozen=True, slots=True)
class CalibrationCharts:
    buckets: SafeString
    reliability: SafeString
    curve: SafeString


def calibration_charts(
    data: CalibrationData, *, thresholds: GateThresholds, target: CurvePoint | None
) -> CalibrationCharts:
    buckets = bar_chart_svg(
        title="Share of sentences that needed a human, by mean logprob",
        x_label="mean token logprob (bucket start)",
        y_label="needed a human",
        bars=[(f"{b.low:.1f}", b.share, b.total) for b in data.buckets],
    )
    reliability = line_chart_svg(
        title="Reliability: predicted risk against the observed share that needed a human",
        x_label="predicted risk (gate score)",
        y_label="observed share needing a human",
        points=[(p.predicted, p.observed) for p in data.reliability],
        x_range=(0.0, 1.0),
        diagonal=True,
        x_ticks=(0.0, 0.25, 0.5, 0.75, 1.0),
        percent_x=True,
    )
    markers = []
    current = curve_at(data.curve, thresholds.publish_above)
    if current is not None:
        markers.append(Marker(x=current.review_load, y=current.catch_rate,
                              label=f"\u25c6 now: publish above {thresholds.publish_above:g}", shape="diamond"))
    if target is not None:
        markers.append(Marker(x=target.review_load, y=target.catch_rate,
                              label=f"\u25a0 target: publish above {target.threshold:g}", shape="square"))
    curve = line_chart_svg(
        title="Catch rate against review load as the publish threshold moves",
        x_label="review load (share of sentences a person reads)",
        y_label="catch rate",
        points=[(p.review_load, p.catch_rate) for p in data.curve],
        x_range=(0.0, 1.0),
        diagonal=True,
        markers=markers,
        x_ticks=(0.0, 0.25, 0.5, 0.75, 1.0),
        percent_x=True,
    )
    return CalibrationCharts(buckets=buckets, reliability=reliability, curve=curve)

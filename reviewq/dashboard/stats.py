"""Pure statistics on calibration rows: score buckets, the review-load curve, reliability."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from reviewq.core.audit import AuditAction
from reviewq.core.models import (
    DescriptionStatus,
    SentenceBand,
    SentenceDecision,
)

S = DescriptionStatus
B = SentenceBand
D = SentenceDecision
BANDS = (B.PUBLISH, B.REVIEW, B.FLAG)
NEEDED_HUMAN = (D.EDITED, D.REJECTED)
LABELLED = (D.APPROVED, D.EDITED, D.REJECTED)
SCORE_STEP = 0.1  # width of a mean-logprob bucket
SCORE_MIN = -5.0  # everything lower shares the lowest bucket


# --- What-if simulator -----------------------------------------------------------------------


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


def review_curve(buckets: Sequence[ScoreBucket], *, always_total: int = 0, always_needed: int = 0) -> list[CurvePoint]:
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
    points.append(
        CurvePoint(threshold=start, review_load=reviewed / total, catch_rate=caught / needed if needed else 1.0)
    )
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

REVIEW_DONE_ACTIONS = (AuditAction.REVIEW_APPROVED, AuditAction.REVIEW_REJECTED)


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


# --- Agreement between two raters --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Agreement:
    """Two raters' labels on the same items: a 2x2 table (first label, second label) -> count."""

    table: dict[tuple[bool, bool], int]

    @property
    def n(self) -> int:
        return sum(self.table.values())

    @property
    def agreed(self) -> int:
        return self.table.get((False, False), 0) + self.table.get((True, True), 0)

    @property
    def percent(self) -> float | None:
        return 100.0 * self.agreed / self.n if self.n else None

    @property
    def kappa(self) -> float | None:
        """Cohen's kappa: (p_o - p_e) / (1 - p_e); None when chance agreement is total (both
        raters gave one label to everything) or there are no items."""
        n = self.n
        if not n:
            return None
        first_true = sum(c for (a, _), c in self.table.items() if a) / n
        second_true = sum(c for (_, b), c in self.table.items() if b) / n
        expected = first_true * second_true + (1 - first_true) * (1 - second_true)
        if expected >= 1:
            return None
        return (self.agreed / n - expected) / (1 - expected)

    def __add__(self, other: Agreement) -> Agreement:
        keys = self.table.keys() | other.table.keys()
        return Agreement({k: self.table.get(k, 0) + other.table.get(k, 0) for k in keys})

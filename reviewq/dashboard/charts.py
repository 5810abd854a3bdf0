"""Inline SVG charts, readable without colour (shapes, dashes and labels) and always shown with a
table of the same numbers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

from django.utils.safestring import SafeString, mark_safe

from reviewq.dashboard.calibration import CalibrationData
from reviewq.dashboard.stats import CurvePoint, curve_at
from reviewq.gating.gate import GateThresholds

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
        return (
            f'<polygon points="{x:.1f},{y - size:.1f} {x + size:.1f},{y + size:.1f} {x - size:.1f},{y + size:.1f}" '
            f'class="marker"/>'
        )
    if shape == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{size * 0.6:.1f}" class="point"/>'
    return (
        f'<polygon points="{x:.1f},{y - size:.1f} {x + size:.1f},{y:.1f} {x:.1f},{y + size:.1f} {x - size:.1f},{y:.1f}" '
        f'class="marker"/>'
    )


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
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{fmt(tick, percent_y)}</text>'
        )
    for tick in x_ticks:
        x = sx(tick)
        parts.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" class="axis"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{bottom + 18}" text-anchor="middle" class="tick">{fmt(tick, percent_x)}</text>'
        )
    parts.append(
        f'<text x="{(left + right) / 2:.1f}" y="{HEIGHT - 8}" text-anchor="middle" class="label">{escape(x_label)}</text>'
    )
    parts.append(
        f'<text x="14" y="{(top + bottom) / 2:.1f}" text-anchor="middle" class="label" '
        f'transform="rotate(-90 14 {(top + bottom) / 2:.1f})">{escape(y_label)}</text>'
    )
    if diagonal:
        parts.append(
            f'<line x1="{sx(x0):.1f}" y1="{sy(y0):.1f}" x2="{sx(x1):.1f}" y2="{sy(y1):.1f}" class="diagonal"/>'
        )
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


def bar_chart_svg(*, title: str, x_label: str, y_label: str, bars: Sequence[tuple[str, float, int]]) -> SafeString:
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
            parts.append(
                f'<text x="{x + width / 2:.1f}" y="{bottom + 16}" text-anchor="middle" class="tick">{escape(label)}</text>'
            )
        if n <= 24:
            parts.append(
                f'<text x="{x + width / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" class="value">{share * 100:.0f}%</text>'
            )
    parts.append(
        f'<text x="{(left + right) / 2:.1f}" y="{HEIGHT - 8}" text-anchor="middle" class="label">{escape(x_label)}</text>'
    )
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
        markers.append(
            Marker(
                x=current.review_load,
                y=current.catch_rate,
                label=f"\u25c6 now: publish above {thresholds.publish_above:g}",
                shape="diamond",
            )
        )
    if target is not None:
        markers.append(
            Marker(
                x=target.review_load,
                y=target.catch_rate,
                label=f"\u25a0 target: publish above {target.threshold:g}",
                shape="square",
            )
        )
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

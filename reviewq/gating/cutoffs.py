"""Cut-offs on fitted risk from labelled (held-out) sentences, with a stated confidence.

Pure: no Django, no scipy (the beta function below is checked against scipy in the tests).

Publish cut-off at a target escape rate: fixed-sequence testing over a preset grid
    The candidate cut-offs are a grid of risk values fixed in advance (PUBLISH_GRID, 0.01 to
    0.99), tested from the strictest up. At grid value t the sentences at or below t would be
    auto-published: n of them, k errors. The hypothesis "their error rate exceeds the target" is
    rejected when the one-sided Clopper-Pearson upper bound, at `confidence`, is <= target:
        U(k, n) = Beta quantile(confidence; k + 1, n - k)   (U = 1 when k = n)
    i.e. the exact binomial p-value P(Bin(n, target) <= k) is <= 1 - confidence (given n, the
    n sentences are a sample of those at or below t, so k ~ Bin(n, escape at t)). The scan
    stops at the first t not rejected; the cut-off is the last rejected t (none: publish
    nothing). Testing in a fixed order and stopping at the first failure keeps the chance of
    certifying any cut-off whose escape rate exceeds the target within 1 - confidence, with no
    union bound over the grid (Learn then Test, Angelopoulos et al. 2021, fixed-sequence
    testing). Taking the largest qualifying t over every t instead, as this module did before,
    is a choice among many tests: on a flat 11 % error rate it certified a cut-off at 10 % in
    about 10 % of the draws at 95 % confidence (tests/reviewq/gating/test_cutoffs.py).
    Where the sequence starts is read from the risks alone, never from the labels: at the
    grid value whose test is most likely to pass if the fitted risks were the true error
    probabilities (n sentences, their mean risk as the escape rate, the most errors k_max(n)
    that still pass: P(Bin(n, mean risk) <= k_max)). Starting at the strictest testable value
    instead (n = 29 at 10 % and 95 %, where only k = 0 passes) fails at once on most data.

    Labels needed when none qualifies: assume further labels arrive like these (the same
    share at or below each grid t, the same error rate there). For each t whose observed error
    rate k/n is below target, the smallest scale s >= 1 with U(k*s, n*s) <= target (the
    bound taken on the continuous beta); labels_needed = ceil(N * (s - 1)) for the best t,
    N being all calibration sentences: a floor, since the stricter grid values before t must
    pass too. None when no t has an observed rate below target (more labels like these would
    never qualify).

    Clustered labels: sentences of one product (or description) err together, so n sentences
    carry less evidence than n independent ones. Given `groups`, the counts are divided by the
    design effect deff = 1 + (m - 1) * icc (m the mean group size, icc the intra-group
    correlation of errors, one-way ANOVA estimate clipped to [0, 1]) before the bound: U(k/deff,
    n/deff) on the continuous beta. Without groups, deff = 1.

Flag cut-off at a target catch rate
    For every distinct risk value t, the sentences at or above t would be flagged; of the E
    errors, c are among them. t qualifies when the one-sided Clopper-Pearson lower bound on
    the catch rate c / E, at `confidence`, is >= target:
        L(c, E) = Beta quantile(1 - confidence; c, E - c + 1)   (L = 0 when c = 0)
    L only grows as t falls, so the cut-off is the highest qualifying t (the one that flags
    fewest). With none (too few errors: even catching all E gives L = (1-confidence)^(1/E)),
    nothing is flagged by the cut-off; labels_needed = the further labels, at the observed
    error rate, that bring the errors to E' = ceil(ln(1 - confidence) / ln(target)).
"""

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

_FPMIN = 1e-300


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """Lentz's continued fraction for the incomplete beta (Numerical Recipes, betacf)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _FPMIN else _FPMIN)
    h = d
    for m in range(1, 100_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        c = 1.0 + aa / c
        d = 1.0 / (d if abs(d) > _FPMIN else _FPMIN)
        c = c if abs(c) > _FPMIN else _FPMIN
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        c = 1.0 + aa / c
        d = 1.0 / (d if abs(d) > _FPMIN else _FPMIN)
        c = c if abs(c) > _FPMIN else _FPMIN
        step = d * c
        h *= step
        if abs(step - 1.0) < 1e-15:
            break
    return h


def beta_cdf(x: float, a: float, b: float) -> float:
    """The regularised incomplete beta I_x(a, b): P(Beta(a, b) <= x), a, b > 0."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, 1.0 - x) / b


def beta_quantile(q: float, a: float, b: float) -> float:
    """x with P(Beta(a, b) <= x) = q, by bisection (to 1e-12)."""
    low, high = 0.0, 1.0
    for _ in range(200):
        mid = (low + high) / 2
        if beta_cdf(mid, a, b) < q:
            low = mid
        else:
            high = mid
        if high - low < 1e-12:
            break
    return (low + high) / 2


def clopper_pearson_upper(k: int, n: int, confidence: float = 0.95) -> float:
    """One-sided upper confidence bound on a rate with k events in n trials."""
    if n <= 0 or k >= n:
        return 1.0
    return beta_quantile(confidence, k + 1, n - k)


def clopper_pearson_lower(k: int, n: int, confidence: float = 0.95) -> float:
    """One-sided lower confidence bound on a rate with k events in n trials."""
    if n <= 0 or k <= 0:
        return 0.0
    return beta_quantile(1.0 - confidence, k, n - k + 1)


def _upper_within(k: float, n: float, target: float, confidence: float) -> bool:
    """U(k, n) <= target, without the quantile: P(Beta(k+1, n-k) <= target) >= confidence."""
    return k < n and beta_cdf(target, k + 1.0, n - k) >= confidence


def design_effect(errors: Sequence[bool], groups: Sequence[str]) -> float:
    """1 + (m - 1) * icc for binary outcomes in groups (see the module docstring); 1.0 when it
    cannot be estimated (fewer than two groups, or no variation)."""
    if len(errors) != len(groups):
        raise ValueError(f"{len(errors)} labels for {len(groups)} groups")
    counts: dict[str, list[int]] = {}
    for error, group in zip(errors, groups, strict=True):
        tally = counts.setdefault(group, [0, 0])
        tally[0] += 1
        tally[1] += bool(error)
    n, g = len(errors), len(counts)
    if g < 2 or n <= g:
        return 1.0
    p = sum(k for _, k in counts.values()) / n
    between = sum(size * (k / size - p) ** 2 for size, k in counts.values()) / (g - 1)
    within = sum(k * (1 - k / size) for size, k in counts.values()) / (n - g)
    n0 = (n - sum(size * size for size, _ in counts.values()) / n) / (g - 1)
    if between + (n0 - 1) * within <= 0:
        return 1.0
    icc = min(1.0, max(0.0, (between - within) / (between + (n0 - 1) * within)))
    return 1.0 + (n / g - 1.0) * icc


def _check(target: float, confidence: float) -> None:
    if not 0.0 < target < 1.0:
        raise ValueError(f"target must be in (0, 1), got {target}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def _distinct_steps(
    risks: Sequence[float], errors: Sequence[bool], *, descending: bool
) -> Iterator[tuple[float, int, int]]:
    """(risk value, sentences so far, errors so far) at each distinct risk, in scan order."""
    if len(risks) != len(errors):
        raise ValueError(f"{len(risks)} risks for {len(errors)} labels")
    order = sorted(range(len(risks)), key=lambda i: risks[i], reverse=descending)
    k = 0
    for position, i in enumerate(order):
        n = position + 1
        k += bool(errors[i])
        if position + 1 == len(order) or risks[order[position + 1]] != risks[i]:
            yield float(risks[i]), n, k


@dataclass(frozen=True, slots=True)
class PublishCutoff:
    cutoff: float | None  # publish when risk <= cutoff; None: publish nothing
    published: int  # calibration sentences at or below the cut-off
    errors: int  # errors among them
    upper_bound: float  # Clopper-Pearson upper bound on their error rate (1.0 when none)
    sentences: int  # all calibration sentences
    labels_needed: int | None  # 0 when a cut-off qualifies; see the module docstring

    def publishes(self, risk: float) -> bool:
        return self.cutoff is not None and risk <= self.cutoff


def _scale_needed(k: float, n: float, target: float, confidence: float) -> float:
    """The smallest s >= 1 with U(k s, n s) <= target (k / n < target)."""
    high = 1.0
    while not _upper_within(k * high, n * high, target, confidence):
        high *= 2.0
        if high > 1e7:
            return math.inf
    low = high / 2.0 if high > 1.0 else 1.0
    for _ in range(60):
        mid = (low + high) / 2
        if _upper_within(k * mid, n * mid, target, confidence):
            high = mid
        else:
            low = mid
    return high


def _grid_steps(
    risks: Sequence[float], errors: Sequence[bool], grid: Sequence[float]
) -> list[tuple[float, int, int, float]]:
    """(grid value t, sentences at or below t, errors among them, the mean of their risks) for
    each t, ascending (the mean is 0 when there are none)."""
    if len(risks) != len(errors):
        raise ValueError(f"{len(risks)} risks for {len(errors)} labels")
    order = sorted(range(len(risks)), key=lambda i: risks[i])
    n = k = 0
    total = 0.0
    steps = []
    for t in sorted(grid):
        while n < len(order) and risks[order[n]] <= t:
            k += bool(errors[order[n]])
            total += float(risks[order[n]])
            n += 1
        steps.append((float(t), n, k, total / n if n else 0.0))
    return steps


def _binomial_cdf(k: int, n: int, p: float) -> float:
    """P(Bin(n, p) <= k)."""
    if k >= n:
        return 1.0
    return 1.0 - beta_cdf(p, k + 1.0, n - k)


def _start(steps: Sequence[tuple[float, int, int, float]], *, target: float, confidence: float, deff: float) -> int:
    """Where the fixed sequence starts: the grid step whose test would most likely pass if the
    risks were the true error probabilities (the mean risk at or below t as its escape rate).
    Read from the risks alone, never the labels; len(steps) when no step is testable."""
    best, best_power = len(steps), 0.0
    k_max = -1  # the most errors that still pass at this n; grows with n
    for position, (_, n, _, mean_risk) in enumerate(steps):
        while k_max + 1 < n and _upper_within((k_max + 1) / deff, n / deff, target, confidence):
            k_max += 1
        if k_max < 0:
            continue
        power = _binomial_cdf(k_max, n, min(max(mean_risk, 0.0), 1.0))
        if power > best_power:
            best, best_power = position, power
    return best


def fixed_sequence_cutoff(
    steps: Sequence[tuple[float, int, int, float]], *, target: float, confidence: float, deff: float = 1.0
) -> tuple[float, int, int] | None:
    """The last grid step (t, n, k) rejected by fixed-sequence testing from its start (see the
    module docstring); None when the first test fails."""
    certified = None
    for value, n, k, _ in steps[_start(steps, target=target, confidence=confidence, deff=deff) :]:
        if not _upper_within(k / deff, n / deff, target, confidence):
            break
        certified = (value, n, k)
    return certified


PUBLISH_GRID: tuple[float, ...] = tuple(i / 100 for i in range(1, 100))


def publish_cutoff(
    risks: Sequence[float],
    errors: Sequence[bool],
    *,
    target: float,
    confidence: float = 0.95,
    groups: Sequence[str] | None = None,
    grid: Sequence[float] = PUBLISH_GRID,
) -> PublishCutoff:
    """The publish cut-off certified by fixed-sequence testing over `grid` at `target`; with
    `groups`, the counts are discounted by their design effect."""
    _check(target, confidence)
    deff = 1.0 if groups is None else design_effect(errors, groups)
    steps = _grid_steps(risks, errors, grid)
    total = len(risks)
    certified = fixed_sequence_cutoff(steps, target=target, confidence=confidence, deff=deff)
    if certified is not None:
        value, n, k = certified
        bound = beta_quantile(confidence, k / deff + 1.0, (n - k) / deff) if k < n else 1.0
        return PublishCutoff(value, n, k, bound, total, 0)
    below = {(n, k) for _, n, k, _ in steps if k < target * n}
    scales = [_scale_needed(k / deff, n / deff, target, confidence) for n, k in below]
    scale = min(scales, default=math.inf)
    needed = None if math.isinf(scale) else max(1, math.ceil(total * (scale - 1.0) - 1e-9))
    return PublishCutoff(None, 0, 0, 1.0, total, needed)


@dataclass(frozen=True, slots=True)
class FlagCutoff:
    cutoff: float | None  # flag when risk >= cutoff; None: the cut-off flags nothing
    flagged: int  # calibration sentences at or above the cut-off
    caught: int  # errors among them
    errors: int  # all calibration errors
    lower_bound: float  # Clopper-Pearson lower bound on the catch rate (0.0 when none)
    sentences: int
    labels_needed: int | None  # 0 when a cut-off qualifies; see the module docstring

    def flags(self, risk: float) -> bool:
        return self.cutoff is not None and risk >= self.cutoff


def flag_cutoff(
    risks: Sequence[float], errors: Sequence[bool], *, target: float, confidence: float = 0.95
) -> FlagCutoff:
    """The highest risk cut-off whose flagged share catches errors at a bound >= target."""
    _check(target, confidence)
    total_errors = sum(bool(e) for e in errors)
    alpha = 1.0 - confidence
    for value, n, caught in _distinct_steps(risks, errors, descending=True):
        if caught and beta_cdf(target, caught, total_errors - caught + 1.0) <= alpha:
            bound = clopper_pearson_lower(caught, total_errors, confidence)
            return FlagCutoff(value, n, caught, total_errors, bound, len(risks), 0)
    needed = None
    if total_errors:
        errors_needed = math.ceil(math.log(alpha) / math.log(target) - 1e-9)
        needed = max(1, math.ceil((errors_needed - total_errors) * len(risks) / total_errors))
    return FlagCutoff(None, 0, 0, total_errors, 0.0, len(risks), needed)

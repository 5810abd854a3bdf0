import math
import random

import numpy as np
import pytest
from scipy import special, stats

from reviewq.gating.cutoffs import (
    beta_cdf,
    beta_quantile,
    clopper_pearson_lower,
    clopper_pearson_upper,
    design_effect,
    flag_cutoff,
    publish_cutoff,
)


@pytest.mark.parametrize("a, b", [(1, 1), (1, 29), (2, 9), (9, 2), (30.5, 4.2), (400, 3600), (3, 5000)])
@pytest.mark.parametrize("x", [1e-4, 0.01, 0.1, 0.37, 0.5, 0.9, 0.999])
def test_beta_cdf_matches_scipy(a, b, x):
    assert beta_cdf(x, a, b) == pytest.approx(special.betainc(a, b, x), abs=1e-10)


@pytest.mark.parametrize("q, a, b", [(0.95, 1, 29), (0.95, 2, 9), (0.05, 9, 2), (0.99, 41, 960), (0.5, 3, 3)])
def test_beta_quantile_matches_scipy(q, a, b):
    assert beta_quantile(q, a, b) == pytest.approx(stats.beta.ppf(q, a, b), abs=1e-9)


def test_clopper_pearson_upper_with_no_errors_is_the_rule_of_three_exactly():
    # P(0 errors | n, U) = (1 - U)^n = 0.05  =>  U = 1 - 0.05^(1/n); 29 clean labels bound it below 10%.
    assert clopper_pearson_upper(0, 29) == pytest.approx(1 - 0.05 ** (1 / 29), abs=1e-10)
    assert clopper_pearson_upper(0, 29) == pytest.approx(0.09815, abs=1e-5)
    assert clopper_pearson_upper(0, 28) == pytest.approx(0.10147, abs=1e-5)


def test_clopper_pearson_known_values():
    # Table value: 1 event in 10, one-sided 95% upper bound 0.3942; lower bound of 10 of 10 = 0.05^(1/10).
    assert clopper_pearson_upper(1, 10) == pytest.approx(0.3942, abs=1e-4)
    assert clopper_pearson_upper(1, 10) == pytest.approx(stats.beta.ppf(0.95, 2, 9), abs=1e-9)
    assert clopper_pearson_lower(10, 10) == pytest.approx(0.05**0.1, abs=1e-10)
    assert clopper_pearson_lower(9, 10) == pytest.approx(stats.beta.ppf(0.05, 9, 2), abs=1e-9)
    assert clopper_pearson_upper(5, 5) == 1.0 and clopper_pearson_upper(0, 0) == 1.0
    assert clopper_pearson_lower(0, 7) == 0.0


def test_publish_cutoff_takes_the_last_grid_value_before_a_test_fails():
    # 29 correct sentences at risk .01-.29 bound escape at 9.8% <= 10% at every grid value up to
    # .49; at .50 the error makes it 30 sentences with 1 error, bound 15%: the sequence stops.
    risks = [i / 100 for i in range(1, 30)] + [0.5] + [0.6 + i / 100 for i in range(10)]
    errors = [False] * 29 + [True] * 11
    cut = publish_cutoff(risks, errors, target=0.1)
    assert cut.cutoff == pytest.approx(0.49)
    assert (cut.published, cut.errors, cut.sentences, cut.labels_needed) == (29, 0, 40, 0)
    assert cut.upper_bound == pytest.approx(1 - 0.05 ** (1 / 29), abs=1e-9)
    assert cut.publishes(0.49) and not cut.publishes(0.4901)


def test_publish_cutoff_can_accept_an_error_when_enough_labels_vouch():
    # 60 correct then 1 error at .605 then 10 more correct: U(1, 71) = 6.5% <= 10%, so the
    # sequence passes the error and stops at .90, where the 20 errors enter.
    risks = [i / 100 for i in range(60)] + [0.605] + [0.61 + i / 1000 for i in range(10)] + [0.9] * 20
    errors = [False] * 60 + [True] + [False] * 10 + [True] * 20
    cut = publish_cutoff(risks, errors, target=0.1)
    assert cut.cutoff == pytest.approx(0.89)
    assert (cut.published, cut.errors) == (71, 1)
    assert cut.upper_bound == pytest.approx(stats.beta.ppf(0.95, 2, 70), abs=1e-9)


def test_publish_nothing_and_count_the_labels_needed():
    # 28 clean labels bound escape at 10.15% > 10%: nothing qualifies. At the same rates,
    # 28 s >= ln .05 / ln .9 = 28.43 clean labels need s = 1.0155, i.e. 39 * 0.0155 -> 1 more label.
    risks = [i / 100 for i in range(1, 29)] + [0.5] + [0.6 + i / 100 for i in range(10)]
    errors = [False] * 28 + [True] * 11
    cut = publish_cutoff(risks, errors, target=0.1)
    assert cut.cutoff is None and cut.published == 0 and not cut.publishes(0.0)
    assert cut.labels_needed == 1
    # A small set: 5 clean then errors. 5 s >= 28.43 -> s = 5.687: 10 * 4.687 -> 47 more labels.
    cut = publish_cutoff([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95], [False] * 5 + [True] * 5, target=0.1)
    assert cut.cutoff is None
    assert cut.labels_needed == math.ceil(10 * (math.log(0.05) / math.log(0.9) / 5 - 1))


def test_publish_nothing_and_no_count_when_every_share_is_too_wrong():
    cut = publish_cutoff([0.1, 0.2, 0.3], [True, False, True], target=0.1)
    assert cut.cutoff is None and cut.labels_needed is None
    assert publish_cutoff([], [], target=0.1).labels_needed is None


def test_publish_cutoff_ties_enter_together():
    # 29 correct sentences would qualify (9.8%), but the 29th shares its risk with an error:
    # they enter together (30 with 1 error bound at 14.7%), so nothing qualifies.
    risks = [0.1] * 28 + [0.2, 0.2] + [0.9] * 5
    errors = [False] * 28 + [False, True] + [True] * 5
    assert publish_cutoff(risks, errors, target=0.1).cutoff is None
    # With 80 correct sentences below, the tied pair goes out together: 82 with 1 error, 5.7%.
    risks = [0.1] * 80 + [0.2, 0.2] + [0.9] * 5
    errors = [False] * 80 + [False, True] + [True] * 5
    cut = publish_cutoff(risks, errors, target=0.1)
    assert (cut.cutoff, cut.published, cut.errors) == (0.89, 82, 1)


def test_publish_cutoff_rejects_bad_arguments():
    with pytest.raises(ValueError):
        publish_cutoff([0.1], [False], target=0.0)
    with pytest.raises(ValueError):
        publish_cutoff([0.1], [False], target=0.1, confidence=1.0)
    with pytest.raises(ValueError):
        publish_cutoff([0.1, 0.2], [False], target=0.1)


def test_flag_cutoff_at_a_target_catch_rate():
    # 10 errors above 10 correct sentences. Catching 10 of 10 bounds the catch rate at
    # 0.05^(1/10) = 0.741 >= 0.7; catching 9 of 10 only at 0.606.
    risks = [0.1 + i / 100 for i in range(10)] + [0.5 + i / 100 for i in range(10)]
    errors = [False] * 10 + [True] * 10
    cut = flag_cutoff(risks, errors, target=0.7)
    assert cut.cutoff == pytest.approx(0.5)
    assert (cut.flagged, cut.caught, cut.errors, cut.labels_needed) == (10, 10, 10, 0)
    assert cut.lower_bound == pytest.approx(0.05**0.1, abs=1e-9)
    assert cut.flags(0.5) and not cut.flags(0.49)
    # 0.6 is out of reach: 9/10 caught bounds at beta.ppf(.05, 9, 2) = 0.606 >= 0.6.
    cut = flag_cutoff(risks, errors, target=0.6)
    assert cut.cutoff == pytest.approx(0.51) and cut.caught == 9


def test_flag_cutoff_counts_the_errors_still_needed():
    # Even catching all 10 errors bounds at 0.741 < 0.8: 14 errors are needed (0.8^13.4 = 0.05),
    # 4 more, at the observed rate of 10 errors in 20 labels: 8 more labels.
    risks = [0.1 + i / 100 for i in range(10)] + [0.5 + i / 100 for i in range(10)]
    errors = [False] * 10 + [True] * 10
    cut = flag_cutoff(risks, errors, target=0.8)
    assert cut.cutoff is None and cut.flagged == 0
    assert cut.labels_needed == 8
    assert flag_cutoff([0.1], [False], target=0.8).labels_needed is None


def test_design_effect_hand_computed():
    # Each group all wrong or all right: icc 1, deff = 1 + (4 - 1) * 1.
    assert design_effect([True] * 4 + [False] * 4, ["a"] * 4 + ["b"] * 4) == pytest.approx(4.0)
    # The same rate in every group: icc clipped at 0, deff 1.
    assert design_effect([True, False, True, False] * 2, ["a"] * 4 + ["b"] * 4) == 1.0
    # One group, or no variation at all: nothing to estimate.
    assert design_effect([True, False], ["a", "a"]) == 1.0
    assert design_effect([False] * 6, ["a", "a", "b", "b", "c", "c"]) == 1.0


def test_clustered_labels_need_more_evidence():
    # 30 clean sentences in three products, then a product whose 10 sentences are all wrong.
    # Alone, U(0, 30) = 9.5% <= 10% qualifies; the errors cluster (icc 1, m = 10: deff 10), so the
    # 30 clean sentences count as 3 and U(0, 3) = 1 - 0.05^(1/3) = 63%: nothing qualifies.
    risks = [i / 100 for i in range(1, 31)] + [0.9] * 10
    errors = [False] * 30 + [True] * 10
    groups = ["A"] * 10 + ["B"] * 10 + ["C"] * 10 + ["D"] * 10
    assert design_effect(errors, groups) == pytest.approx(10.0)
    assert publish_cutoff(risks, errors, target=0.1).cutoff == pytest.approx(0.89)
    clustered = publish_cutoff(risks, errors, target=0.1, groups=groups)
    assert clustered.cutoff is None and clustered.labels_needed > 0
    # At a looser target the clustered bound is the beta quantile at (k/deff + 1, (n-k)/deff).
    loose = publish_cutoff(risks, errors, target=0.7, groups=groups)
    assert loose.cutoff == pytest.approx(0.89)
    assert loose.upper_bound == pytest.approx(1 - 0.05 ** (1 / 3), abs=1e-9)


def _missed_and_certified(draws, *, n, draw, escape, seed):
    """Draw `draws` calibration sets of n (risk, error) pairs from `draw(rng)`; the share of
    draws whose certified cut-off t has a true escape rate `escape(t)` above the target (10 %,
    95 % confidence), and the share certifying any cut-off."""
    rng = random.Random(seed)
    missed = certified = 0
    for _ in range(draws):
        risks, errors = zip(*(draw(rng) for _ in range(n)), strict=True)
        cut = publish_cutoff(risks, errors, target=0.1)
        if cut.cutoff is not None:
            certified += 1
            missed += escape(cut.cutoff) > 0.1
    return missed / draws, certified / draws


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _flat(rng):
    return rng.random(), rng.random() < 0.11


def _calibrated(rng):
    risk = 0.5 * rng.random() ** 2
    return risk, rng.random() < risk


def test_publish_cutoff_keeps_its_guarantee_when_every_share_is_just_too_wrong():
    # A flat 11 % error rate: every cut-off's escape rate exceeds the 10 % target, so any cut-off
    # certified is a miss, and at 95 % confidence that may happen in at most 5 % of the draws
    # (0.075: simulation slack of 400 draws). The earlier rule, the largest qualifying risk over
    # every risk value, certified one in 10.75 % of these draws (43 of 400, seed 1).
    missed, _ = _missed_and_certified(400, n=300, draw=_flat, escape=lambda t: 0.11, seed=1)
    assert missed <= 0.075


def test_publish_cutoff_keeps_its_guarantee_and_publishes_when_risk_is_calibrated():
    # Risk 0.5 u^2 (u uniform) and P(error) = risk: escape at t is E[risk | risk <= t] = t / 3,
    # over 10 % above t = 0.3 (77 % of the sentences). Misses stay within 5 % (+ slack), and
    # most draws do certify a cut-off.
    missed, certified = _missed_and_certified(400, n=300, draw=_calibrated, escape=lambda t: t / 3, seed=2)
    assert missed <= 0.075
    assert certified >= 0.8


def test_publish_cutoff_stops_at_the_first_failed_test():
    # 100 correct sentences at risk .01-.20, 6 errors at .25, then 200 correct at .30-.49: at
    # .25 the bound of 106 with 6 errors is 11.1% > 10%, so the sequence stops at .24, although
    # 306 sentences with 6 errors at .49 would bound at 3.8%. Taking the largest qualifying
    # value instead is a choice among many tests (see the simulations below).
    risks = [0.01 + i * 0.19 / 99 for i in range(100)] + [0.25] * 6 + [0.30 + i * 0.19 / 199 for i in range(200)]
    errors = [False] * 100 + [True] * 6 + [False] * 200
    assert clopper_pearson_upper(6, 106) > 0.1 and clopper_pearson_upper(6, 306) < 0.1
    cut = publish_cutoff(risks, errors, target=0.1)
    assert (cut.cutoff, cut.published, cut.errors) == (pytest.approx(0.24), 100, 0)


def test_publish_cutoff_on_a_custom_grid():
    risks = [i / 100 for i in range(1, 30)] + [0.5] + [0.6 + i / 100 for i in range(10)]
    errors = [False] * 29 + [True] * 11
    assert publish_cutoff(risks, errors, target=0.1, grid=[0.1, 0.3, 0.4]).cutoff == pytest.approx(0.4)
    assert publish_cutoff(risks, errors, target=0.1, grid=[0.1, 0.2]).cutoff is None


def test_publish_cutoff_keeps_its_guarantee_on_clustered_products_with_their_design_effect():
    # 24 products x 12 sentences; a product effect the risk does not see (error logit = the
    # risk's logit + N(0, 2^2) per product). Counted as independent sentences, the fixed
    # sequence certifies a cut-off above the 10 % target in ~10 % of the draws; with the
    # products' design effect, within 5 % (+ slack).
    rng = np.random.default_rng(0)
    x, u = rng.normal(size=200_000), rng.normal(scale=2.0, size=200_000)
    order = np.argsort(_sigmoid(-3.0 + x))
    risk_sorted, errors_so_far = _sigmoid(-3.0 + x)[order], np.cumsum(_sigmoid(-3.0 + x + u)[order])

    def escape(t):
        n = np.searchsorted(risk_sorted, t, side="right")
        return errors_so_far[n - 1] / n

    rng = np.random.default_rng(1)
    groups = [str(j) for j in range(24) for _ in range(12)]
    missed = {"plain": 0, "clustered": 0}
    for _ in range(300):
        xs = rng.normal(size=(24, 12))
        product = rng.normal(scale=2.0, size=(24, 1))
        risks = _sigmoid(-3.0 + xs).ravel().tolist()
        errors = (rng.random((24, 12)) < _sigmoid(-3.0 + xs + product)).ravel().tolist()
        for name, by in (("plain", None), ("clustered", groups)):
            cut = publish_cutoff(risks, errors, target=0.1, groups=by)
            missed[name] += cut.cutoff is not None and escape(cut.cutoff) > 0.1
    assert missed["plain"] / 300 > 0.075  # the simulation can see a miss
    assert missed["clustered"] / 300 <= 0.075


def _catch_missed_and_certified(draws, *, n, target, confidence, seed):
    """Risk u uniform, P(error) = u: the catch rate of "flag risk >= t" is 1 - t^2. The share of
    draws whose certified flag cut-off catches less than `target`, and the share certifying one."""
    rng = random.Random(seed)
    missed = certified = 0
    for _ in range(draws):
        risks = [rng.random() for _ in range(n)]
        errors = [rng.random() < r for r in risks]
        cut = flag_cutoff(risks, errors, target=target, confidence=confidence)
        if cut.cutoff is not None:
            certified += 1
            missed += 1 - cut.cutoff**2 < target
    return missed / draws, certified / draws


def test_flag_cutoff_keeps_its_catch_rate_guarantee():
    # At 95 % confidence a cut-off that catches less than the target is certified in at most 5 %
    # of the draws (+ simulation slack); the bound is monotone in the cut-off, so scanning every
    # risk value from the top down pays no union bound. The simulation can see a miss: at 50 %
    # confidence (the bound near the point estimate) about half the draws miss.
    missed, certified = _catch_missed_and_certified(400, n=300, target=0.5, confidence=0.95, seed=3)
    assert missed <= 0.075 and certified == 1.0
    loose, _ = _catch_missed_and_certified(400, n=300, target=0.5, confidence=0.5, seed=3)
    assert loose > 0.3

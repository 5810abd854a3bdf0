"""The verifier signal: reading P(True) from an answer token's top logprobs, storing it in the
signals, and the fitted gate's features with and without it (absence never reads as supported)."""

import math

import pytest

from reviewq.gating.features import (
    DEFAULT_FEATURES,
    VERIFIER_ABSENT_DOUBT,
    VERIFIER_FEATURES,
    feature_vector,
)
from reviewq.gating.gate import score_description
from reviewq.gating.inference import fitted_risk
from reviewq.gating.verifier import SIGNAL_KEY, answer_side, p_true


def lp(p: float) -> float:
    return math.log(p)


@pytest.mark.parametrize(
    ("token", "side"),
    [
        ("True", True),
        (" true", True),
        ("TRUE", True),
        ("\u2581True", True),
        ("\u0120Yes", True),
        ("yes", True),
        ("\nYes", True),
        ("False", False),
        (" false", False),
        ("FALSE", False),
        ("No", False),
        (" no", False),
        ("Tr", None),
        ("Truely", None),
        ("The", None),
        ("", None),
        ("Not", None),
    ],
)
def test_answer_side_reads_true_false_yes_no_variants(token, side):
    assert answer_side(token) is side


def test_p_true_sums_the_variants_of_each_side_and_normalises_over_both():
    alternatives = [("True", lp(0.5)), (" true", lp(0.1)), ("Yes", lp(0.05)), ("False", lp(0.2)), ("No", lp(0.05))]
    assert p_true(alternatives) == pytest.approx(0.65 / 0.9)
    # Other tokens do not count, whatever their probability.
    assert p_true([("The", lp(0.9)), ("False", lp(0.03)), ("True", lp(0.01))]) == pytest.approx(0.25)
    assert p_true([["false", lp(0.6)], ["TRUE", lp(0.2)]]) == pytest.approx(0.25)


def test_one_side_missing_counts_the_least_likely_listed_alternative_for_it():
    # False ranked below all five listed: at most 0.01 of mass.
    alternatives = [("True", lp(0.9)), ("The", lp(0.04)), ("It", lp(0.03)), ("A", lp(0.02)), ("This", lp(0.01))]
    assert p_true(alternatives) == pytest.approx(0.9 / 0.91)
    # A single listed answer says nothing about the other side beyond "no more likely".
    assert p_true([("True", lp(0.6))]) == pytest.approx(0.5)
    assert p_true([("No", lp(0.7)), ("The", lp(0.1))]) == pytest.approx(0.1 / 0.8)


@pytest.mark.parametrize(
    "alternatives",
    [
        [],  # no top logprobs at all
        [("The", lp(0.5)), ("It", lp(0.2))],  # neither answer among them
        [("True", None), ("False", None)],  # listed without logprobs
        [("True", float("nan"))],
        [("True",), ()],  # malformed entries
    ],
)
def test_p_true_is_none_when_unreadable(alternatives):
    assert p_true(alternatives) is None


def test_p_true_caps_positive_logprobs_and_ignores_booleans():
    assert p_true([("True", 0.3), ("False", lp(1.0))]) == pytest.approx(0.5)
    assert p_true([("True", True), ("False", lp(0.5))]) == pytest.approx(0.5)  # the boolean is skipped


SENTENCES = [("The bottle holds 750 ml.", []), (" It is made of steel.", [])]
ATTRIBUTES = {"capacity": "750 ml", "material": "steel"}


def test_the_verdict_is_stored_in_the_signals_and_the_hand_set_gate_ignores_it():
    plain = score_description(sentences=SENTENCES, attributes=ATTRIBUTES)
    judged = score_description(sentences=SENTENCES, attributes=ATTRIBUTES, verifier=[0.91234567, None])
    assert judged[0].signals[SIGNAL_KEY] == pytest.approx(0.912346)
    assert SIGNAL_KEY not in judged[1].signals  # no verdict: no key, never a default
    assert SIGNAL_KEY not in plain[0].signals
    for a, b in zip(plain, judged, strict=True):
        assert (a.band, a.risk, a.reasons) == (b.band, b.risk, b.reasons)
    with pytest.raises(ValueError, match="1 verifier values for 2 sentences"):
        score_description(sentences=SENTENCES, attributes=ATTRIBUTES, verifier=[0.5])


def test_features_with_and_without_a_verdict():
    assert VERIFIER_FEATURES == ("verifier_doubt", "no_verifier")
    assert not set(VERIFIER_FEATURES) & set(DEFAULT_FEATURES)
    assert feature_vector({SIGNAL_KEY: 0.8}, VERIFIER_FEATURES) == [pytest.approx(0.2), 0.0]
    assert feature_vector({SIGNAL_KEY: 0.0}, VERIFIER_FEATURES) == [1.0, 0.0]
    assert feature_vector({SIGNAL_KEY: 1.0}, VERIFIER_FEATURES) == [0.0, 0.0]
    # Absent (not run, failed, older signals, an edited sentence): no opinion, flagged as absent;
    # never the 0 doubt a confident "supported" reads as.
    absent = feature_vector({}, VERIFIER_FEATURES)
    assert absent == [VERIFIER_ABSENT_DOUBT, 1.0]
    assert absent[0] > feature_vector({SIGNAL_KEY: 0.99}, VERIFIER_FEATURES)[0]
    assert feature_vector({SIGNAL_KEY: None}, VERIFIER_FEATURES) == absent


def test_a_model_fitted_with_the_verifier_scores_doubt_as_risk_and_absence_as_no_opinion():
    model = {
        "features": list(VERIFIER_FEATURES),
        "mean": [0.3, 0.2],
        "scale": [0.2, 0.4],
        "coef": [1.5, 0.0],
        "intercept": 0.0,
    }
    supported, doubted, absent = (fitted_risk(s, model) for s in ({SIGNAL_KEY: 0.95}, {SIGNAL_KEY: 0.1}, {}))
    assert supported < absent < doubted


@pytest.mark.django_db
def test_the_sql_twin_of_the_verifier_features_equals_the_inference():
    from reviewq.core.models import Sentence
    from reviewq.gating.gate_models import fitted_risk_expression
    from tests.factories import SentenceFactory

    model = {
        "features": ["neg_mean_logprob", *VERIFIER_FEATURES],
        "mean": [0.5, 0.3, 0.4],
        "scale": [0.3, 0.2, 0.5],
        "coef": [0.7, 1.5, -0.8],
        "intercept": -0.2,
    }
    base = {"has_logprobs": True, "mean_logprob": -0.4}
    cases = [{**base, SIGNAL_KEY: value} for value in (0.0, 0.25, 0.97, 1.0)] + [base, {**base, SIGNAL_KEY: None}]
    ids = [SentenceFactory(signals=signals).pk for signals in cases]
    rows = dict(Sentence.objects.filter(pk__in=ids).annotate(r=fitted_risk_expression(model)).values_list("pk", "r"))
    for pk, signals in zip(ids, cases, strict=True):
        assert rows[pk] == pytest.approx(fitted_risk(signals, model), abs=1e-9)
    assert rows[ids[4]] == pytest.approx(rows[ids[5]])  # absent and null read the same

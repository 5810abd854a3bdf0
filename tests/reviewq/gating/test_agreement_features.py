"""The agreement features: absence reads as no support (never as agreement), and the SQL
that scores stored sentences under an adopted model equals the pure inference."""

import pytest

from reviewq.core.models import Sentence
from reviewq.gating.features import AGREEMENT_FEATURES, DEFAULT_FEATURES, feature_vector
from reviewq.gating.gate_models import fitted_risk_expression
from reviewq.gating.inference import fitted_risk
from tests.factories import DescriptionFactory

AGREEING = {"n_samples": 2, "sample_support": 0.9, "n_values": 1, "n_values_alone": 0}
DISAGREEING = {"n_samples": 2, "sample_support": 0.2, "n_values": 3, "n_values_alone": 3}
ONE_CANDIDATE = {"n_samples": 0, "sample_support": None, "n_values": 1, "n_values_alone": None}
OLD_SIGNALS: dict = {}  # stored before the agreement signals existed
NOTHING_TO_CHECK = {"n_samples": 2, "sample_support": None, "n_values": 0, "n_values_alone": 0}


def features(signals):
    return dict(zip(AGREEMENT_FEATURES, feature_vector(signals, AGREEMENT_FEATURES), strict=True))


def test_agreement_features_of_agreeing_and_disagreeing_samples():
    assert features(AGREEING) == {"sample_disagreement": pytest.approx(0.1), "values_alone": 0.0, "no_samples": 0.0}
    assert features(DISAGREEING) == {"sample_disagreement": pytest.approx(0.8), "values_alone": 2.0, "no_samples": 0.0}


def test_absent_samples_never_read_as_agreement():
    absent = features(ONE_CANDIDATE)
    assert absent == {"sample_disagreement": 1.0, "values_alone": 1.0, "no_samples": 1.0}
    for name in ("sample_disagreement", "values_alone"):
        assert absent[name] >= features(AGREEING)[name]
    assert features(OLD_SIGNALS) == {"sample_disagreement": 1.0, "values_alone": 0.0, "no_samples": 1.0}


def test_agreement_features_are_not_default_features_unless_cv_kept_them():
    # docs/GATE.md "Agreement between samples": kept only if grouped CV on the dev split showed a gain
    assert not set(AGREEMENT_FEATURES) & set(DEFAULT_FEATURES)


MODEL = {
    "version": 1,
    "features": [*AGREEMENT_FEATURES, "neg_mean_logprob"],
    "mean": [0.4, 0.6, 0.3, 0.5],
    "scale": [0.3, 0.8, 0.4, 0.5],
    "coef": [1.1, 0.7, -0.4, 0.9],
    "intercept": -0.3,
}


@pytest.mark.django_db
@pytest.mark.parametrize("signals", [AGREEING, DISAGREEING, ONE_CANDIDATE, OLD_SIGNALS, NOTHING_TO_CHECK])
def test_sql_scores_the_agreement_features_like_the_pure_inference(signals):
    signals = {**signals, "has_logprobs": True, "mean_logprob": -0.7}
    description = DescriptionFactory()
    sentence = Sentence.objects.create(
        description=description, index=0, char_start=0, char_end=1, text="x", signals=signals
    )
    sql = Sentence.objects.filter(pk=sentence.pk).annotate(fitted=fitted_risk_expression(MODEL)).get().fitted
    assert sql == pytest.approx(fitted_risk(signals, MODEL), abs=1e-9)

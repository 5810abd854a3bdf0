import json
import math

import pytest

from reviewq.gating.features import BASE_FEATURES, EXTRACTORS, feature_vector
from reviewq.gating.inference import check_model, fitted_risk

MODEL = {
    "version": 1,
    "features": ["neg_mean_logprob", "hard_flag"],
    "mean": [1.0, 0.0],
    "scale": [0.5, 1.0],
    "coef": [1.0, 2.0],
    "intercept": -1.0,
}


def test_fitted_risk_hand_computed():
    # z = -1 + 1 * (2 - 1) / 0.5 + 2 * 1 = 3
    signals = {"mean_logprob": -2.0, "hard_flag": True, "has_logprobs": True}
    assert fitted_risk(signals, MODEL) == pytest.approx(1 / (1 + math.exp(-3)))
    # z = -1 + (0.5 - 1) / 0.5 + 0 = -2
    assert fitted_risk({"mean_logprob": -0.5, "hard_flag": False}, MODEL) == pytest.approx(1 / (1 + math.exp(2)))


def test_fitted_risk_is_stable_far_out():
    far = {**MODEL, "intercept": -1000.0}
    assert fitted_risk({"mean_logprob": -1.0}, far) == pytest.approx(0.0)
    assert fitted_risk({"mean_logprob": -1.0}, {**MODEL, "intercept": 1000.0}) == 1.0


def test_model_survives_json():
    assert fitted_risk({"mean_logprob": -1.2}, json.loads(json.dumps(MODEL))) == fitted_risk(
        {"mean_logprob": -1.2}, MODEL
    )


def test_check_model():
    check_model(MODEL)
    with pytest.raises(ValueError, match="lacks coef"):
        check_model({k: v for k, v in MODEL.items() if k != "coef"})
    with pytest.raises(ValueError, match="1 scale values for 2"):
        check_model({**MODEL, "scale": [1.0]})
    with pytest.raises(ValueError, match="not positive"):
        check_model({**MODEL, "scale": [1.0, 0.0]})


def test_features_of_a_sentence_without_logprobs_and_of_old_signals():
    x = dict(
        zip(BASE_FEATURES, feature_vector({"has_logprobs": False, "mean_logprob": None}, BASE_FEATURES), strict=True)
    )
    assert x["no_logprobs"] == 1.0 and x["neg_mean_logprob"] == 0.0
    # Signals stored before a feature existed read as 0.
    assert feature_vector({}, ["n_untraced", "n_swapped"]) == [0.0, 0.0]


def test_features_are_negated_capped_and_flags():
    signals = {"mean_logprob": -25.0, "has_logprobs": True, "n_unsupported": 7, "not_prose": True, "n_tokens": 9}
    x = dict(zip(EXTRACTORS, feature_vector(signals, list(EXTRACTORS)), strict=True))
    assert x["neg_mean_logprob"] == 10.0
    assert x["n_unsupported"] == 2.0
    assert x["not_prose"] == 1.0 and x["has_meta"] == 0.0
    assert x["log_n_tokens"] == pytest.approx(math.log(10))
    assert x["no_logprobs"] == 0.0

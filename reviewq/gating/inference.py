"""Score a sentence with a fitted gate model: pure, no scikit-learn.

A fitted model is a JSON-able dict (reviewq/gating/fit.py `fit_risk_model` writes it):

    {"version": 1, "features": [names], "mean": [...], "scale": [...], "coef": [...],
     "intercept": float, ...}                (other keys: provenance, ignored here)

    risk = sigmoid(intercept + sum_i coef_i * (x_i - mean_i) / scale_i)

with x = features.feature_vector(signals, model["features"]).
"""

import math
from collections.abc import Mapping
from typing import Any

from reviewq.gating.features import feature_vector

MODEL_VERSION = 1
MODEL_KEYS = ("features", "mean", "scale", "coef", "intercept")


def check_model(model: Mapping[str, Any]) -> None:
    """Raise ValueError unless `model` is a usable fitted model dict."""
    missing = [key for key in MODEL_KEYS if key not in model]
    if missing:
        raise ValueError(f"fitted model lacks {', '.join(missing)}")
    n = len(model["features"])
    for key in ("mean", "scale", "coef"):
        if len(model[key]) != n:
            raise ValueError(f"fitted model has {len(model[key])} {key} values for {n} features")
    if any(not scale > 0 for scale in model["scale"]):
        raise ValueError("fitted model has a scale that is not positive")


def logit(signals: Mapping[str, Any], model: Mapping[str, Any]) -> float:
    x = feature_vector(signals, model["features"])
    z = float(model["intercept"])
    for value, mean, scale, coef in zip(x, model["mean"], model["scale"], model["coef"], strict=True):
        z += coef * (value - mean) / scale
    return z


def fitted_risk(signals: Mapping[str, Any], model: Mapping[str, Any]) -> float:
    """The fitted model's probability that the sentence is an error, in (0, 1)."""
    z = logit(signals, model)
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def fitted_band(
    *, hand_band: str, signals: Mapping[str, Any], risk: float, cutoff: float | None, flag_cutoff: float | None = None
) -> str:
    """A sentence's band under an adopted fitted model. Whatever flags the hand-set gate (hard
    flags, thresholds) stays flagged; the fitted risk flags too at or above `flag_cutoff` (the
    cut-off certified at a target catch rate), and otherwise decides publish vs review: a warning
    or missing logprobs never publishes."""
    if hand_band == "flag" or signals.get("hard_flag"):
        return "flag"
    if flag_cutoff is not None and risk >= flag_cutoff:
        return "flag"
    publishable = signals.get("has_logprobs") and signals.get("mean_logprob") is not None
    if cutoff is not None and publishable and not signals.get("has_warning") and risk <= cutoff:
        return "publish"
    return "review"

"""Fit the gate's risk model from labelled sentences, and cross-validate it by product.

Fitting needs scikit-learn (and numpy); scoring does not: `fit_risk_model` returns a plain
JSON-able dict that reviewq/gating/inference.py scores with. No Django here either.

- Model: features.feature_vector -> standardised (mean/scale stored in the dict) -> L2
  logistic regression (scikit-learn LogisticRegression, lbfgs). C and class_weight were chosen
  by grouped cross-validation on the dev splits only (docs/GATE.md).
- Folds: GroupKFold over a group key (the product), so no product is in both a training and
  a test fold; `group_folds` checks that and raises if it ever fails.
- Publish cut-off per test fold: chosen from out-of-fold risks of an inner GroupKFold on the
  training folds alone, its bound discounted by the design effect of their products
  (reviewq/gating/cutoffs.py), never from the test fold.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import GroupKFold

from reviewq.gating.cutoffs import clopper_pearson_upper, publish_cutoff
from reviewq.gating.features import DEFAULT_FEATURES, feature_vector
from reviewq.gating.inference import MODEL_VERSION

DEFAULT_C = 0.3
DEFAULT_CLASS_WEIGHT: str | None = None


@dataclass(frozen=True)
class FitParams:
    features: tuple[str, ...] = DEFAULT_FEATURES
    C: float = DEFAULT_C  # inverse L2 strength on standardised features
    class_weight: str | None = DEFAULT_CLASS_WEIGHT  # None or "balanced"


DEFAULT_PARAMS = FitParams()


def design_matrix(signals: Sequence[Mapping[str, Any]], features: Sequence[str]) -> np.ndarray:
    return np.array([feature_vector(s, features) for s in signals], dtype=float).reshape(len(signals), len(features))


def fit_risk_model(X: np.ndarray, y: Sequence[bool], params: FitParams = DEFAULT_PARAMS) -> dict[str, Any]:
    """A fitted model dict (see inference.py). With one class only, a constant model at the
    smoothed base rate (all weights 0)."""
    y = np.asarray(y, dtype=bool)
    mean = X.mean(axis=0) if len(X) else np.zeros(X.shape[1])
    scale = X.std(axis=0) if len(X) else np.ones(X.shape[1])
    scale = np.where(scale > 1e-12, scale, 1.0)
    if y.all() or not y.any():
        rate = (y.sum() + 0.5) / (len(y) + 1.0)
        coef, intercept = np.zeros(X.shape[1]), float(np.log(rate / (1.0 - rate)))
    else:
        regression = LogisticRegression(C=params.C, class_weight=params.class_weight, max_iter=5000)
        regression.fit((X - mean) / scale, y)
        coef, intercept = regression.coef_[0], float(regression.intercept_[0])
    return {
        "version": MODEL_VERSION,
        "features": list(params.features),
        "mean": [float(v) for v in mean],
        "scale": [float(v) for v in scale],
        "coef": [float(v) for v in coef],
        "intercept": intercept,
        "C": params.C,
        "class_weight": params.class_weight,
        "labels": len(y),
        "errors": int(y.sum()),
    }


def predict_risk(model: Mapping[str, Any], X: np.ndarray) -> np.ndarray:
    """inference.fitted_risk over a design matrix (same formula, vectorised)."""
    z = model["intercept"] + ((X - np.asarray(model["mean"])) / np.asarray(model["scale"])) @ np.asarray(model["coef"])
    return 1.0 / (1.0 + np.exp(-z))


def group_folds(groups: Sequence[str], k: int, seed: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index arrays of a GroupKFold with min(k, number of groups) folds (size-
    balanced; with a seed, groups shuffled for repeated CV). Raises ValueError with fewer than
    two groups, or if a group lands on both sides."""
    groups = np.asarray(groups)
    n_groups = len(set(groups.tolist()))
    if n_groups < 2 or k < 2:
        raise ValueError(f"cross-validation needs k >= 2 and two groups or more (k={k}, {n_groups} groups)")
    splitter = GroupKFold(n_splits=min(k, n_groups), shuffle=seed is not None, random_state=seed)
    folds = list(splitter.split(np.zeros(len(groups)), groups=groups))
    for train, test in folds:
        if set(groups[train].tolist()) & set(groups[test].tolist()):
            raise ValueError("a group is in both a training and a test fold")
    return folds


def out_of_fold_risk(
    X: np.ndarray, y: np.ndarray, groups: np.ndarray, k: int, params: FitParams, seed: int | None = None
) -> np.ndarray:
    """Each sentence's risk from a model fitted without its group."""
    risk = np.empty(len(y))
    for train, test in group_folds(groups, k, seed):
        risk[test] = predict_risk(fit_risk_model(X[train], y[train], params), X[test])
    return risk


@dataclass
class CrossValidation:
    risk: np.ndarray  # out-of-fold fitted risk per sentence
    published: np.ndarray  # bool: at or below its fold's cut-off
    folds: list[dict[str, Any]] = field(default_factory=list)


def cross_validate(
    X: np.ndarray,
    y: Sequence[bool],
    groups: Sequence[str],
    *,
    k: int,
    target_escape: float,
    confidence: float,
    params: FitParams = DEFAULT_PARAMS,
) -> CrossValidation:
    """Out-of-fold fitted risk, and which test sentences each fold's cut-off would publish.
    The cut-off for a test fold comes from inner out-of-fold risks on its training folds."""
    y = np.asarray(y, dtype=bool)
    groups = np.asarray(groups)
    risk = np.empty(len(y))
    published = np.zeros(len(y), dtype=bool)
    folds = []
    for train, test in group_folds(groups, k):
        model = fit_risk_model(X[train], y[train], params)
        risk[test] = predict_risk(model, X[test])
        train_groups = sorted(set(groups[train].tolist()))
        if len(train_groups) >= 2:
            inner = out_of_fold_risk(X[train], y[train], groups[train], k, params)
            cut = publish_cutoff(
                inner.tolist(),
                y[train].tolist(),
                target=target_escape,
                confidence=confidence,
                groups=groups[train].tolist(),
            )
        else:
            cut = publish_cutoff([], [], target=target_escape, confidence=confidence)
        if cut.cutoff is not None:
            published[test] = risk[test] <= cut.cutoff
        folds.append(
            {
                "train_groups": train_groups,
                "test_groups": sorted(set(groups[test].tolist())),
                "cutoff": cut.cutoff,
                "calibration_published": cut.published,
                "calibration_bound": cut.upper_bound,
                "labels_needed": cut.labels_needed,
                "test_published": int(published[test].sum()),
                "test_published_errors": int((published[test] & y[test]).sum()),
            }
        )
    return CrossValidation(risk=risk, published=published, folds=folds)


def ranking_metrics(y: Sequence[bool], scores: Mapping[str, Sequence[float]]) -> dict[str, dict[str, float | None]]:
    """ROC-AUC and PR-AUC (average precision) of each score (higher = riskier); None
    without both classes."""
    y = np.asarray(y, dtype=bool)
    both = bool(y.any() and not y.all())
    result: dict[str, dict[str, float | None]] = {"roc_auc": {}, "pr_auc": {}}
    for name, values in scores.items():
        values = np.nan_to_num(np.asarray(values, dtype=float), posinf=1e9, neginf=-1e9)
        result["roc_auc"][name] = float(roc_auc_score(y, values)) if both else None
        result["pr_auc"][name] = float(average_precision_score(y, values)) if both else None
    return result


def publish_summary(y: Sequence[bool], published: Sequence[bool], confidence: float) -> dict[str, Any]:
    """Auto-published sentences on the test folds: count, errors, the share of all correct
    sentences they are, their escape rate and its Clopper-Pearson upper bound."""
    y = np.asarray(y, dtype=bool)
    published = np.asarray(published, dtype=bool)
    n, errors, correct = int(published.sum()), int((published & y).sum()), int((~y).sum())
    return {
        "published": n,
        "published_errors": errors,
        "published_correct_share": (n - errors) / correct if correct else None,
        "escape_rate": errors / n if n else None,
        "escape_rate_upper": clopper_pearson_upper(errors, n, confidence) if n else None,
    }

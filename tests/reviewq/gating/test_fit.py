import json

import numpy as np
import pytest

from reviewq.gating import fit
from reviewq.gating.fit import (
    FitParams,
    cross_validate,
    design_matrix,
    fit_risk_model,
    group_folds,
    predict_risk,
    publish_summary,
    ranking_metrics,
)
from reviewq.gating.inference import check_model, fitted_risk

FEATURES = ("neg_mean_logprob", "hard_flag", "n_unsupported")


def synthetic(n_groups=12, per_group=10, seed=0):
    """Sentences whose errors follow hard_flag and low mean logprob, in groups ("products")."""
    rng = np.random.default_rng(seed)
    signals, errors, groups = [], [], []
    for g in range(n_groups):
        for _ in range(per_group):
            error = bool(rng.random() < 0.4)
            mean = -rng.uniform(1.0, 3.0) if error else -rng.uniform(0.0, 1.2)
            signals.append(
                {
                    "has_logprobs": True,
                    "mean_logprob": mean,
                    "hard_flag": error and rng.random() < 0.5,
                    "n_unsupported": int(rng.integers(0, 2)),
                }
            )
            errors.append(error)
            groups.append(f"P-{g}")
    return signals, np.array(errors), np.array(groups)


def test_fitted_model_is_json_and_scored_the_same_without_sklearn():
    signals, y, _ = synthetic()
    params = FitParams(features=FEATURES, C=1.0)
    X = design_matrix(signals, FEATURES)
    model = json.loads(json.dumps(fit_risk_model(X, y, params)))
    check_model(model)
    assert model["labels"] == len(y) and model["errors"] == int(y.sum())
    vectorised = predict_risk(model, X)
    assert [fitted_risk(s, model) for s in signals] == pytest.approx(vectorised.tolist(), abs=1e-12)
    weights = dict(zip(model["features"], model["coef"], strict=True))
    assert weights["neg_mean_logprob"] > 0 and weights["hard_flag"] > 0


def test_one_class_gives_a_constant_model_at_the_smoothed_rate():
    X = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 0.0]])
    model = fit_risk_model(X, [True, True, True], FitParams(features=("neg_mean_logprob", "hard_flag")))
    assert model["coef"] == [0.0, 0.0]
    assert predict_risk(model, X) == pytest.approx([3.5 / 4] * 3)


def test_group_folds_never_split_a_group():
    groups = np.array(["a"] * 5 + ["b"] * 3 + ["c"] * 7 + ["d"] * 2 + ["e"] * 4)
    folds = group_folds(groups, 4)
    assert len(folds) == 4
    tested = []
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])
        assert len(train) + len(test) == len(groups)
        tested += groups[test].tolist()
    assert sorted(tested) == sorted(groups.tolist())  # every sentence is tested exactly once


def test_group_folds_clamp_k_and_refuse_one_group():
    assert len(group_folds(["a", "a", "b"], 5)) == 2
    with pytest.raises(ValueError, match="two groups"):
        group_folds(["a", "a"], 4)
    with pytest.raises(ValueError, match="k >= 2"):
        group_folds(["a", "b"], 1)


def test_cross_validation_ranks_a_learnable_signal_and_publishes_within_target():
    signals, y, groups = synthetic(n_groups=20, per_group=15)
    X = design_matrix(signals, FEATURES)
    cv = cross_validate(X, y, groups, k=4, target_escape=0.1, confidence=0.95, params=FitParams(features=FEATURES))
    metrics = ranking_metrics(y, {"fitted": cv.risk})
    assert metrics["roc_auc"]["fitted"] > 0.9
    summary = publish_summary(y, cv.published, 0.95)
    assert summary["published"] > 0
    assert summary["escape_rate"] <= 0.1
    assert len(cv.folds) == 4
    for fold in cv.folds:
        assert not set(fold["train_groups"]) & set(fold["test_groups"])


def test_cut_off_is_chosen_from_training_folds_only(monkeypatch):
    signals, y, groups = synthetic(n_groups=8, per_group=10)
    X = design_matrix(signals, FEATURES)
    seen = []
    real = fit.publish_cutoff

    def spy(risks, errors, **kwargs):
        seen.append(list(errors))
        return real(risks, errors, **kwargs)

    monkeypatch.setattr(fit, "publish_cutoff", spy)
    cross_validate(X, y, groups, k=4, target_escape=0.1, confidence=0.95, params=FitParams(features=FEATURES))
    folds = group_folds(groups, 4)
    assert [len(labels) for labels in seen] == [len(train) for train, _ in folds]
    assert seen == [y[train].tolist() for train, _ in folds]


def test_ranking_metrics_are_sklearns_and_none_for_one_class():
    metrics = ranking_metrics([False, False, True, True], {"s": [0.1, 0.4, 0.35, 0.8]})
    assert metrics["roc_auc"]["s"] == pytest.approx(0.75)
    assert metrics["pr_auc"]["s"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    # Infinite baseline scores (no logprobs) rank as the riskiest, not as an error.
    assert ranking_metrics([False, True], {"s": [0.1, float("inf")]})["roc_auc"]["s"] == 1.0
    assert ranking_metrics([True, True], {"s": [0.1, 0.2]})["roc_auc"]["s"] is None


def test_publish_summary_hand_computed():
    summary = publish_summary([False, False, False, True, True], [True, True, False, True, False], 0.95)
    assert summary["published"] == 3 and summary["published_errors"] == 1
    assert summary["published_correct_share"] == pytest.approx(2 / 3)
    assert summary["escape_rate"] == pytest.approx(1 / 3)
    empty = publish_summary([False, True], [False, False], 0.95)
    assert empty["escape_rate"] is None and empty["published_correct_share"] == 0.0

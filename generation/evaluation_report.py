"""Figures from a gate evaluation: ranking metrics, band counts, and the cross-validated fit.

`cross_validate_evaluation` (gate_eval --cv K) fits the risk model of reviewq/gating/fit.py
per model ("model" key, else the completion's model) by folds grouped by product ("product"
key, else "name") and reports its out-of-fold ranking and auto-publishing, pooled, by model
and by distribution ("distribution" key, else the model: the same out-of-fold results sliced
by how the copy was sampled); its metrics are scikit-learn's.

Scores compared: the gate's risk (higher = riskier) and plain mean token logprob (negated,
so higher = riskier too). ROC-AUC is tie-aware (a tied error/ok pair counts 1/2); PR-AUC is
average precision with tied scores taken as one threshold (as scikit-learn computes it).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from generation.evaluation import BANDS, EvaluatedSentence, Evaluation
from reviewq.gating.features import EXTRACTORS
from reviewq.gating.fit import (
    DEFAULT_PARAMS,
    CrossValidation,
    FitParams,
    cross_validate,
    design_matrix,
    fit_risk_model,
    publish_summary,
    ranking_metrics,
)
from reviewq.gating.gate import FLAG, PUBLISH
from reviewq.gating.verifier import SIGNAL_KEY as VERIFIER_KEY

# ---------------------------------------------------------------------------------------------
# Metrics


def roc_auc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """P(score of a random error > score of a random ok sentence), ties counting 1/2
    (Mann-Whitney U with average ranks). None without both classes."""
    n_pos = sum(1 for label in labels if label)
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    rank_sum = 0.0
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        average_rank = (i + j) / 2 + 1  # ranks i+1..j+1
        rank_sum += average_rank * sum(1 for k in order[i : j + 1] if labels[k])
        i = j + 1
    u = rank_sum - n_pos * (n_pos + 1) / 2
    return u / (n_pos * n_neg)


def average_precision(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """Area under the precision-recall curve as sum over thresholds of (R_k - R_{k-1}) * P_k,
    all sentences with an equal score entering at once. None without errors."""
    n_pos = sum(1 for label in labels if label)
    if n_pos == 0:
        return None
    order = sorted(range(len(scores)), key=lambda i: scores[i], reverse=True)
    ap = 0.0
    seen = hits = 0
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        group = order[i : j + 1]
        new_hits = sum(1 for k in group if labels[k])
        seen += len(group)
        hits += new_hits
        ap += (new_hits / n_pos) * (hits / seen)
        i = j + 1
    return ap


def mean_logprob_risk(mean_logprob: float | None) -> float:
    """The baseline as a risk score: -mean logprob (no logprobs = riskiest)."""
    return math.inf if mean_logprob is None else -mean_logprob


def verifier_risk(signals: Mapping[str, Any]) -> float:
    """The verifier alone as a risk score: 1 - P(True), 0.5 (no opinion) without a verdict."""
    return EXTRACTORS["verifier_doubt"](signals)


def verified_count(sentences: Sequence[EvaluatedSentence]) -> int:
    """How many sentences carry a verifier verdict."""
    return sum(1 for s in sentences if s.signals.get(VERIFIER_KEY) is not None)


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def summarise(evaluation: Evaluation) -> dict[str, Any]:
    """All figures of an evaluation as a JSON-ready dict."""
    sentences = evaluation.sentences
    labels = [s.error for s in sentences]
    risk = [s.risk for s in sentences]
    baseline = [mean_logprob_risk(s.mean_logprob) for s in sentences]
    n = len(sentences)
    n_errors = sum(labels)
    band_counts = Counter(s.band for s in sentences)
    band_errors = Counter(s.band for s in sentences if s.error)
    description_counts = Counter(evaluation.description_bands)
    n_descriptions = len(evaluation.description_bands)
    caught = sum(1 for s in sentences if s.error and s.band != PUBLISH)
    flagged = band_errors[FLAG]
    kinds: dict[str, dict[str, Any]] = {}
    for kind in sorted({s.kind for s in sentences if s.error}):
        of_kind = [s for s in sentences if s.error and s.kind == kind]
        kinds[kind or "unspecified"] = {
            "errors": len(of_kind),
            "caught": sum(1 for s in of_kind if s.band != PUBLISH),
            "recall": _rate(sum(1 for s in of_kind if s.band != PUBLISH), len(of_kind)),
        }
    t = evaluation.thresholds
    verified = verified_count(sentences)
    roc = {"risk": roc_auc(risk, labels), "mean_logprob": roc_auc(baseline, labels)}
    pr = {"risk": average_precision(risk, labels), "mean_logprob": average_precision(baseline, labels)}
    if verified:
        doubt = [verifier_risk(s.signals) for s in sentences]
        roc["verifier"], pr["verifier"] = roc_auc(doubt, labels), average_precision(doubt, labels)
    return {
        "thresholds": {
            "publish_above": t.publish_above,
            "flag_below": t.flag_below,
            "critical_floor": t.critical_floor,
        },
        "descriptions": n_descriptions,
        "sentences": n,
        "errors": n_errors,
        "unlabelled_sentences": evaluation.unlabelled,
        "verified_sentences": verified,
        "roc_auc": roc,
        "pr_auc": pr,
        "error_base_rate": _rate(n_errors, n),
        "sentence_bands": {
            band: {
                "count": band_counts[band],
                "share": _rate(band_counts[band], n),
                "errors": band_errors[band],
                "error_rate": _rate(band_errors[band], band_counts[band]),
            }
            for band in BANDS
        },
        "description_bands": {
            band: {"count": description_counts[band], "share": _rate(description_counts[band], n_descriptions)}
            for band in BANDS
        },
        "escape_rate": _rate(band_errors[PUBLISH], band_counts[PUBLISH]),
        "recall": _rate(caught, n_errors),
        "flag_recall": _rate(flagged, n_errors),
        "recall_by_kind": kinds,
    }


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def format_summary(summary: Mapping[str, Any]) -> str:
    """The human-readable report gate_eval prints."""
    t = summary["thresholds"]
    lines = [
        f"thresholds: publish_above={t['publish_above']:g} flag_below={t['flag_below']:g} "
        f"critical_floor={t['critical_floor']:g}",
        f"{summary['descriptions']} descriptions, {summary['sentences']} sentences, "
        f"{summary['errors']} errors ({_pct(summary['error_base_rate'])})"
        + (f", {summary['unlabelled_sentences']} unlabelled skipped" if summary["unlabelled_sentences"] else ""),
        "",
        f"{'score':<14}{'ROC-AUC':>9}{'PR-AUC':>9}",
        f"{'gate risk':<14}{_num(summary['roc_auc']['risk']):>9}{_num(summary['pr_auc']['risk']):>9}",
        f"{'mean logprob':<14}{_num(summary['roc_auc']['mean_logprob']):>9}"
        f"{_num(summary['pr_auc']['mean_logprob']):>9}",
        *(
            [
                f"{'verifier':<14}{_num(summary['roc_auc']['verifier']):>9}{_num(summary['pr_auc']['verifier']):>9}"
                f"  (1 - P(True); {summary['verified_sentences']} of {summary['sentences']} sentences judged)"
            ]
            if "verifier" in summary["roc_auc"]
            else []
        ),
        "",
        f"{'band':<9}{'sentences':>10}{'share':>8}{'errors':>8}{'err rate':>10}{'descr.':>8}{'share':>8}",
    ]
    for band in BANDS:
        s, d = summary["sentence_bands"][band], summary["description_bands"][band]
        lines.append(
            f"{band:<9}{s['count']:>10}{_pct(s['share']):>8}{s['errors']:>8}{_pct(s['error_rate']):>10}"
            f"{d['count']:>8}{_pct(d['share']):>8}"
        )
    lines += [
        "",
        f"escape rate (errors among published sentences): {_pct(summary['escape_rate'])}",
        f"recall (errors sent to review or flag): {_pct(summary['recall'])}; flagged: {_pct(summary['flag_recall'])}",
    ]
    if summary["recall_by_kind"]:
        lines.append(
            "recall by kind: "
            + ", ".join(f"{kind} {k['caught']}/{k['errors']}" for kind, k in summary["recall_by_kind"].items())
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Cross-validated fit (gate_eval --cv K): the same fitting code gate_fit will run


def _scope_summary(sentences: Sequence[EvaluatedSentence], cv: CrossValidation, confidence: float) -> dict[str, Any]:
    labels = [s.error for s in sentences]
    scores = {
        "fitted": cv.risk.tolist(),
        "gate": [s.risk for s in sentences],
        "mean_logprob": [mean_logprob_risk(s.mean_logprob) for s in sentences],
    }
    verified = verified_count(sentences)
    if verified:
        scores["verifier"] = [verifier_risk(s.signals) for s in sentences]
    metrics = ranking_metrics(labels, scores)
    return {
        "sentences": len(sentences),
        "verified_sentences": verified,
        "errors": sum(labels),
        "groups": len({s.group for s in sentences}),
        **metrics,
        **publish_summary(labels, cv.published.tolist(), confidence),
    }


def model_key(model: str) -> str:
    """A model name as a by_model key a dotted-path reader can walk: "." -> "_"
    ("qwen2.5-coder-0.5b-instruct" -> "qwen2_5-coder-0_5b-instruct")."""
    return model.replace(".", "_")


def cross_validate_evaluation(
    evaluation: Evaluation,
    *,
    k: int,
    target_escape: float = 0.1,
    confidence: float = 0.95,
    params: FitParams = DEFAULT_PARAMS,
) -> dict[str, Any]:
    """Fit per model with folds grouped by product; fitted vs gate vs mean-logprob ranking,
    and what each test fold's cut-off (chosen on its training folds) auto-publishes. Overall
    figures pool the per-model out-of-fold results. Raises ValueError if a model's sentences
    come from fewer than two groups."""
    sentences = evaluation.sentences
    risk = np.empty(len(sentences))
    published = np.zeros(len(sentences), dtype=bool)
    by_model: dict[str, Any] = {}
    for model in sorted({s.model for s in sentences}):
        index = [i for i, s in enumerate(sentences) if s.model == model]
        own = [sentences[i] for i in index]
        X = design_matrix([s.signals for s in own], params.features)
        y = [s.error for s in own]
        try:
            cv = cross_validate(
                X, y, [s.group for s in own], k=k, target_escape=target_escape, confidence=confidence, params=params
            )
        except ValueError as exc:
            raise ValueError(f"model {model!r}: {exc}") from None
        risk[index], published[index] = cv.risk, cv.published
        fitted = fit_risk_model(X, y, params)
        by_model[model_key(model)] = {
            "model": model,
            **_scope_summary(own, cv, confidence),
            "folds": cv.folds,
            "weights": dict(zip(fitted["features"], (round(c, 4) for c in fitted["coef"]), strict=True)),
            "intercept": round(fitted["intercept"], 4),
        }
    pooled = CrossValidation(risk=risk, published=published)
    by_distribution: dict[str, Any] = {}
    for distribution in sorted({s.distribution or s.model for s in sentences}):
        index = [i for i, s in enumerate(sentences) if (s.distribution or s.model) == distribution]
        own = [sentences[i] for i in index]
        models = sorted({s.model for s in own})
        # The same keys as by_model; the fold results and the fit are its model's (a
        # distribution spanning models reports the folds and fit of none).
        fit = by_model[model_key(models[0])] if len(models) == 1 else {}
        by_distribution[model_key(distribution)] = {
            "distribution": distribution,
            "model": ", ".join(models),
            **_scope_summary(own, CrossValidation(risk=risk[index], published=published[index]), confidence),
            "folds": fit.get("folds", []),
            "weights": fit.get("weights", {}),
            "intercept": fit.get("intercept"),
        }
    return {
        "cv": k,
        "target_escape": target_escape,
        "confidence": confidence,
        "features": list(params.features),
        "C": params.C,
        "class_weight": params.class_weight,
        **_scope_summary(sentences, pooled, confidence),
        "by_model": by_model,
        "by_distribution": by_distribution,
    }


def format_cv_summary(summary: Mapping[str, Any]) -> str:
    """The human-readable report of gate_eval --cv."""
    lines = [
        f"{summary['cv']} folds grouped by product, fitted per model; publish cut-off per fold from its "
        f"training folds at escape <= {summary['target_escape']:g} ({100 * summary['confidence']:g}% confidence)",
        "",
        f"{'scope':<30}{'sent.':>6}{'err.':>6}{'fitted':>8}{'gate':>7}{'mean lp':>8}{'PR fit':>8}"
        f"{'publ.':>7}{'correct publ.':>15}{'escape':>8}",
    ]
    scopes = [("all", summary), *summary["by_model"].items()]
    scopes += [(f"  {name}", scope) for name, scope in summary.get("by_distribution", {}).items()]
    for name, scope in scopes:
        name = f"  {scope['distribution']}" if "distribution" in scope else scope.get("model", name)
        lines.append(
            f"{name[:29]:<30}{scope['sentences']:>6}{scope['errors']:>6}{_num(scope['roc_auc']['fitted']):>8}"
            f"{_num(scope['roc_auc']['gate']):>7}{_num(scope['roc_auc']['mean_logprob']):>8}"
            f"{_num(scope['pr_auc']['fitted']):>8}{scope['published']:>7}"
            f"{_pct(scope['published_correct_share']):>15}{_pct(scope['escape_rate']):>8}"
        )
    lines.append(
        "(ROC-AUC: fitted, gate, mean logprob; PR-AUC of the fitted risk; published on test folds; "
        "indented: by distribution, scored with its model's folds)"
    )
    if "verifier" in summary["roc_auc"]:
        lines.append(
            "verifier alone (1 - P(True)), ROC-AUC: "
            + ", ".join(
                f"{scope.get('distribution') or scope.get('model', name)} {_num(scope['roc_auc'].get('verifier'))}"
                for name, scope in scopes
            )
        )
    return "\n".join(lines)

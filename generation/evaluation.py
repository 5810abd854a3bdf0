"""Gate evaluation on labelled completions (pure: no database access).

A label file holds one JSON object per line:

    {"attributes": {...}, "completion": {OpenAI chat.completion}, "sentences": [
        {"text": "...", "start": 0, "end": 42, "error": true}, ...]}

optionally with "name" (the product name), "id", "split" and any other key (ignored).
`start`/`end` are character offsets into choices[0].message.content. Each line is parsed,
aligned and gated exactly as production stores a completion (completion_from_openai ->
align -> gate_description); each of our sentences takes the label of the labelled span it
overlaps most, so the labels may come from another sentence splitter.

`cross_validate_evaluation` (gate_eval --cv K) fits the risk model of reviewq/gating/fit.py
per model ("model" key, else the completion's model) by folds grouped by product ("product"
key, else "name") and reports its out-of-fold ranking and auto-publishing; its metrics are
scikit-learn's.

Scores compared: the gate's risk (higher = riskier) and plain mean token logprob (negated,
so higher = riskier too). ROC-AUC is tie-aware (a tied error/ok pair counts 1/2); PR-AUC is
average precision with tied scores taken as one threshold (as scikit-learn computes it).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from generation.alignment import align
from generation.providers.openai_compat import completion_from_openai
from generation.storage import gate_input
from generation.types import Completion
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
from reviewq.gating.gate import FLAG, PUBLISH, REVIEW, GateThresholds
from reviewq.gating.service import gate_description

BANDS = (PUBLISH, REVIEW, FLAG)
SPLITS = ("dev", "heldout", "all")
EVAL_PROVIDER = "gate_eval"


class LabelFileError(ValueError):
    """A malformed label line; the message starts with "line N:"."""


@dataclass(frozen=True, slots=True)
class LabelledSpan:
    start: int
    end: int
    error: bool
    kind: str = ""


@dataclass(frozen=True)
class LabelledCase:
    line: int
    id: str
    attributes: Mapping[str, Any]
    name: str
    completion: Mapping[str, Any]
    spans: tuple[LabelledSpan, ...]
    split: str = ""
    prompt: str = ""  # the prompt text, as stored on Description.prompt (optional)
    group: str = ""  # cross-validation fold group: the "product" key, else the name, else the id
    model: str = ""  # the "model" key, else the completion's model


@dataclass(frozen=True, slots=True)
class EvaluatedSentence:
    case: str
    index: int
    text: str
    error: bool
    kind: str
    band: str
    risk: float
    mean_logprob: float | None
    reasons: tuple[str, ...] = ()
    signals: Mapping[str, Any] = field(default_factory=dict)
    group: str = ""
    model: str = ""
    span: int = -1  # index of the labelled span it took its label from


@dataclass
class Evaluation:
    sentences: list[EvaluatedSentence]
    description_bands: list[str]
    unlabelled: int = 0
    thresholds: GateThresholds = field(default_factory=GateThresholds)


# ---------------------------------------------------------------------------------------------
# Reading label files


def _fail(line: int, message: str) -> LabelFileError:
    return LabelFileError(f"line {line}: {message}")


def _parse_span(raw: Any, *, line: int, position: int, length: int) -> LabelledSpan:
    where = f"sentences[{position}]"
    if not isinstance(raw, Mapping):
        raise _fail(line, f"{where} must be an object, got {type(raw).__name__}")
    for key in ("start", "end", "error"):
        if key not in raw:
            raise _fail(line, f"{where} has no {key!r}")
    start, end, error = raw["start"], raw["end"], raw["error"]
    if isinstance(start, bool) or isinstance(end, bool) or not isinstance(start, int) or not isinstance(end, int):
        raise _fail(line, f"{where} start/end must be integers, got {start!r}, {end!r}")
    if not 0 <= start < end <= length:
        raise _fail(line, f"{where} span {start}..{end} is not inside the {length}-char message content")
    if not isinstance(error, bool):
        raise _fail(line, f"{where} error must be true or false, got {error!r}")
    kind = raw.get("kind") or ""
    return LabelledSpan(start=start, end=end, error=error, kind=str(kind))


def parse_case(text: str, *, line: int) -> LabelledCase:
    """One label line; raises LabelFileError naming the line for anything malformed."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(line, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, Mapping):
        raise _fail(line, f"expected a JSON object, got {type(data).__name__}")
    for key in ("attributes", "completion", "sentences"):
        if key not in data:
            raise _fail(line, f"missing key {key!r}")
    attributes, completion, sentences = data["attributes"], data["completion"], data["sentences"]
    if not isinstance(attributes, Mapping):
        raise _fail(line, "'attributes' must be an object")
    if not isinstance(completion, Mapping):
        raise _fail(line, "'completion' must be an object (an OpenAI chat.completion)")
    choices = completion.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise _fail(line, "'completion' has no choices")
    message = choices[0].get("message")
    content = message.get("content") if isinstance(message, Mapping) else None
    if not isinstance(content, str):
        raise _fail(line, "'completion' choices[0].message.content must be a string")
    if not isinstance(sentences, list):
        raise _fail(line, "'sentences' must be a list")
    spans = tuple(_parse_span(raw, line=line, position=i, length=len(content)) for i, raw in enumerate(sentences))
    case_id = str(data.get("id", f"line-{line}"))
    name = str(data.get("name") or data.get("product_name") or "")
    return LabelledCase(
        line=line,
        id=case_id,
        attributes=attributes,
        name=name,
        completion=completion,
        spans=spans,
        split=str(data.get("split") or ""),
        prompt=str(data.get("prompt") or ""),
        group=str(data.get("product") or name or case_id),
        model=str(data.get("model") or completion.get("model") or "unknown"),
    )


def read_cases(lines: Iterable[str]) -> list[LabelledCase]:
    """Every non-blank line of a label file (1-based line numbers in errors)."""
    return [parse_case(text, line=number) for number, text in enumerate(lines, start=1) if text.strip()]


def select_split(cases: Sequence[LabelledCase], split: str) -> list[LabelledCase]:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    return list(cases) if split == "all" else [case for case in cases if case.split == split]


# ---------------------------------------------------------------------------------------------
# Label mapping


def map_labels(ours: Sequence[tuple[int, int]], labelled: Sequence[LabelledSpan]) -> list[LabelledSpan | None]:
    """For each of our (start, end) sentences, the labelled span it overlaps most (the first
    on a tie); None when it overlaps none."""
    mapped: list[LabelledSpan | None] = []
    for start, end in ours:
        best, best_overlap = None, 0
        for span in labelled:
            overlap = min(end, span.end) - max(start, span.start)
            if overlap > best_overlap:
                best, best_overlap = span, overlap
        mapped.append(best)
    return mapped


# ---------------------------------------------------------------------------------------------
# Running the production path


def parse_completion(case: LabelledCase) -> Completion:
    completions = completion_from_openai(case.completion, provider=EVAL_PROVIDER)
    if not completions:
        raise _fail(case.line, "'completion' has no choices")
    return completions[0]


def evaluate(cases: Sequence[LabelledCase], *, thresholds: GateThresholds) -> Evaluation:
    """Parse, align and gate every case as production does and pair each sentence with its label."""
    sentences: list[EvaluatedSentence] = []
    description_bands: list[str] = []
    unlabelled = 0
    for case in cases:
        completion = parse_completion(case)
        tokens = completion.tokens
        try:
            alignment = align(completion.text, [t.text for t in tokens])
        except ValueError as exc:
            raise _fail(case.line, str(exc)) from None
        gate = gate_description(
            gate_input(
                completion=completion,
                alignment=alignment,
                attributes=case.attributes,
                product_name=case.name,
                prompt=case.prompt,
            ),
            thresholds=thresholds,
            publish_confident_now=False,
        )
        labels = map_labels([(s.start, s.end) for s in alignment.sentences], case.spans)
        bands = []
        for span, score, label in zip(alignment.sentences, gate.sentences, labels, strict=True):
            if label is None:
                unlabelled += 1
                continue
            bands.append(score.band)
            sentences.append(
                EvaluatedSentence(
                    case=case.id,
                    index=span.index,
                    text=span.text,
                    error=label.error,
                    kind=label.kind,
                    band=score.band,
                    risk=score.risk,
                    mean_logprob=score.mean_logprob,
                    reasons=tuple(score.reasons),
                    signals=score.signals,
                    group=case.group,
                    model=case.model,
                    span=case.spans.index(label),
                )
            )
        if bands:
            description_bands.append(worst_band(bands))
    return Evaluation(
        sentences=sentences, description_bands=description_bands, unlabelled=unlabelled, thresholds=thresholds
    )


def worst_band(bands: Iterable[str]) -> str:
    """A description's band: flag if any sentence is flagged, else review if any is, else publish."""
    return max(bands, key=BANDS.index)


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
        "roc_auc": {"risk": roc_auc(risk, labels), "mean_logprob": roc_auc(baseline, labels)},
        "pr_auc": {"risk": average_precision(risk, labels), "mean_logprob": average_precision(baseline, labels)},
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
    metrics = ranking_metrics(
        labels,
        {
            "fitted": cv.risk.tolist(),
            "gate": [s.risk for s in sentences],
            "mean_logprob": [mean_logprob_risk(s.mean_logprob) for s in sentences],
        },
    )
    return {
        "sentences": len(sentences),
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
    return {
        "cv": k,
        "target_escape": target_escape,
        "confidence": confidence,
        "features": list(params.features),
        "C": params.C,
        "class_weight": params.class_weight,
        **_scope_summary(sentences, pooled, confidence),
        "by_model": by_model,
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
    for name, scope in scopes:
        name = scope.get("model", name)
        lines.append(
            f"{name[:29]:<30}{scope['sentences']:>6}{scope['errors']:>6}{_num(scope['roc_auc']['fitted']):>8}"
            f"{_num(scope['roc_auc']['gate']):>7}{_num(scope['roc_auc']['mean_logprob']):>8}"
            f"{_num(scope['pr_auc']['fitted']):>8}{scope['published']:>7}"
            f"{_pct(scope['published_correct_share']):>15}{_pct(scope['escape_rate']):>8}"
        )
    lines.append("(ROC-AUC: fitted, gate, mean logprob; PR-AUC of the fitted risk; published on test folds)")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Writing completions as OpenAI chat.completion bodies


def completion_to_openai(completion: Completion, *, completion_id: str = "", created: int = 0) -> dict[str, Any]:
    """A chat.completion dict that completion_from_openai parses back to the same text, token
    texts, bytes and logprobs. An alternative whose text equals the chosen token's gets the
    chosen token's bytes (the only bytes known for a fragment of a multi-byte character)."""
    entries = []
    for token in completion.tokens:
        entries.append(
            {
                "token": token.text,
                "logprob": token.logprob,
                "bytes": list(token.bytes),
                "top_logprobs": [
                    {
                        "token": alt.text,
                        "logprob": alt.logprob,
                        "bytes": list(token.bytes if alt.text == token.text else alt.text.encode("utf-8")),
                    }
                    for alt in token.alternatives
                ],
            }
        )
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": completion.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": completion.text},
                "finish_reason": completion.finish_reason,
                "logprobs": {"content": entries} if completion.has_logprobs else None,
            }
        ],
        "usage": {
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "total_tokens": completion.prompt_tokens + completion.completion_tokens,
        },
    }

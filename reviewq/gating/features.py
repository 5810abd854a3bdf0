"""The fitted gate's inputs: one number per feature, read from a sentence's stored signals.

Pure: no Django, no scikit-learn. `feature_vector(signals, names)` is what both the fit
(reviewq/gating/fit.py) and the inference (reviewq/gating/inference.py) read, so a model fitted
on labels scores a stored sentence from the same numbers. A fitted model lists the feature
names it was fitted on; a signal missing from an older stored sentence reads as 0.

Conventions: log probabilities enter negated and capped (higher = riskier, like the hand-set
risk), counts are capped at a few (a fourth unsupported claim adds nothing a third did not),
flags are 0/1. Without logprobs every logprob-based feature is 0 and `no_logprobs` is 1.
Without a verifier verdict (reviewq/gating/verifier.py; off by default) `verifier_doubt` is
0.5, the judge's no-opinion point, never 0 (which would read as "supported"), and
`no_verifier` is 1.
Without other samples (one candidate, or signals stored before version 4) the agreement
features read as "no sample supports it", never as agreement: `sample_disagreement` 1, every
value of the sentence alone, and `no_samples` 1 (so a fit on mixed data can tell the two apart).
"""

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reviewq.gating.verifier import SIGNAL_KEY as VERIFIER_KEY

Signals = Mapping[str, Any]


def _neg(key: str, cap: float) -> Callable[[Signals], float]:
    def read(s: Signals) -> float:
        value = s.get(key)
        return 0.0 if value is None else min(-float(value), cap)

    return read


def _num(key: str, cap: float = math.inf) -> Callable[[Signals], float]:
    def read(s: Signals) -> float:
        value = s.get(key)
        return 0.0 if value is None else min(float(value), cap)

    return read


def _flag(key: str) -> Callable[[Signals], float]:
    return lambda s: 1.0 if s.get(key) else 0.0


def _n_tokens(s: Signals) -> float:
    return math.log1p(float(s.get("n_tokens") or 0))


def _no_logprobs(s: Signals) -> float:
    return 0.0 if s.get("has_logprobs") and s.get("mean_logprob") is not None else 1.0


# What verifier_doubt reads when no verdict is stored: no opinion either way.
VERIFIER_ABSENT_DOUBT = 0.5


def _verifier_doubt(s: Signals) -> float:
    value = s.get(VERIFIER_KEY)
    return VERIFIER_ABSENT_DOUBT if value is None else min(max(1.0 - float(value), 0.0), 1.0)


def _no_verifier(s: Signals) -> float:
    return 1.0 if s.get(VERIFIER_KEY) is None else 0.0


def _sample_disagreement(s: Signals) -> float:
    support = s.get("sample_support")
    return 1.0 if support is None else 1.0 - float(support)


def _values_alone(s: Signals) -> float:
    alone = s.get("n_values_alone")
    if alone is None:  # no other sample: none states the sentence's values
        alone = s.get("n_values") or 0
    return min(float(alone), 2.0)


def _no_samples(s: Signals) -> float:
    return 0.0 if (s.get("n_samples") or 0) > 0 else 1.0


EXTRACTORS: dict[str, Callable[[Signals], float]] = {
    "neg_mean_logprob": _neg("mean_logprob", 10.0),
    "neg_min_logprob": _neg("min_logprob", 20.0),
    "share_below_floor": _num("share_below_floor"),
    "mean_entropy": _num("mean_entropy", 5.0),
    "max_entropy": _num("max_entropy", 5.0),
    "min_margin": _num("min_margin"),
    "mean_margin": _num("mean_margin"),
    "neg_critical_min_logprob": _neg("critical_min_logprob", 10.0),
    "critical_max_entropy": _num("critical_max_entropy", 5.0),
    "n_critical": _num("n_critical", 5),
    "n_critical_ungrounded": _num("n_critical_ungrounded", 5),
    "n_grounded": _num("n_grounded", 5),
    "n_conflicts": _num("n_conflicts", 2),
    "n_unsupported": _num("n_unsupported", 2),
    "has_meta": _flag("has_meta"),
    "has_prompt_echo": _flag("has_prompt_echo"),
    "has_cutoff": _flag("has_cutoff"),
    "has_garbled": _flag("has_garbled"),
    "has_repeat": _flag("has_repeat"),
    "not_prose": _flag("not_prose"),
    "hard_flag": _flag("hard_flag"),
    "log_n_tokens": _n_tokens,
    "no_logprobs": _no_logprobs,
    # Signals that carry across models (see docs/GATE.md for what each added in CV).
    "n_untraced": _num("n_untraced", 3),
    "n_swapped": _num("n_swapped", 2),
    "novel_share": _num("novel_share"),
    # A second model's P(not supported by the facts); optional (GATE_VERIFIER), see docs/GATE.md.
    "verifier_doubt": _verifier_doubt,
    "no_verifier": _no_verifier,
    # Agreement between samples (reviewq/gating/agreement.py); absence reads as no support.
    "sample_disagreement": _sample_disagreement,
    "values_alone": _values_alone,
    "no_samples": _no_samples,
}

# The gate's signals as they were before issue 13 added any.
BASE_FEATURES: tuple[str, ...] = (
    "neg_mean_logprob",
    "neg_min_logprob",
    "share_below_floor",
    "mean_entropy",
    "max_entropy",
    "min_margin",
    "mean_margin",
    "neg_critical_min_logprob",
    "critical_max_entropy",
    "n_critical",
    "n_critical_ungrounded",
    "n_grounded",
    "n_conflicts",
    "n_unsupported",
    "has_meta",
    "has_prompt_echo",
    "has_cutoff",
    "has_garbled",
    "has_repeat",
    "not_prose",
    "hard_flag",
    "log_n_tokens",
    "no_logprobs",
)
# Signals added for issue 13 (reviewq/gating/claims.py); each is in DEFAULT_FEATURES only if
# grouped CV on the dev splits showed it helps (docs/GATE.md, bench/gate_features.py).
NEW_FEATURES: tuple[str, ...] = ("n_untraced", "n_swapped", "novel_share")
# Agreement between samples: tried with bench/gate_features.py run --add (docs/GATE.md).
AGREEMENT_FEATURES: tuple[str, ...] = ("sample_disagreement", "values_alone", "no_samples")
DEFAULT_FEATURES: tuple[str, ...] = (*BASE_FEATURES, *NEW_FEATURES)
# The verifier's inputs: not in DEFAULT_FEATURES (with the embedded 135M model as the judge
# they left the pooled CV figure unchanged, docs/GATE.md); a fit may name them where a real
# judge runs.
VERIFIER_FEATURES: tuple[str, ...] = ("verifier_doubt", "no_verifier")


def feature_vector(signals: Signals, names: Sequence[str] = DEFAULT_FEATURES) -> list[float]:
    """The features `names` of one sentence's signals (unknown names raise KeyError)."""
    return [EXTRACTORS[name](signals) for name in names]

"""The gate: score a sentence, decide its band, combine sentences into a description outcome.

Band decision (`band_for`) reads only these keys of the stored signals dict, so a threshold
change can re-gate stored sentences without their tokens (in SQL: mean_logprob is also a
column of Sentence and equals signals["mean_logprob"]):

    hard_flag             bool   grounding contradiction, meta text, prompt echo, cut-off or garbled text
    has_logprobs          bool   the provider returned logprobs for this sentence
    mean_logprob          float  mean token logprob (None without logprobs)
    critical_min_logprob  float  min logprob over critical words NOT found in the product data
    has_warning           bool   an unsupported claim, repeated text, or a line that is not
                                 a prose sentence (list item, heading)

    flag     if hard_flag
    review   elif not has_logprobs or mean_logprob is None
    flag     elif mean_logprob < flag_below
    flag     elif critical_min_logprob is not None and critical_min_logprob < critical_floor
    publish  elif mean_logprob > publish_above and not has_warning
    review   otherwise

The same as SQL (Postgres), e.g. for the re-gate UPDATE:

    CASE WHEN (signals->>'hard_flag')::boolean THEN 'flag'
         WHEN NOT (signals->>'has_logprobs')::boolean OR mean_logprob IS NULL THEN 'review'
         WHEN mean_logprob < %(flag_below)s THEN 'flag'
         WHEN (signals->>'critical_min_logprob')::float < %(critical_floor)s THEN 'flag'
         WHEN mean_logprob > %(publish_above)s
              AND NOT (signals->>'has_warning')::boolean THEN 'publish'
         ELSE 'review' END

(`->>` of a JSON null is SQL NULL, and NULL < x is not true, as in the Python version.)

Risk (`risk_from_signals`), higher = riskier, in (0, 1), monotone in every input:

    risk = sigmoid(z)
    z = -3.0
        + 2.0 * min(-mean_logprob, 10)               (1.0 when there are no logprobs)
        + 0.3 * min(-critical_min_logprob, 10)       (0 when no ungrounded critical word)
        + 0.3 * min(critical_max_entropy, 5)         (nats, ungrounded critical words)
        + 1.5 * share_below_floor                    (content tokens with p < 0.1)
        + 1.2 * min(n_unsupported, 2)
        + 1.0 * has_repeat
        + 2.0 * not_prose                            (list item, heading, unpunctuated line)
        + 6.0 * hard_flag

With nothing else found, risk = 0.5 exactly at mean logprob -1.5 (the default flag threshold)
and 0.12 at -0.5 (the default publish threshold); any hard flag puts risk above 0.95.
not_prose's weight puts a confident list line (mean -0.1) at risk 0.31, inside the review
band where its warning sends it (chosen on the dev split of tests/data/gate_dev_set.jsonl,
where such lines were the errors mean logprob ranked safest; see tests/data/README.md).
"""

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from reviewq.gating.agreement import SampleReading, agreement_reasons, n_values, sample_reading, sentence_agreement
from reviewq.gating.claims import novel_share, quantity_keys_of, swapped_values, untraced_claims
from reviewq.gating.copy_checks import garbled, has_meta, is_cut_off, prompt_echo, prompt_echo_runs, repetition
from reviewq.gating.grounding import CONTRADICTION, UNSUPPORTED, ProductFacts, ground_sentence, product_facts
from reviewq.gating.signals import GateToken, WordConfidence, sentence_token_signals, token_stats, word_confidences
from reviewq.gating.verifier import SIGNAL_KEY as VERIFIER_KEY
from reviewq.gating.words import KIND_LABELS, find_words

Band = Literal["publish", "review", "flag"]
PUBLISH: Band = "publish"
REVIEW: Band = "review"
FLAG: Band = "flag"
# 2: not_prose; 3: n_untraced, n_swapped, novel_share; 4: n_samples, sample_support, n_values,
# n_values_alone (all four for the fitted gate only)
SIGNALS_VERSION = 4
BAND_KEYS = ("hard_flag", "has_logprobs", "mean_logprob", "critical_min_logprob", "has_warning")
# Ungrounded critical words below this probability get a reason line whatever the thresholds.
CRITICAL_REPORT_LOGPROB = math.log(0.2)
NO_LOGPROBS_REASON = "no logprobs from the provider"
# Token probabilities describe what the model wrote; a reviewer's words have none, and the
# model's probabilities for the words left were conditioned on the words that were replaced.
EDITED_REASON = "logprob signals not applying: edited by a reviewer"
CUT_OFF_LENGTH_REASON = "cut off: the output hit the length limit"
CUT_OFF_PUNCTUATION_REASON = "cut off: no closing punctuation at the end"
# Reasons that depend on the thresholds start with one of these; `regate` replaces them.
THRESHOLD_REASON_PREFIXES = ("mean logprob ", "critical word logprob ")

RISK_WEIGHTS: dict[str, float] = {
    "bias": -3.0,
    "mean_logprob": 2.0,
    "no_logprobs_mean": 1.0,  # the -mean_logprob used when the provider sent none
    "critical_min_logprob": 0.3,
    "critical_max_entropy": 0.3,
    "share_below_floor": 1.5,
    "n_unsupported": 1.2,
    "has_repeat": 1.0,
    "not_prose": 2.0,
    "hard_flag": 6.0,
}

# A line that is a list item or a heading rather than a sentence of copy: "- Weight: 850 g",
# "3. Capacity: 20", "| Item 1 | 500", "**SKU KIT-1006**", "Product details:".
_LIST_ITEM_RE = re.compile(r"\s*(?:[-*•+–]\s|\d{1,2}[.)]\s|\|)")
_HEADING_RE = re.compile(r"\s*(?:\*\*|#)|.*:[\s*_\"'”’]*$", re.S)
_SENTENCE_END_RE = re.compile(r"[.!?…。！？][\"'”’)\]*_]*\s*$")


def not_prose(text: str) -> str | None:
    """Why the sentence is a list item, heading or bare line rather than prose, or None.
    The default prompt asks for "no title, no headings, no lists"."""
    if not text.strip():
        return None
    if _LIST_ITEM_RE.match(text):
        return "a list item, not a sentence"
    if _HEADING_RE.match(text):
        return "a heading, not a sentence"
    if text.rstrip(" \t").endswith(("\n", "\r")) and _SENTENCE_END_RE.search(text) is None:
        return "a line without sentence punctuation"
    return None


@dataclass(frozen=True, slots=True)
class GateThresholds:
    """Mirror of the Thresholds model's fields."""

    publish_above: float = -0.5
    flag_below: float = -1.5
    critical_floor: float = -2.3

    @classmethod
    def of(cls, source: Any) -> "GateThresholds":
        """From a Thresholds row, a mapping or None (the defaults)."""
        if source is None:
            return cls()

        def get(name: str, default: float) -> Any:
            if isinstance(source, Mapping):
                return source.get(name, default)
            return getattr(source, name, default)

        defaults = cls()
        return cls(
            publish_above=float(get("publish_above", defaults.publish_above)),
            flag_below=float(get("flag_below", defaults.flag_below)),
            critical_floor=float(get("critical_floor", defaults.critical_floor)),
        )


DEFAULT_THRESHOLDS = GateThresholds()


def thresholds_problems(thresholds: GateThresholds) -> list[str]:
    """Why these thresholds cannot be saved; empty when they can. The one wording of the rule
    (the thresholds page, the admin and thresholds_update all ask here); the Thresholds table's
    check constraints enforce the same rule in the database."""
    values = (thresholds.publish_above, thresholds.flag_below, thresholds.critical_floor)
    if not all(math.isfinite(value) for value in values):
        return ["Thresholds must be finite numbers."]
    problems = []
    if not thresholds.publish_above > thresholds.flag_below:
        problems.append("The publish threshold must be above the flag threshold.")
    if any(value > 0 for value in values):
        problems.append("Thresholds are log probabilities: 0 or below.")
    return problems


@dataclass(frozen=True)
class SentenceScore:
    mean_logprob: float | None
    min_logprob: float | None
    risk: float
    band: Band
    signals: dict[str, Any]
    reasons: list[str]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _fmt(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _p(logprob: float | None) -> str:
    if logprob is None:
        return ""
    p = math.exp(logprob)
    return f"{p:.2f}" if p >= 0.01 else f"{p:.1g}"


def _signals_of(source: Any) -> Mapping[str, Any]:
    if type(source) is dict:  # the common case, without hasattr's failed attribute lookup
        return source
    signals: Mapping[str, Any] = source.signals if hasattr(source, "signals") else source
    return signals


def band_for(signals: Mapping[str, Any] | SentenceScore, thresholds: GateThresholds = DEFAULT_THRESHOLDS) -> Band:
    """The band from stored signals alone (see the module docstring for the keys and the SQL)."""
    s = _signals_of(signals)
    if s.get("hard_flag"):
        return FLAG
    mean = s.get("mean_logprob")
    if not s.get("has_logprobs") or mean is None:
        return REVIEW
    if mean < thresholds.flag_below:
        return FLAG
    critical = s.get("critical_min_logprob")
    if critical is not None and critical < thresholds.critical_floor:
        return FLAG
    if mean > thresholds.publish_above and not s.get("has_warning"):
        return PUBLISH
    return REVIEW


def threshold_reasons(
    signals: Mapping[str, Any] | SentenceScore, thresholds: GateThresholds = DEFAULT_THRESHOLDS
) -> list[str]:
    """The reasons that depend on the thresholds, from stored signals alone."""
    s = _signals_of(signals)
    reasons = []
    mean = s.get("mean_logprob")
    if s.get("has_logprobs") and mean is not None:
        if mean < thresholds.flag_below:
            reasons.append(f"mean logprob {_fmt(mean)} below flag threshold {_fmt(thresholds.flag_below)}")
        elif mean <= thresholds.publish_above:
            reasons.append(f"mean logprob {_fmt(mean)} not above publish threshold {_fmt(thresholds.publish_above)}")
        critical = s.get("critical_min_logprob")
        if critical is not None and critical < thresholds.critical_floor:
            reasons.append(
                f"critical word logprob {_fmt(critical)} (p={_p(critical)}) below critical floor "
                f"{_fmt(thresholds.critical_floor)}"
            )
    return reasons


def regate(*, signals: Mapping[str, Any], reasons: Sequence[str], thresholds: GateThresholds) -> tuple[Band, list[str]]:
    """Band and reasons of a stored sentence under new thresholds (no tokens needed)."""
    kept = [r for r in reasons if not r.startswith(THRESHOLD_REASON_PREFIXES)]
    return band_for(signals, thresholds), kept + threshold_reasons(signals, thresholds)


def risk_from_signals(signals: Mapping[str, Any] | SentenceScore, weights: Mapping[str, float] = RISK_WEIGHTS) -> float:
    """Sentence risk in (0, 1), higher = riskier; formula in the module docstring."""
    s = _signals_of(signals)
    mean = s.get("mean_logprob")
    badness = min(-mean, 10.0) if s.get("has_logprobs") and mean is not None else weights["no_logprobs_mean"]
    z = weights["bias"] + weights["mean_logprob"] * badness
    critical = s.get("critical_min_logprob")
    if critical is not None:
        z += weights["critical_min_logprob"] * min(-critical, 10.0)
    entropy = s.get("critical_max_entropy")
    if entropy is not None:
        z += weights["critical_max_entropy"] * min(entropy, 5.0)
    z += weights["share_below_floor"] * (s.get("share_below_floor") or 0.0)
    z += weights["n_unsupported"] * min(s.get("n_unsupported") or 0, 2)
    z += weights["has_repeat"] * bool(s.get("has_repeat"))
    z += weights.get("not_prose", 0.0) * bool(s.get("not_prose"))
    z += weights["hard_flag"] * bool(s.get("hard_flag"))
    return 1.0 / (1.0 + math.exp(-z))


def _confidence_at(confidences: Sequence[WordConfidence], start: int, end: int) -> WordConfidence | None:
    for confidence in confidences:
        if confidence.word.start < end and start < confidence.word.end:
            return confidence
    return None


def _word_reason(confidence: WordConfidence) -> str:
    word = confidence.word
    text = f"low-probability {KIND_LABELS[word.kind]} '{word.text}' (p={_p(confidence.min_logprob)}"
    alternative = confidence.alternative_text()
    if alternative is not None:
        text += f"; model nearly wrote '{alternative[0]}' p={_p(math.log(max(alternative[1], 1e-12)))}"
    return text + ")"


def score_sentence(
    *,
    text: str,
    tokens: Sequence[GateToken | Sequence[Any]],
    attributes: Mapping[str, Any] | None = None,
    product_name: str = "",
    facts: ProductFacts | None = None,
    truncated: bool = False,
    is_last: bool = False,
    previous: Sequence[str] = (),
    thresholds: GateThresholds = DEFAULT_THRESHOLDS,
    echo_runs: frozenset = frozenset(),
    edited: bool = False,
    verifier_p_true: float | None = None,
    samples: Sequence[SampleReading] = (),
) -> SentenceScore:
    """Score one sentence. `tokens` carry their char offset within `text`; `facts` (from
    product_facts) saves re-reading the attributes for every sentence of a product;
    `truncated` is finish_reason == "length"; `previous` are the earlier sentences' texts;
    `echo_runs` (copy_checks.prompt_echo_runs) the prompt's instructions. `edited`: a reviewer
    wrote the text, so only the text-only signals are computed (tokens are not read) and the
    logprob signals are marked as not applying, scored like missing logprobs (never as safe).
    `verifier_p_true` is a second model's P(supported) for the generated text (verifier.py):
    stored as a signal for a fitted gate, read by neither band_for nor the hand-set risk.
    `samples`: the other candidates of the same prompt (agreement.sample_reading), none when
    one was asked for; an edited sentence is the reviewer's, so no sample speaks for it."""
    if edited:
        tokens, truncated, samples = (), False, ()  # the reviewer wrote the ending too
    if facts is None:
        facts = product_facts(attributes=attributes, product_name=product_name)
    stats = [token_stats(t) for t in tokens]
    token_signals = sentence_token_signals(stats)
    has_logprobs = token_signals["n_logprobs"] > 0

    words = find_words(text)
    grounding = ground_sentence(text, words, facts)
    confidences = word_confidences(text, words, stats)
    ungrounded = [c for c in confidences if c.word.start not in grounding.grounded]
    critical_logprobs = [c.min_logprob for c in ungrounded if c.min_logprob is not None]
    all_critical = [c.min_logprob for c in confidences if c.min_logprob is not None]
    critical_entropies = [c.max_entropy for c in ungrounded if c.max_entropy is not None]

    n_conflicts = sum(1 for f in grounding.findings if f.kind == CONTRADICTION)
    n_unsupported = sum(1 for f in grounding.findings if f.kind == UNSUPPORTED)
    meta = has_meta(text)
    echo = prompt_echo(text, echo_runs)
    cut_off = is_cut_off(text, is_last=is_last, truncated=truncated)
    garbled_why = garbled(text)
    repeat_why = repetition(text, previous)
    prose_why = not_prose(text)
    claims = facts.claims
    untraced = untraced_claims(text, words, claims) if claims else []
    swapped = swapped_values(text, words, claims, quantity_keys_of(facts.quantities)) if claims else []
    novel = novel_share(text, claims) if claims else None
    agreement = sentence_agreement(text, words, samples)

    signals: dict[str, Any] = {
        "version": SIGNALS_VERSION,
        "has_logprobs": has_logprobs,
        "n_tokens": token_signals["n_tokens"],
        "mean_logprob": _round(token_signals["mean_logprob"]),
        "min_logprob": _round(token_signals["min_logprob"]),
        "share_below_floor": _round(token_signals["share_below_floor"]),
        "mean_entropy": _round(token_signals["mean_entropy"]),
        "max_entropy": _round(token_signals["max_entropy"]),
        "min_margin": _round(token_signals["min_margin"]),
        "mean_margin": _round(token_signals["mean_margin"]),
        "n_critical": len(words),
        "n_critical_ungrounded": len(ungrounded),
        "critical_min_logprob": _round(min(critical_logprobs)) if critical_logprobs else None,
        "critical_min_logprob_all": _round(min(all_critical)) if all_critical else None,
        "critical_max_entropy": _round(max(critical_entropies)) if critical_entropies else None,
        "n_grounded": len(grounding.grounded),
        "n_conflicts": n_conflicts,
        "n_unsupported": n_unsupported,
        "has_conflict": n_conflicts > 0,
        "has_meta": meta,
        "has_prompt_echo": echo is not None,
        "has_cutoff": cut_off,
        "has_garbled": garbled_why is not None,
        "has_repeat": repeat_why is not None,
        "not_prose": prose_why is not None,
        "hard_flag": n_conflicts > 0 or meta or echo is not None or cut_off or garbled_why is not None,
        "has_warning": n_unsupported > 0 or repeat_why is not None or prose_why is not None,
        # Inputs of the fitted gate only (reviewq/gating/claims.py); band_for does not read them.
        "n_untraced": len(untraced),
        "n_swapped": len(swapped),
        "novel_share": _round(novel),
        # Agreement between samples (reviewq/gating/agreement.py): n_samples 0 and the other
        # two None with one candidate; n_values always, so absence can read as "none support".
        "n_samples": agreement.n_samples if agreement else 0,
        "sample_support": _round(agreement.support) if agreement else None,
        "n_values": n_values(words),
        "n_values_alone": len(agreement.values_alone) if agreement else None,
    }
    if edited:
        signals["edited"] = True
    elif verifier_p_true is not None:
        signals[VERIFIER_KEY] = _round(verifier_p_true)

    reasons: list[str] = []
    if not has_logprobs:
        reasons.append(EDITED_REASON if edited else NO_LOGPROBS_REASON)
    reported: set[int] = set()
    for finding in grounding.findings:
        confidence = _confidence_at(confidences, finding.start, finding.end)
        p = f" (p={_p(confidence.min_logprob)})" if confidence and confidence.min_logprob is not None else ""
        label = "" if finding.kind == CONTRADICTION else "unsupported: "
        reasons.append(f"{label}'{finding.text}'{p} — {finding.detail}")
        if confidence is not None:
            reported.add(confidence.word.start)
    if meta:
        reasons.append("meta text, not product copy")
    if echo:
        reasons.append(f"repeats the prompt's instructions: '{echo}'")
    if cut_off:
        reasons.append(CUT_OFF_LENGTH_REASON if truncated else CUT_OFF_PUNCTUATION_REASON)
    if garbled_why:
        reasons.append(f"garbled text: {garbled_why}")
    if repeat_why:
        reasons.append(f"repeated text: {repeat_why}")
    if prose_why:
        reasons.append(f"not prose: {prose_why}")
    reasons += agreement_reasons(agreement)
    for confidence in sorted(ungrounded, key=lambda c: c.min_logprob if c.min_logprob is not None else 0.0):
        if (
            confidence.min_logprob is not None
            and confidence.min_logprob < CRITICAL_REPORT_LOGPROB
            and confidence.word.start not in reported
        ):
            reasons.append(_word_reason(confidence))
    reasons += threshold_reasons(signals, thresholds)

    return SentenceScore(
        mean_logprob=signals["mean_logprob"],
        min_logprob=signals["min_logprob"],
        risk=risk_from_signals(signals),
        band=band_for(signals, thresholds),
        signals=signals,
        reasons=reasons,
    )


def score_description(
    *,
    sentences: Sequence[tuple[str, Sequence[GateToken | Sequence[Any]]]],
    attributes: Mapping[str, Any] | None = None,
    product_name: str = "",
    truncated: bool = False,
    thresholds: GateThresholds = DEFAULT_THRESHOLDS,
    prompt: str = "",
    verifier: Sequence[float | None] = (),
    other_candidates: Sequence[str] = (),
) -> list[SentenceScore]:
    """Score every (text, tokens) sentence of one description, reading the attributes (and
    the prompt it was generated from, when given) once, and the other candidates' texts of
    the same prompt (when more than one was asked for) once. `verifier`: each sentence's
    P(True) from the verifier pass, or empty (not run)."""
    if verifier and len(verifier) != len(sentences):
        raise ValueError(f"{len(verifier)} verifier values for {len(sentences)} sentences")
    facts = product_facts(attributes=attributes, product_name=product_name)
    samples = [sample_reading(other) for other in other_candidates]
    echo_runs = prompt_echo_runs(prompt, attributes=attributes or {}, product_name=product_name)
    texts = [text for text, _ in sentences]
    last = len(sentences) - 1
    return [
        score_sentence(
            text=text,
            tokens=tokens,
            facts=facts,
            truncated=truncated,
            is_last=i == last,
            previous=texts[:i],
            thresholds=thresholds,
            echo_runs=echo_runs,
            verifier_p_true=verifier[i] if verifier else None,
            samples=samples,
        )
        for i, (text, tokens) in enumerate(sentences)
    ]


def description_risk(sentence_risks: Iterable[float]) -> float:
    """Chance that at least one sentence is wrong, treating sentence risks as independent:
    1 - prod(1 - r). 0.0 for no sentences. Used to sort the review queue."""
    keep = 1.0
    for risk in sentence_risks:
        keep *= 1.0 - min(1.0, max(0.0, float(risk)))
    return 1.0 - keep


APPROVED_DECISIONS = frozenset({"approved", "edited"})
REMOVED_DECISION = "rejected"


def sentence_publishable(*, band: str, decision: str) -> bool | None:
    """True if the sentence can go out as is, False if it waits for review, None if removed."""
    if decision == REMOVED_DECISION:
        return None
    if decision in APPROVED_DECISIONS:
        return True
    return band == PUBLISH


def description_outcome(
    bands_and_decisions: Iterable[tuple[str, str]], publish_confident_now: bool = False
) -> Literal["published", "review"]:
    """'published' when every kept sentence is publish-band or approved/edited (removed ones
    don't block) and at least one is kept; with publish_confident_now, as soon as any kept
    sentence is publishable (the rest are added once reviewed); otherwise 'review'."""
    states = [sentence_publishable(band=band, decision=decision or "") for band, decision in bands_and_decisions]
    kept = [state for state in states if state is not None]
    if not kept:
        return "review"
    if all(kept) or (publish_confident_now and any(kept)):
        return "published"
    return "review"

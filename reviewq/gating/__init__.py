"""Pure gating functions: no database access, usable by the storage service and gate_eval.

Modules: units (numbers and units), words (critical-word detection), signals (token-level
logprob/entropy/margin signals), grounding (attributes vs sentence), copy_checks (meta, cut-off,
repeated, garbled), gate (score, band, risk, description outcome).
"""

from reviewq.gating.gate import (
    BAND_KEYS,
    DEFAULT_THRESHOLDS,
    FLAG,
    NO_LOGPROBS_REASON,
    PUBLISH,
    REVIEW,
    RISK_WEIGHTS,
    GateThresholds,
    SentenceScore,
    band_for,
    description_outcome,
    description_risk,
    regate,
    risk_from_signals,
    score_description,
    score_sentence,
    sentence_publishable,
    threshold_reasons,
)
from reviewq.gating.grounding import ProductFacts, ground_sentence, product_facts
from reviewq.gating.signals import GateToken

__all__ = [
    "BAND_KEYS",
    "DEFAULT_THRESHOLDS",
    "FLAG",
    "NO_LOGPROBS_REASON",
    "PUBLISH",
    "REVIEW",
    "RISK_WEIGHTS",
    "GateThresholds",
    "GateToken",
    "ProductFacts",
    "SentenceScore",
    "band_for",
    "description_outcome",
    "description_risk",
    "ground_sentence",
    "product_facts",
    "regate",
    "risk_from_signals",
    "score_description",
    "score_sentence",
    "sentence_publishable",
    "threshold_reasons",
]

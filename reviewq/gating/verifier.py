"""The verifier signal (P(True)): a second model's opinion of whether a sentence is supported by
the product facts, read from the logprobs of its one-token answer. Pure: no Django, no provider.

The call itself (prompt, provider, cache) is in generation/verifier.py; this module only reads
the answer. `p_true(alternatives)` takes the answer token's top alternatives as (text, logprob)
pairs and returns P(supported) normalised over the "True"/"Yes" and "False"/"No" variants, or
None when the alternatives say nothing readable (no logprobs, neither variant among them).
It is an opinion of support by another model, not a check of truth: a fitted gate may use it
(features.VERIFIER_FEATURES), the hand-set gate never reads it.
"""

import math
from collections.abc import Iterable, Sequence

# Answer words, compared after stripping whitespace (and the SentencePiece / GPT-2 space marks
# some servers leave in token strings) and lower-casing.
SUPPORTED_WORDS = frozenset({"true", "yes"})
UNSUPPORTED_WORDS = frozenset({"false", "no"})
_SPACE_MARKS = " \t\r\n\u2581\u0120"
# The signal's key in a sentence's stored signals; absent when the verifier did not run or
# gave no readable answer.
SIGNAL_KEY = "verifier_p_true"


def answer_side(token: str) -> bool | None:
    """True for a "True"/"Yes" variant, False for a "False"/"No" variant, None for anything
    else (partial words such as "Tr", other words, punctuation)."""
    word = token.strip(_SPACE_MARKS).lower()
    if word in SUPPORTED_WORDS:
        return True
    if word in UNSUPPORTED_WORDS:
        return False
    return None


def p_true(alternatives: Iterable[Sequence[object]]) -> float | None:
    """P(supported) from the answer token's top alternatives [(text, logprob), ...]: the summed
    probability of the supported variants over that of both sides. When only one side is among
    the alternatives, the other side's mass is taken as at most the least likely listed
    alternative's (it ranked below all of them), so a short list never reads as certainty.
    None when no variant is listed or no listed variant has a usable logprob."""
    supported = unsupported = 0.0
    seen_supported = seen_unsupported = False
    smallest = math.inf
    for alternative in alternatives:
        if len(alternative) < 2:
            continue
        text, logprob = alternative[0], alternative[1]
        if not isinstance(logprob, (int, float)) or isinstance(logprob, bool) or math.isnan(logprob):
            continue
        probability = math.exp(min(float(logprob), 0.0))
        smallest = min(smallest, probability)
        side = answer_side(str(text))
        if side is True:
            supported += probability
            seen_supported = True
        elif side is False:
            unsupported += probability
            seen_unsupported = True
    if not (seen_supported or seen_unsupported):
        return None
    if not seen_unsupported:
        unsupported = smallest
    elif not seen_supported:
        supported = smallest
    total = supported + unsupported
    if not total > 0:
        return None
    return supported / total

"""Token-level signals: logprob statistics, top-k entropy and margin, critical-word confidence.

Conventions
- A logprob is clamped to [LOGPROB_FLOOR, 0]: providers send -9999 (OpenAI) or -inf for
  "impossible" and tiny positive values from rounding; one such token must not swamp a mean.
- A token is *content* when it holds a letter or digit. Whitespace/punctuation-only tokens count
  in the baseline mean and min (as the product brief's "mean logprob" does) but not in the share
  below the floor nor in the entropy/margin aggregates, where "," or "\\n" choices add only noise.
- Entropy of a token, from its top-k alternatives (the chosen token added when missing): with
  p_1..p_k the returned probabilities and S = sum p_i,
      H = h(S) + S * H_renorm,
  H_renorm being the entropy of p_i / S (the distribution renormalised over the alternatives)
  and h the binary entropy of "one of the alternatives" vs "anything else". That is the entropy of
  the k alternatives plus one bucket holding the remaining mass 1 - S: a lower bound of the
  full-vocabulary entropy, in nats. If S > 1 (rounding), the p_i are renormalised and the
  remaining mass is 0.
- Margin of a token = p_1 - p_2 (probabilities). With a single alternative, p_2 is the remaining
  mass 1 - S (an upper bound of any unseen token), capped at p_1.
"""

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from reviewq.gating.words import Word

LOGPROB_FLOOR = -20.0
# "Low" token: p < 0.1. Used for share_below_floor (a risk input, not a band threshold).
LOW_TOKEN_LOGPROB = math.log(0.1)


class GateToken(NamedTuple):
    """One generated token of a sentence. `offset` is its char offset within the sentence text
    (may be negative for a token that started in the previous sentence)."""

    text: str
    logprob: float | None
    alternatives: Sequence[Any] = ()  # [(text, logprob), ...] or objects with .text/.logprob
    offset: int = 0


def clamp_logprob(value: Any) -> float | None:
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    if math.isnan(value):
        return None
    return min(0.0, max(LOGPROB_FLOOR, value))


def _alternative(alt: Any) -> tuple[str, float | None]:
    if isinstance(alt, (tuple, list)):
        if not alt:
            return "", None
        return str(alt[0]), clamp_logprob(alt[1]) if len(alt) > 1 else None
    return str(alt.text), clamp_logprob(alt.logprob)


_CONTENT = re.compile(r"[^\W_]")


def is_content(text: str) -> bool:
    return _CONTENT.search(text) is not None


class TokenStats(NamedTuple):
    text: str
    logprob: float | None
    entropy: float | None  # nats, None without alternatives
    margin: float | None
    best_other: tuple[str, float] | None  # most likely alternative that is not the chosen token
    offset: int
    content: bool


def token_distribution(text: str, logprob: float | None, alternatives: Iterable[Any]) -> list[tuple[str, float]]:
    """(text, probability) of the alternatives, most likely first, the chosen token included."""
    probs: dict[str, float] = {}
    for alt in alternatives:
        alt_text, alt_logprob = _alternative(alt)
        if alt_logprob is None:
            continue
        p = math.exp(alt_logprob)
        if p > probs.get(alt_text, -1.0):
            probs[alt_text] = p
    if not probs:
        return []
    if logprob is not None and text not in probs:
        probs[text] = math.exp(logprob)
    return sorted(probs.items(), key=lambda item: item[1], reverse=True)


def entropy_and_margin(distribution: Sequence[tuple[str, float]]) -> tuple[float | None, float | None]:
    """Top-k entropy (nats, remaining mass as one bucket) and top-1/top-2 margin; see module doc."""
    if not distribution:
        return None, None
    probs = [p for _, p in distribution]
    total = sum(probs)
    if total > 1.0:
        probs = [p / total for p in probs]
        total = 1.0
    rest = 1.0 - total
    entropy = -sum(p * math.log(p) for p in probs if p > 0.0)
    if rest > 1e-12:
        entropy -= rest * math.log(rest)
    second = probs[1] if len(probs) > 1 else min(rest, probs[0])
    return max(0.0, entropy), probs[0] - second


_exp = math.exp
_log = math.log


def token_stats(token: GateToken | Sequence[Any]) -> TokenStats:
    """Stats of one token. Same results as entropy_and_margin(token_distribution(...)), in one
    pass without sorting: scoring runs for every stored token, so this is the hot loop.
    A duplicated alternative text keeps its first (most likely) entry."""
    text, raw_logprob, alternatives, offset = token if type(token) is GateToken else GateToken(*token)
    if type(raw_logprob) is float and LOGPROB_FLOOR <= raw_logprob <= 0.0:
        logprob = raw_logprob
    else:
        logprob = clamp_logprob(raw_logprob)
    entropy = margin = best_other = None
    if alternatives:
        seen = set()
        total = plogp = first = second = 0.0
        other_p = -1.0
        for alt in alternatives:
            try:
                alt_text, alt_logprob = alt
            except (TypeError, ValueError):
                alt_text, alt_logprob = _alternative(alt)
            if not (type(alt_logprob) is float and LOGPROB_FLOOR <= alt_logprob <= 0.0):
                alt_logprob = clamp_logprob(alt_logprob)
                if alt_logprob is None:
                    continue
            if alt_text in seen:
                continue
            seen.add(alt_text)
            p = _exp(alt_logprob)
            total += p
            plogp += p * alt_logprob
            if p > first:
                first, second = p, first
            elif p > second:
                second = p
            if p > other_p and alt_text != text:
                best_other, other_p = (alt_text, p), p
        if seen:
            if logprob is not None and text not in seen:
                p = _exp(logprob)
                seen.add(text)
                total += p
                plogp += p * logprob
                if p > first:
                    first, second = p, first
                elif p > second:
                    second = p
            if total > 1.0:  # rounding: renormalise, nothing left over
                entropy = _log(total) - plogp / total
                first, second, rest = first / total, second / total, 0.0
                if best_other is not None:
                    best_other = (best_other[0], best_other[1] / total)
            else:
                rest = 1.0 - total
                entropy = -plogp - rest * _log(rest) if rest > 1e-12 else -plogp
            if len(seen) == 1:
                second = rest if rest < first else first
            if entropy < 0.0:
                entropy = 0.0
            margin = first - second
    content = _content_cache.get(text)
    if content is None:
        content = _CONTENT.search(text) is not None
        if len(_content_cache) < 200_000:
            _content_cache[text] = content
    return TokenStats(text, logprob, entropy, margin, best_other, offset, content)


_content_cache: dict[str, bool] = {}


def sentence_token_signals(stats: Sequence[TokenStats]) -> dict[str, float | int | None]:
    """Sentence aggregates over its tokens (None where nothing to aggregate)."""
    logprobs = [s.logprob for s in stats if s.logprob is not None]
    content = [s for s in stats if s.content]
    content_logprobs = [s.logprob for s in content if s.logprob is not None] or logprobs
    entropies = [s.entropy for s in content if s.entropy is not None]
    margins = [s.margin for s in content if s.margin is not None]
    low = sum(1 for lp in content_logprobs if lp < LOW_TOKEN_LOGPROB)
    return {
        "n_tokens": len(stats),
        "n_logprobs": len(logprobs),
        "mean_logprob": sum(logprobs) / len(logprobs) if logprobs else None,
        "min_logprob": min(logprobs) if logprobs else None,
        "share_below_floor": low / len(content_logprobs) if content_logprobs else None,
        "mean_entropy": sum(entropies) / len(entropies) if entropies else None,
        "max_entropy": max(entropies) if entropies else None,
        "min_margin": min(margins) if margins else None,
        "mean_margin": sum(margins) / len(margins) if margins else None,
    }


class WordConfidence(NamedTuple):
    """How sure the model was of one critical word: the worst of the tokens that overlap it."""

    word: Word
    min_logprob: float | None
    max_entropy: float | None
    weakest: TokenStats | None  # the token with the min logprob

    @property
    def probability(self) -> float | None:
        return math.exp(self.min_logprob) if self.min_logprob is not None else None

    def alternative_text(self) -> tuple[str, float] | None:
        """What the model nearly wrote instead: the word up to the weakest token, then the best
        other token ("…" when the word went on after it)."""
        token = self.weakest
        if token is None or token.best_other is None:
            return None
        other, p = token.best_other
        start = max(0, token.offset - self.word.start)
        prefix = self.word.text[:start]
        written = (prefix + other).strip()
        if token.offset + len(token.text) < self.word.end:
            written += "…"
        return written, p


def word_confidence(text: str, word: Word, stats: Sequence[TokenStats]) -> WordConfidence:
    """Map the word's char span to the tokens overlapping it on a non-space character."""
    min_logprob = max_entropy = None
    weakest = None
    for token in stats:  # in text order
        if token.offset >= word.end:
            break
        start = max(token.offset, word.start)
        end = min(token.offset + len(token.text), word.end)
        if start >= end or text[start:end].isspace():
            continue
        if token.logprob is not None and (min_logprob is None or token.logprob < min_logprob):
            min_logprob, weakest = token.logprob, token
        if token.entropy is not None and (max_entropy is None or token.entropy > max_entropy):
            max_entropy = token.entropy
    return WordConfidence(word, min_logprob, max_entropy, weakest)


def word_confidences(text: str, words: Sequence[Word], stats: Sequence[TokenStats]) -> list[WordConfidence]:
    """word_confidence for words in text order, in one merge pass over the tokens."""
    result = []
    first = 0
    n = len(stats)
    for word in words:
        while first < n and stats[first].offset + len(stats[first].text) <= word.start:
            first += 1
        min_logprob = max_entropy = weakest = None
        i = first
        while i < n:
            token = stats[i]
            i += 1
            if token.offset >= word.end:
                break
            start = token.offset if token.offset > word.start else word.start
            end = token.offset + len(token.text)
            if end > word.end:
                end = word.end
            if start >= end or text[start:end].isspace():
                continue
            if token.logprob is not None and (min_logprob is None or token.logprob < min_logprob):
                min_logprob, weakest = token.logprob, token
            if token.entropy is not None and (max_entropy is None or token.entropy > max_entropy):
                max_entropy = token.entropy
        result.append(WordConfidence(word, min_logprob, max_entropy, weakest))
    return result

"""What every provider shares: the logprob floor, the multi-byte text rule, request bounds and
`pick_best`, so a token's text means the same whichever provider produced it."""

from __future__ import annotations

import codecs
import json
import math
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

import jiter

from generation.types import Completion, ProviderError

# OpenAI reports alternatives too unlikely to rank as -9999.0; llama logits can give -inf.
# Anything below this floor is stored as the floor: exp(-100) is zero for every purpose the
# gate has, and a finite number keeps means and sorting well defined.
LOGPROB_FLOOR = -100.0

# The OpenAI API accepts top_logprobs 0..20; the embedded provider keeps the same contract.
MAX_TOP_LOGPROBS = 20


class Provider(Protocol):
    name: str
    model: str

    def complete(
        self,
        *,
        messages: list[dict],
        max_tokens: int,
        temperature: float,
        top_logprobs: int,
        n: int = 1,
        seed: int | None = None,
        in_flight: AbstractContextManager[Any] | None = None,
    ) -> list[Completion]:
        """`in_flight` (an in-flight limiter's slot) is held only while the request is at the
        provider: taken after the request is built, given back before the response is parsed."""
        ...


def clip_logprob(value: float | None) -> float | None:
    """None stays None (no logprob reported); NaN becomes None; anything below the floor is
    the floor (covers OpenAI's -9999.0 placeholder and -inf)."""
    if value is None:
        return None
    value = float(value)
    if math.isnan(value):
        return None
    return max(value, LOGPROB_FLOOR)


def json_loads(data: bytes | str) -> Any:
    """json.loads, about twice as fast on a top-5 logprobs body: jiter (openai's own JSON
    parser). What jiter refuses (a lone surrogate escape, UTF-16 bytes) goes to json.loads,
    so results and error messages stay json.loads's."""
    try:
        return jiter.from_json(data.encode() if isinstance(data, str) else data, cache_mode="keys")
    except ValueError:
        return json.loads(data)


def texts_from_token_bytes(token_bytes: Sequence[bytes]) -> list[str]:
    """Text of each token such that "".join(result) == b"".join(token_bytes).decode("utf-8", "replace").

    Rule for characters split across tokens: a token gets exactly the characters whose last
    byte it carries. A token ending mid-character gets only the part before that character
    (possibly ""), and the token that supplies the final byte gets the whole character.
    Invalid bytes become U+FFFD in the token where the decoder rejects them; bytes still
    pending at the end (a truncated character) go to the last token as U+FFFD.
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    texts = [decoder.decode(b, final=False) for b in token_bytes]
    tail = decoder.decode(b"", final=True)
    if tail:
        if texts:
            texts[-1] += tail
        else:
            texts.append(tail)
    return texts


def validate_request(*, max_tokens: int, temperature: float, top_logprobs: int, n: int) -> None:
    """Refuse arguments no provider can honour, as a non-retryable bad_request."""
    problems = []
    if isinstance(top_logprobs, bool) or not isinstance(top_logprobs, int) or not 0 <= top_logprobs <= MAX_TOP_LOGPROBS:
        problems.append(f"top_logprobs must be an integer 0..{MAX_TOP_LOGPROBS}, got {top_logprobs!r}")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        problems.append(f"max_tokens must be a positive integer, got {max_tokens!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        problems.append(f"n must be a positive integer, got {n!r}")
    if not isinstance(temperature, (int, float)) or math.isnan(temperature) or not 0 <= temperature <= 2:
        problems.append(f"temperature must be between 0 and 2, got {temperature!r}")
    if problems:
        raise ProviderError("; ".join(problems), code="bad_request", retryable=False)


def pick_best(candidates: Sequence[Completion]) -> Completion:
    """The candidate with the highest mean token logprob; candidates without logprobs rank
    last; ties keep the provider's order."""
    if not candidates:
        raise ValueError("pick_best needs at least one candidate")

    def rank(indexed: tuple[int, Completion]) -> tuple[int, float, int]:
        index, candidate = indexed
        mean = candidate.mean_logprob if candidate.has_logprobs else None
        if mean is None:
            return (1, 0.0, index)
        return (0, -mean, index)

    return min(enumerate(candidates), key=rank)[1]


def other_candidates(candidates: Sequence[Completion], kept: Completion) -> tuple[str, ...]:
    """The texts of the candidates other than `kept` (the one pick_best chose), for the gate's
    agreement between samples; a candidate with no text says nothing either way."""
    return tuple(c.text for c in candidates if c is not kept and c.text.strip())

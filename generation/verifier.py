"""The verifier pass: ask a second model, sentence by sentence, whether the product facts support
what the copy says, and read P(True) from the logprobs of its one-token answer
(reviewq/gating/verifier.py reads the answer; this module builds the prompt and makes the call).

Off by default (GATE_VERIFIER). Any OpenAI-compatible server that returns logprobs will do
(chat completions, logprobs=True, top_logprobs=k, max_tokens=1, temperature 0), or the embedded
model. The chat API answers one prompt per request (n > 1 samples the same prompt again), so a
description costs one request per sentence; the facts come first in every prompt so a server
with prefix caching (and the embedded model) reuses them across a description's sentences.

`description_verdicts` is what the generation task calls, after the completion and before
storage, with no transaction open. It never raises: a verifier that fails or is misconfigured
leaves the description without the signal and logs why.

`VerdictCache` / `cached_judge` serve gate_eval and bench/gate_features.py: verdicts are kept in
a JSONL side file keyed by judge and prompt, so scoring a label file again costs no calls.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from generation.alignment import align
from generation.limiter import limiter_for
from generation.prompts import format_attributes
from generation.providers import get_provider, provider_name
from generation.providers.common import MAX_TOP_LOGPROBS, Provider
from generation.providers.openai_compat import OpenAICompatProvider
from generation.types import Completion, ProviderError
from reviewq.gating.verifier import p_true

logger = logging.getLogger(__name__)

# Bump when the wording changes: cached verdicts of the old prompt are then not reused.
PROMPT_VERSION = 1
VERIFIER_SYSTEM_PROMPT = (
    "You check product copy against the product's facts. Reply with one word: True if the facts "
    "support the sentence, False if they do not."
)
QUESTION = "Is the sentence supported by the product facts? Answer True or False."

# Judge: (attributes, product name, sentence texts) -> P(True) per sentence (None: no verdict).
Judge = Callable[[Mapping[str, Any], str, Sequence[str]], list[float | None]]


def verifier_messages(*, sentence: str, attributes: Mapping[str, Any], product_name: str) -> list[dict]:
    """System + user messages asking whether the facts support `sentence`. Pure. The sentence is
    the last thing in the prompt, so the sentences of one product share everything before it."""
    user = (
        f"Product: {product_name or '(unnamed)'}\n"
        f"Facts:\n{format_attributes(attributes)}\n\n"
        f"{QUESTION}\n"
        f"Sentence: {' '.join(sentence.split())}"
    )
    return [{"role": "system", "content": VERIFIER_SYSTEM_PROMPT}, {"role": "user", "content": user}]


def answer_alternatives(completion: Completion) -> list[tuple[str, float | None]]:
    """The first answer token's top alternatives, with the token itself when it is not among
    them; [] without logprobs or tokens."""
    if not completion.has_logprobs or not completion.tokens:
        return []
    first = completion.tokens[0]
    alternatives = [(alt.text, alt.logprob) for alt in first.alternatives]
    if all(text != first.text for text, _ in alternatives):
        alternatives.append((first.text, first.logprob))
    return alternatives


def sentence_verdict(provider: Provider, messages: list[dict], *, top_logprobs: int) -> float | None:
    """One verifier call: P(True) of the answer, None when the answer is unreadable. Raises the
    provider's ProviderError."""
    [completion] = provider.complete(
        messages=messages, max_tokens=1, temperature=0.0, top_logprobs=top_logprobs, n=1, seed=0
    )
    return p_true(answer_alternatives(completion))


def sentences_verify(
    provider: Provider,
    *,
    sentences: Sequence[str],
    attributes: Mapping[str, Any],
    product_name: str,
    top_logprobs: int = MAX_TOP_LOGPROBS,
) -> list[float | None]:
    """P(True) of every sentence, one call each (a sentence with no words is not asked)."""
    return [
        sentence_verdict(
            provider,
            verifier_messages(sentence=text, attributes=attributes, product_name=product_name),
            top_logprobs=top_logprobs,
        )
        if text.strip()
        else None
        for text in sentences
    ]


# --- The verifier in the generation task ---------------------------------------------------------

_providers: dict[tuple[str, str, str, float], Provider] = {}
_providers_lock = threading.Lock()


def verifier_provider(*, generator: Provider) -> Provider:
    """The provider that judges: GATE_VERIFIER_PROVIDER (default: the one that generated),
    at GATE_VERIFIER_BASE_URL / _MODEL / _API_KEY (defaults: the LLM_* ones, and the
    generating model), with GATE_VERIFIER_TIMEOUT per request. The embedded model is shared
    with generation (loaded once per process) and has no timeout."""
    configured = settings.GATE_VERIFIER_PROVIDER.strip()
    resolved = provider_name(configured) if configured else generator.name
    if resolved == "embedded":
        return generator if generator.name == "embedded" else get_provider("embedded")
    model = settings.GATE_VERIFIER_MODEL or (generator.model if generator.name == "openai" else settings.LLM_MODEL)
    base_url = settings.GATE_VERIFIER_BASE_URL or settings.LLM_BASE_URL
    api_key = settings.GATE_VERIFIER_API_KEY or settings.LLM_API_KEY
    key = (base_url, model, api_key, float(settings.GATE_VERIFIER_TIMEOUT))
    with _providers_lock:
        provider = _providers.get(key)
        if provider is None:
            provider = _providers[key] = OpenAICompatProvider(
                model=model, base_url=base_url or None, api_key=api_key, timeout=settings.GATE_VERIFIER_TIMEOUT
            )
        return provider


def reset_verifier_providers() -> None:
    """Forget cached verifier providers (tests that change settings)."""
    with _providers_lock:
        _providers.clear()


@dataclass(frozen=True)
class Verdicts:
    values: tuple[float | None, ...]  # per sentence of the completion; () when not run or failed
    calls: int = 0
    seconds: float = 0.0
    error: str = ""


def description_verdicts(
    *, completion: Completion, attributes: Mapping[str, Any], product_name: str, generator: Provider
) -> Verdicts:
    """The verifier's P(True) for each sentence of a completion, when GATE_VERIFIER is on. Never
    raises: any failure (provider error, timeout, no free slot, bad configuration) gives no
    values, logged, and the description is stored without the signal."""
    if not settings.GATE_VERIFIER or not completion.text.strip() or completion.finish_reason == "content_filter":
        return Verdicts(values=())
    started = time.monotonic()
    try:
        sentences = [span.text for span in align(completion.text, [t.text for t in completion.tokens]).sentences]
        provider = verifier_provider(generator=generator)
        with limiter_for(provider.name).slot(wait_seconds=settings.GATE_VERIFIER_TIMEOUT):
            values = sentences_verify(
                provider,
                sentences=sentences,
                attributes=attributes,
                product_name=product_name,
                top_logprobs=settings.GATE_VERIFIER_TOP_LOGPROBS,
            )
    except Exception as exc:  # the verifier is optional: nothing it does may fail a description
        logger.warning("verifier failed, description stored without verifier_p_true: %s", exc)
        return Verdicts(values=(), seconds=time.monotonic() - started, error=str(exc)[:500])
    return Verdicts(
        values=tuple(values),
        calls=sum(1 for text in sentences if text.strip()),
        seconds=time.monotonic() - started,
    )


# --- Scoring label files with a judge (gate_eval, bench) -----------------------------------------


class VerdictCache:
    """Verdicts in a JSONL side file, one {"key", "p_true"} per line, appended as they come
    (an interrupted run keeps what it had). Keyed by judge, prompt version and messages."""

    def __init__(self, path: Path | None):
        self.path = path
        self._values: dict[str, float | None] = {}
        if path is not None and path.exists():
            with path.open(encoding="utf-8") as handle:
                for line in handle:
                    if line.strip():
                        row = json.loads(line)
                        self._values[row["key"]] = row["p_true"]

    @staticmethod
    def key(judge: str, messages: list[dict]) -> str:
        raw = json.dumps([judge, PROMPT_VERSION, messages], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]

    def __contains__(self, key: str) -> bool:
        return key in self._values

    def get(self, key: str) -> float | None:
        return self._values.get(key)

    def put(self, key: str, value: float | None) -> None:
        self._values[key] = value
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"key": key, "p_true": None if value is None else round(value, 6)}) + "\n")


@dataclass
class JudgeStats:
    calls: int = 0
    cached: int = 0
    failed: int = 0
    seconds: float = 0.0


def judge_provider(option: str, *, model: str = "", timeout: float = 60.0) -> Provider:
    """The judge a command names: "embedded", or the base URL of an OpenAI-compatible server
    (`model` names the model it serves; the key is GATE_VERIFIER_API_KEY or LLM_API_KEY)."""
    if option == "embedded":
        return get_provider("embedded")
    if not option.startswith(("http://", "https://")):
        raise ValueError(f"--verifier must be 'embedded' or an http(s) base URL, got {option!r}")
    return OpenAICompatProvider(
        model=model, base_url=option, api_key=settings.GATE_VERIFIER_API_KEY or settings.LLM_API_KEY, timeout=timeout
    )


def cached_judge(
    provider: Provider,
    cache: VerdictCache,
    *,
    top_logprobs: int = MAX_TOP_LOGPROBS,
    stats: JudgeStats | None = None,
) -> Judge:
    """A Judge that asks `provider` only for verdicts `cache` does not hold. A failed call gives
    None for that sentence and is not cached (the next run asks again)."""
    judge_id = f"{provider.name}:{getattr(provider, 'base_url', '') or ''}:{provider.model}:{top_logprobs}"
    counts = stats if stats is not None else JudgeStats()

    def judge(attributes: Mapping[str, Any], product_name: str, sentences: Sequence[str]) -> list[float | None]:
        values: list[float | None] = []
        for text in sentences:
            if not text.strip():
                values.append(None)
                continue
            messages = verifier_messages(sentence=text, attributes=attributes, product_name=product_name)
            key = VerdictCache.key(judge_id, messages)
            if key in cache:
                counts.cached += 1
                values.append(cache.get(key))
                continue
            started = time.monotonic()
            try:
                value = sentence_verdict(provider, messages, top_logprobs=top_logprobs)
            except ProviderError as exc:
                counts.failed += 1
                logger.warning("verifier call failed: %s", exc)
                values.append(None)
                continue
            finally:
                counts.seconds += time.monotonic() - started
            counts.calls += 1
            cache.put(key, value)
            values.append(value)
        return values

    return judge

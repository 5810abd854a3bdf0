"""OpenAI-compatible chat provider (OpenAI, Azure OpenAI, vLLM, Ollama, llama.cpp server).

`completion_from_openai` is a pure function on the chat.completion JSON so the Batch API
import and the gate evaluation can parse stored bodies exactly as live responses are parsed.
"""

from __future__ import annotations

import contextlib
import email.utils
import math
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

import httpx2
import openai

from generation.providers.common import (
    LOGPROB_FLOOR,
    clip_logprob,
    json_loads,
    texts_from_token_bytes,
    validate_request,
)
from generation.types import Alternative, Completion, ProviderError, TokenResult

# Local servers (vLLM, Ollama, llama.cpp) ignore the key but the SDK refuses an empty one.
PLACEHOLDER_API_KEY = "not-needed"
# Used only against api.openai.com (no LLM_BASE_URL) when LLM_MODEL is empty.
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"


def _token_bytes(entry: Mapping[str, Any]) -> bytes:
    raw = entry.get("bytes")
    if raw is not None:
        return bytes(raw)
    token = entry.get("token") or ""
    # OpenAI spells a partial-character token as "bytes:\xe2\x80" when it cannot be shown.
    if token.startswith("bytes:") and "\\x" in token:
        try:
            return bytes.fromhex(token[len("bytes:") :].replace("\\x", ""))
        except ValueError:
            pass
    return token.encode("utf-8")


def _alternative_text(entry: Mapping[str, Any], *, chosen_bytes: bytes, chosen_text: str) -> str:
    """An alternative's text: its bytes decoded, else its token string. The sampled token, when
    listed, gets the same text as the token itself (so a byte fragment reads the same in both
    places)."""
    raw = entry.get("bytes")
    if raw is None:
        return chosen_text if _token_bytes(entry) == chosen_bytes else entry.get("token") or ""
    raw = bytes(raw)
    if raw == chosen_bytes:
        return chosen_text
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return entry.get("token") or ""


def _alternatives(entry: Mapping[str, Any], *, chosen_bytes: bytes, chosen_text: str) -> tuple[Alternative, ...]:
    """Top alternatives, most likely first. The hot loop of parsing (top-5: five per token), so
    the common case is inline: bytes given, a float logprob above the floor, listed in order;
    names are local and Alternative is built positionally (kwargs cost ~30% more per object)."""
    alternatives: list[Alternative] = []
    append, new, floor, as_bytes = alternatives.append, Alternative, LOGPROB_FLOOR, bytes
    in_order, previous = True, math.inf
    for alt in entry.get("top_logprobs") or ():
        logprob = alt.get("logprob")
        if logprob is None:
            continue
        if not (type(logprob) is float and logprob >= floor):
            logprob = clip_logprob(logprob)  # NaN, the floor, ints
        raw = alt.get("bytes")
        if raw is None:
            text = _alternative_text(alt, chosen_bytes=chosen_bytes, chosen_text=chosen_text)
        elif (raw := as_bytes(raw)) == chosen_bytes:
            text = chosen_text
        else:
            try:
                text = raw.decode()
            except UnicodeDecodeError:
                text = alt.get("token") or ""
        if logprob is None or logprob > previous:
            in_order = False
        else:
            previous = logprob
        append(new(text, logprob))
    if not in_order:
        # Stable: API order on ties. A logprob clip_logprob turned to None (NaN) sorts last.
        alternatives.sort(key=lambda alt: -math.inf if alt.logprob is None else alt.logprob, reverse=True)
    return tuple(alternatives)


def _realign(texts: list[str], content: str) -> list[str]:
    """Last resort: give each token the slice of `content` its own text is long enough for,
    the last token takes whatever is left, so the concatenation is `content` exactly."""
    aligned, cursor = [], 0
    for index, text in enumerate(texts):
        if index == len(texts) - 1:
            aligned.append(content[cursor:])
        else:
            aligned.append(content[cursor : cursor + len(text)])
            cursor = min(cursor + len(text), len(content))
    return aligned


def _tokens_from_choice(entries: list[Mapping[str, Any]], content: str) -> tuple[tuple[TokenResult, ...], list[str]]:
    notes: list[str] = []
    raw_bytes = [_token_bytes(entry) for entry in entries]
    texts = texts_from_token_bytes(raw_bytes)
    if "".join(texts) != content:
        given = [entry.get("token") or "" for entry in entries]
        if "".join(given) == content:
            texts = given
            notes.append("token bytes do not rebuild the content; used the token strings")
        else:
            texts = _realign(texts, content)
            notes.append("token texts do not match the content; tokens realigned to the content")
    tokens: list[TokenResult] = []
    append, new, floor = tokens.append, TokenResult, LOGPROB_FLOOR
    for entry, text, token_bytes in zip(entries, texts, raw_bytes, strict=True):
        logprob = entry.get("logprob")
        if not (type(logprob) is float and logprob >= floor):
            logprob = clip_logprob(logprob)  # None, NaN, the floor, ints
        append(new(text, token_bytes, logprob, _alternatives(entry, chosen_bytes=token_bytes, chosen_text=text)))
    return tuple(tokens), notes


def completion_from_openai(body: Mapping[str, Any], *, provider: str) -> list[Completion]:
    """One Completion per choice of a chat.completion JSON body (as the API returns it).

    Token texts follow `texts_from_token_bytes` so "".join(t.text) == Completion.text.
    A choice without logprobs gives tokens=() and has_logprobs=False. finish_reason is kept
    as the API said ("stop", "length", "content_filter", ...); content None gives text "".
    prompt_tokens is the request's prompt size, repeated on every candidate.
    """
    usage = body.get("usage") or {}
    choices = sorted(body.get("choices") or (), key=lambda choice: choice.get("index") or 0)
    model = body.get("model") or ""
    completions = []
    for choice in choices:
        message = choice.get("message") or {}
        content = message.get("content") or ""
        notes: list[str] = []
        if message.get("refusal"):
            notes.append(f"refusal: {message['refusal']}")
        logprobs = choice.get("logprobs") or {}
        entries = logprobs.get("content")
        tokens: tuple[TokenResult, ...]
        if entries is None or (not entries and content):
            tokens, has_logprobs = (), False
            notes.append("response carried no token logprobs")
        else:
            tokens, token_notes = _tokens_from_choice(list(entries), content)
            has_logprobs = True
            notes.extend(token_notes)
        if has_logprobs:
            completion_tokens = len(tokens)
        else:
            completion_tokens = (usage.get("completion_tokens") or 0) if len(choices) == 1 else 0
        completions.append(
            Completion(
                text=content,
                tokens=tokens,
                finish_reason=choice.get("finish_reason") or "",
                model=model,
                provider=provider,
                prompt_tokens=usage.get("prompt_tokens") or 0,
                completion_tokens=completion_tokens,
                has_logprobs=has_logprobs,
                notes=tuple(notes),
            )
        )
    return completions


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from retry-after-ms, else Retry-After (seconds or an HTTP date)."""
    if not headers:
        return None
    for header, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(header)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            continue
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    value = headers.get("retry-after")
    if value:
        parsed = email.utils.parsedate_tz(value)
        if parsed is not None:
            return max(0.0, float(email.utils.mktime_tz(parsed) - time.time()))
    return None


def _error_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping) and inner.get("message"):
            return str(inner["message"])
    return str(exc.message or exc)


def provider_error_from_openai(exc: Exception) -> ProviderError:
    """Map an openai SDK exception onto the stored error codes."""
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError(f"request timed out: {exc}", code="timeout", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError(f"connection failed: {exc}", code="connection_error", retryable=True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        message = _error_message(exc)
        retry_after = parse_retry_after(exc.response.headers)
        detail = f"HTTP {status}: {message}"
        if status == 429:
            return ProviderError(detail, code="rate_limited", retryable=True, retry_after=retry_after)
        if status >= 500:
            return ProviderError(detail, code="server_error", retryable=True, retry_after=retry_after)
        if status == 408:
            return ProviderError(detail, code="timeout", retryable=True, retry_after=retry_after)
        if status == 403 or (status == 400 and "logprob" in message.lower()):
            return ProviderError(detail, code="logprobs_refused", retryable=False)
        return ProviderError(detail, code="bad_request", retryable=False)
    if isinstance(exc, openai.APIResponseValidationError):
        return ProviderError(f"unreadable response: {exc}", code="bad_response", retryable=False)
    return ProviderError(f"{type(exc).__name__}: {exc}", code="provider_error", retryable=False)


class OpenAICompatProvider:
    name = "openai"

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None = None,
        api_key: str = "",
        timeout: float = 60.0,
        name: str = "openai",
    ):
        if not model and not base_url:
            model = DEFAULT_OPENAI_MODEL
        if not model:
            from django.core.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured(
                f"LLM_MODEL must name the model served at LLM_BASE_URL={base_url!r} (e.g. the vLLM/Ollama model name)"
            )
        self.name = name
        self.model = model
        self.base_url = base_url or None
        self.timeout = timeout
        self._client = openai.OpenAI(
            api_key=api_key or PLACEHOLDER_API_KEY,
            base_url=self.base_url,
            timeout=timeout,
            max_retries=0,  # the Celery task owns retries and backoff
        )

    @classmethod
    def from_settings(cls, *, model: str | None = None) -> OpenAICompatProvider:
        from django.conf import settings

        return cls(
            model=model or settings.LLM_MODEL,
            base_url=settings.LLM_BASE_URL or None,
            api_key=settings.LLM_API_KEY,
            timeout=settings.LLM_TIMEOUT,
        )

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
        validate_request(max_tokens=max_tokens, temperature=temperature, top_logprobs=top_logprobs, n=n)
        request: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "logprobs": True,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "top_logprobs": top_logprobs,
        }
        if n != 1:
            request["n"] = n
        if seed is not None:
            request["seed"] = seed
        try:
            # The SDK's documented lower-level call: the same request, auth, timeout and error
            # mapping as chat.completions.create, without its params transform (~40% of the
            # client's CPU per call), and the raw response: completion_from_openai reads plain
            # JSON, and building the SDK's pydantic models for every token's alternatives only
            # to dump them costs ~4x more.
            # The in-flight slot covers the HTTP exchange only: parsing the body (GIL-bound, and
            # slower when other threads hold the GIL) is not a request at the provider.
            with in_flight or contextlib.nullcontext():
                response = self._client.post(
                    "/chat/completions",
                    cast_to=httpx2.Response,
                    body=request,
                    options={"security": {"bearer_auth": True}},
                )
                content = response.content
            body = json_loads(content)
        except openai.OpenAIError as exc:
            raise provider_error_from_openai(exc) from exc
        except ValueError as exc:
            raise ProviderError(f"response was not JSON: {exc}", code="bad_response", retryable=True) from exc
        if not isinstance(body, dict):
            raise ProviderError("response was not a JSON object", code="bad_response", retryable=True)
        completions = completion_from_openai(body, provider=self.name)
        if not completions:
            raise ProviderError("response carried no choices", code="bad_response", retryable=True)
        return completions

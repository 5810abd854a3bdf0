"""Model providers: one interface, two implementations (OpenAI-compatible HTTP, embedded GGUF).

Every provider has `name`, `model` and

    complete(*, messages, max_tokens, temperature, top_logprobs, n=1, seed=None) -> list[Completion]

returning `n` candidates or raising `ProviderError`. The helpers here (logprob floor, the
multi-byte text rule, `pick_best`) are shared by both implementations so that a token's text
means the same thing whichever provider produced it.
"""

from __future__ import annotations

import threading

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from generation.providers.common import (
    LOGPROB_FLOOR,
    MAX_TOP_LOGPROBS,
    Provider,
    clip_logprob,
    other_candidates,
    pick_best,
    texts_from_token_bytes,
    validate_request,
)
from generation.providers.embedded import EmbeddedProvider
from generation.providers.openai_compat import OpenAICompatProvider

__all__ = [
    "LOGPROB_FLOOR",
    "MAX_TOP_LOGPROBS",
    "Provider",
    "clip_logprob",
    "get_provider",
    "other_candidates",
    "pick_best",
    "provider_name",
    "reset_provider_cache",
    "texts_from_token_bytes",
    "validate_request",
]

_cache: dict[tuple[str, str], Provider] = {}
_cache_lock = threading.Lock()


def provider_name(name: str | None) -> str:
    chosen = (name or settings.LLM_PROVIDER or "auto").strip().lower()
    if chosen == "auto":
        return "openai" if (settings.LLM_BASE_URL or settings.LLM_API_KEY) else "embedded"
    if chosen not in ("openai", "embedded"):
        raise ImproperlyConfigured(f"LLM_PROVIDER must be 'auto', 'openai' or 'embedded', got {chosen!r}")
    return chosen


def get_provider(name: str | None = None, *, model: str | None = None) -> Provider:
    """The process-wide provider built from settings (LLM_PROVIDER unless `name` is given),
    one per (provider, model); `model` overrides LLM_MODEL for an OpenAI-compatible server.
    The embedded provider serves only its configured GGUF file, so `model` must be empty or
    name that file."""
    resolved = provider_name(name)
    key = (resolved, (model or "").strip())
    with _cache_lock:
        provider = _cache.get(key)
        if provider is None:
            if resolved == "openai":
                provider = OpenAICompatProvider.from_settings(model=key[1] or None)
            else:
                provider = EmbeddedProvider.from_settings()
                if key[1] and key[1] != provider.model:
                    raise ImproperlyConfigured(f"the embedded provider serves {provider.model!r}, not {key[1]!r}")
            _cache[key] = provider
        return provider


def reset_provider_cache() -> None:
    """Forget cached providers (tests that change settings). The embedded model itself stays
    loaded: it is cached per model path in generation.providers.embedded."""
    with _cache_lock:
        _cache.clear()

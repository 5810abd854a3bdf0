"""The OpenAI-compatible provider, through the real openai SDK over HTTP to the fake server."""

import email.utils
import socket
import time

import pytest

from generation.prompts import build_messages
from generation.providers import LOGPROB_FLOOR, get_provider, pick_best
from generation.providers.embedded import EmbeddedProvider
from generation.providers.openai_compat import (
    OpenAICompatProvider,
    completion_from_openai,
    parse_retry_after,
)
from generation.types import Completion, ProviderError, TokenResult
from tests.fakes.fake_openai import FakeOpenAI

MESSAGES = build_messages(
    name="Café Mug",
    sku="MUG-1",
    attributes={"colour": "blue", "capacity": "350 ml", "material": "stoneware"},
    sentences=4,
)


def make_provider(server, *, timeout=5.0):
    return OpenAICompatProvider(model="fake-gpt", base_url=server.base_url, api_key="", timeout=timeout)


def complete(provider, **overrides):
    arguments = {"messages": MESSAGES, "max_tokens": 200, "temperature": 0.7, "top_logprobs": 5}
    arguments.update(overrides)
    return provider.complete(**arguments)


def test_completion_carries_tokens_logprobs_and_alternatives(fake_openai, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # the empty key must be replaced
    [completion] = complete(make_provider(fake_openai))

    assert completion.provider == "openai"
    assert completion.model == "fake-gpt"
    assert completion.finish_reason == "stop"
    assert completion.has_logprobs
    assert "Café Mug" in completion.text
    assert "".join(token.text for token in completion.tokens) == completion.text
    assert b"".join(token.bytes for token in completion.tokens) == completion.text.encode()
    assert completion.completion_tokens == len(completion.tokens) > 10
    assert completion.prompt_tokens > 0
    for token in completion.tokens:
        assert LOGPROB_FLOOR <= token.logprob <= 0
        assert len(token.alternatives) == 5
        values = [alternative.logprob for alternative in token.alternatives]
        assert values == sorted(values, reverse=True)
    sent = fake_openai.requests[-1]
    assert sent["logprobs"] is True
    assert sent["top_logprobs"] == 5
    assert sent["max_tokens"] == 200
    assert sent["model"] == "fake-gpt"


def test_characters_split_across_byte_tokens_go_to_the_completing_token(fake_openai):
    [completion] = complete(make_provider(fake_openai))

    assert any(not _decodes(token.bytes) for token in completion.tokens), "the fake splits multi-byte chars"
    assert any(ord(char) > 0xFFFF for char in completion.text)  # an emoji, four bytes
    assert completion.text.encode() == b"".join(t.bytes for t in completion.tokens)
    assert [t.text for t in completion.tokens] == expected_texts(completion.text, [t.bytes for t in completion.tokens])


def expected_texts(text, token_bytes):
    """The documented rule, computed another way: each character belongs to the token that
    carries its last byte."""
    ends, offset = [], 0
    for token in token_bytes:
        offset += len(token)
        ends.append(offset)
    texts, position, index = [""] * len(token_bytes), 0, 0
    for char in text:
        position += len(char.encode())
        while ends[index] < position:
            index += 1
        texts[index] += char
    return texts


def test_sampled_fragment_in_alternatives_reads_like_the_token(fake_openai):
    [completion] = complete(make_provider(fake_openai))
    fragments = [t for t in completion.tokens if not _decodes(t.bytes)]
    assert fragments
    for fragment in fragments:  # the fake lists the sampled token among its top 5
        assert fragment.text in [alternative.text for alternative in fragment.alternatives]
        assert not any(alternative.text.startswith("bytes:") for alternative in fragment.alternatives)


def test_placeholder_logprobs_are_clipped_to_the_floor(fake_openai):
    fake_openai.script("placeholder")
    [completion] = complete(make_provider(fake_openai))

    alternatives = [a.logprob for t in completion.tokens for a in t.alternatives]
    assert min(alternatives) == LOGPROB_FLOOR
    assert all(value >= LOGPROB_FLOOR for value in alternatives)
    assert completion.tokens[-1].logprob == LOGPROB_FLOOR
    assert completion.mean_logprob > LOGPROB_FLOOR


def test_response_without_logprobs_is_a_stored_outcome(fake_openai):
    fake_openai.script("no_logprobs")
    [completion] = complete(make_provider(fake_openai))

    assert completion.has_logprobs is False
    assert completion.tokens == ()
    assert completion.text
    assert completion.mean_logprob is None
    assert completion.completion_tokens > 0  # taken from usage
    assert any("no token logprobs" in note for note in completion.notes)


@pytest.mark.parametrize("fault", ["logprobs_refused", "logprobs_refused_400"])
def test_logprobs_refusal_is_not_retryable(fake_openai, fault):
    fake_openai.script(fault)
    with pytest.raises(ProviderError) as caught:
        complete(make_provider(fake_openai))
    assert caught.value.code == "logprobs_refused"
    assert caught.value.retryable is False
    assert "logprobs" in str(caught.value)


def test_other_bad_request_is_not_retryable(fake_openai):
    fake_openai.script("bad_request")
    with pytest.raises(ProviderError) as caught:
        complete(make_provider(fake_openai))
    assert (caught.value.code, caught.value.retryable) == ("bad_request", False)


def test_rate_limit_is_retryable_with_retry_after_seconds():
    with FakeOpenAI(retry_after=7) as server:
        server.script("rate_limit")
        with pytest.raises(ProviderError) as caught:
            complete(make_provider(server))
        assert server.requests_total == 1  # the SDK did not retry on its own
    assert caught.value.code == "rate_limited"
    assert caught.value.retryable is True
    assert caught.value.retry_after == 7.0


def test_rate_limit_prefers_retry_after_ms():
    with FakeOpenAI(retry_after=1.5) as server:
        server.script("rate_limit_ms")
        with pytest.raises(ProviderError) as caught:
            complete(make_provider(server))
    assert caught.value.retry_after == 1.5


@pytest.mark.parametrize("fault", ["server_error", "unavailable"])
def test_server_errors_are_retryable_and_not_retried_by_the_sdk(fake_openai, fault):
    fake_openai.script(fault)
    with pytest.raises(ProviderError) as caught:
        complete(make_provider(fake_openai))
    assert (caught.value.code, caught.value.retryable) == ("server_error", True)
    assert fake_openai.requests_total == 1


def test_timeout_is_retryable(fake_openai):
    fake_openai.script("timeout")
    started = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        complete(make_provider(fake_openai, timeout=0.5))
    assert time.monotonic() - started < 5
    assert (caught.value.code, caught.value.retryable) == ("timeout", True)


def test_dropped_connection_is_retryable(fake_openai):
    fake_openai.script("disconnect")
    with pytest.raises(ProviderError) as caught:
        complete(make_provider(fake_openai))
    assert (caught.value.code, caught.value.retryable) == ("connection_error", True)


class _Slot:
    """An in-flight slot that records when it is held and how many requests the fake server had
    received meanwhile."""

    def __init__(self, server):
        self.server, self.held, self.entered, self.exited = server, False, 0, 0
        self.requests_when_taken = None

    def __enter__(self):
        self.held, self.entered = True, self.entered + 1
        self.requests_when_taken = self.server.requests_total

    def __exit__(self, *exc):
        self.held, self.exited = False, self.exited + 1


def test_the_in_flight_slot_covers_the_http_exchange_not_the_parse(fake_openai, monkeypatch):
    from generation.providers import openai_compat

    slot, parsed_while_held = _Slot(fake_openai), []
    parse = openai_compat.completion_from_openai

    def completion_from_openai(body, **kwargs):
        parsed_while_held.append(slot.held)
        return parse(body, **kwargs)

    monkeypatch.setattr(openai_compat, "completion_from_openai", completion_from_openai)
    [completion] = complete(make_provider(fake_openai), in_flight=slot)
    assert completion.tokens
    assert (slot.entered, slot.exited) == (1, 1)
    assert slot.requests_when_taken == 0  # taken before the request went out
    assert parsed_while_held == [False]


@pytest.mark.parametrize("fault", ["server_error", "disconnect"])
def test_a_failed_exchange_gives_its_slot_back(fake_openai, fault):
    fake_openai.script(fault)
    slot = _Slot(fake_openai)
    with pytest.raises(ProviderError):
        complete(make_provider(fake_openai), in_flight=slot)
    assert (slot.entered, slot.exited, slot.held) == (1, 1, False)


def test_a_refused_request_takes_no_slot(fake_openai):
    slot = _Slot(fake_openai)
    with pytest.raises(ProviderError):
        complete(make_provider(fake_openai), top_logprobs=21, in_flight=slot)
    assert slot.entered == 0


def test_nothing_listening_is_a_connection_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = OpenAICompatProvider(model="m", base_url=f"http://127.0.0.1:{port}/v1", timeout=2)
    with pytest.raises(ProviderError) as caught:
        complete(provider)
    assert (caught.value.code, caught.value.retryable) == ("connection_error", True)


def test_finish_reason_length_is_returned_as_is(fake_openai):
    fake_openai.script("length")
    [cut] = complete(make_provider(fake_openai))
    assert cut.finish_reason == "length"
    assert "".join(t.text for t in cut.tokens) == cut.text

    [short] = complete(make_provider(fake_openai), max_tokens=7)
    assert short.finish_reason == "length"
    assert len(short.tokens) <= 7


def test_content_filter_is_returned_as_is(fake_openai):
    [full] = complete(make_provider(fake_openai))
    fake_openai.script("content_filter")
    [filtered] = complete(make_provider(fake_openai))
    assert filtered.finish_reason == "content_filter"
    assert filtered.text and full.text.startswith(filtered.text) and len(filtered.text) < len(full.text)
    assert "".join(t.text for t in filtered.tokens) == filtered.text


def test_n_candidates_and_pick_best(fake_openai):
    candidates = complete(make_provider(fake_openai), n=3, seed=11)
    assert len(candidates) == 3
    assert fake_openai.requests[-1]["n"] == 3 and fake_openai.requests[-1]["seed"] == 11
    assert len({candidate.text for candidate in candidates}) > 1
    best = pick_best(candidates)
    assert best.mean_logprob == max(candidate.mean_logprob for candidate in candidates)
    # the same request gives the same candidates (the fake is deterministic)
    assert [c.text for c in complete(make_provider(fake_openai), n=3, seed=11)] == [c.text for c in candidates]


@pytest.mark.parametrize("extra", [{}, {"n": 3, "seed": 11}])
def test_the_request_is_the_one_chat_completions_create_sends(fake_openai, extra):
    """complete() posts below the SDK's create() (no params transform): the server must see the
    same body as create() with the same arguments sends."""
    import openai

    complete(make_provider(fake_openai), **extra)
    ours = fake_openai.requests[-1]
    client = openai.OpenAI(base_url=fake_openai.base_url, api_key="x", max_retries=0)
    client.chat.completions.create(
        model="fake-gpt", messages=MESSAGES, max_tokens=200, temperature=0.7, logprobs=True, top_logprobs=5, **extra
    )
    assert ours == fake_openai.requests[-1]


def test_pick_best_ranks_candidates_without_logprobs_last():
    def candidate(text, logprobs, has_logprobs=True):
        tokens = tuple(TokenResult(text="x", bytes=b"x", logprob=value) for value in logprobs)
        return Completion(
            text=text, tokens=tokens, finish_reason="stop", model="m", provider="p", has_logprobs=has_logprobs
        )

    blind = candidate("blind", [], has_logprobs=False)
    unsure = candidate("unsure", [-2.0, -1.0])
    sure = candidate("sure", [-0.1, -0.3])
    assert pick_best([blind, unsure, sure]) is sure
    assert pick_best([blind, unsure]) is unsure
    assert pick_best([blind]) is blind
    tie = candidate("tie", [-0.2, -0.2])
    assert pick_best([sure, tie]) is sure  # equal means keep the provider's order
    with pytest.raises(ValueError):
        pick_best([])


@pytest.mark.parametrize("top_logprobs", [21, -1, True, 2.5])
def test_top_logprobs_out_of_range_is_refused_before_any_request(fake_openai, top_logprobs):
    with pytest.raises(ProviderError) as caught:
        complete(make_provider(fake_openai), top_logprobs=top_logprobs)
    assert (caught.value.code, caught.value.retryable) == ("bad_request", False)
    assert "top_logprobs" in str(caught.value)
    assert fake_openai.requests_total == 0


@pytest.mark.parametrize("top_logprobs", [0, 20])
def test_top_logprobs_bounds_are_accepted(fake_openai, top_logprobs):
    [completion] = complete(make_provider(fake_openai), top_logprobs=top_logprobs)
    assert completion.has_logprobs
    assert {len(token.alternatives) for token in completion.tokens} == {top_logprobs}


# --- completion_from_openai on raw JSON ------------------------------------------------------


def body(content, entries, *, finish_reason="stop"):
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-test",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "logprobs": None if entries is None else {"content": entries},
                "finish_reason": finish_reason,
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
    }


def entry(token, logprob, raw=None, top=()):
    item = {"token": token, "logprob": logprob, "top_logprobs": list(top)}
    if raw is not None:
        item["bytes"] = list(raw)
    return item


def test_raw_json_multibyte_rule():
    # "né 😊" tokenised as "n\xc3", "\xa9 \xf0\x9f", "\x98", "\x8a"
    entries = [
        entry("bytes:\\x6e\\xc3", -0.1, b"n\xc3"),
        entry(
            "bytes:\\xa9\\x20\\xf0\\x9f",
            -0.2,
            b"\xa9 \xf0\x9f",
            top=[entry("x", -9999.0, b"x"), entry("bytes:\\xa9\\x20\\xf0\\x9f", -0.2, b"\xa9 \xf0\x9f")],
        ),
        entry("bytes:\\x98", -0.3, b"\x98"),
        entry("bytes:\\x8a", -0.4, b"\x8a"),
    ]
    [completion] = completion_from_openai(body("né 😊", entries), provider="openai")
    assert [t.text for t in completion.tokens] == ["n", "é ", "", "😊"]
    assert completion.notes == ()
    second = completion.tokens[1]
    assert [a.text for a in second.alternatives] == ["é ", "x"]  # sorted, fragment named like the token
    assert second.alternatives[1].logprob == LOGPROB_FLOOR
    assert (completion.prompt_tokens, completion.completion_tokens, completion.model) == (9, 4, "gpt-test")


def test_raw_json_without_bytes_uses_token_strings():
    entries = [entry("Hello", -0.1), entry(" wörld", -0.2), entry("bytes:\\xe2\\x9c", -0.3), entry("bytes:\\xa8", -0.4)]
    [completion] = completion_from_openai(body("Hello wörld✨", entries), provider="vllm")
    assert [t.text for t in completion.tokens] == ["Hello", " wörld", "", "✨"]
    assert completion.tokens[2].bytes == b"\xe2\x9c"
    assert completion.provider == "vllm"


def test_raw_json_bytes_disagreeing_with_content_fall_back_with_a_note():
    # token strings agree with the content, bytes do not
    entries = [entry("Hi", -0.1, b"Hx"), entry(" there", -0.2, b" there")]
    [by_strings] = completion_from_openai(body("Hi there", entries), provider="openai")
    assert [t.text for t in by_strings.tokens] == ["Hi", " there"]
    assert by_strings.tokens[0].bytes == b"Hx"  # bytes are kept as reported
    assert any("token strings" in note for note in by_strings.notes)

    # nothing agrees: realign to the content, which always wins
    entries = [entry("Ha", -0.1, b"Ha"), entry(" then", -0.2, b" then")]
    [realigned] = completion_from_openai(body("Hi there!", entries), provider="openai")
    assert "".join(t.text for t in realigned.tokens) == "Hi there!"
    assert [t.text for t in realigned.tokens] == ["Hi", " there!"]
    assert any("realigned" in note for note in realigned.notes)


def test_raw_json_content_none_and_no_logprobs():
    [empty] = completion_from_openai(body(None, None, finish_reason="content_filter"), provider="openai")
    assert (empty.text, empty.tokens, empty.finish_reason) == ("", (), "content_filter")
    assert empty.has_logprobs is False

    [nothing] = completion_from_openai(body("", []), provider="openai")
    assert (nothing.text, nothing.tokens, nothing.has_logprobs) == ("", (), True)

    # logprobs present but empty while there is content: the server dropped them
    [dropped] = completion_from_openai(body("Hello", []), provider="openai")
    assert dropped.has_logprobs is False


def test_raw_json_one_completion_per_choice_in_index_order():
    raw = body("a", [entry("a", -0.5, b"a")])
    second = dict(
        raw["choices"][0],
        index=1,
        message={"role": "assistant", "content": "b"},
        logprobs={"content": [entry("b", -0.1, b"b")]},
    )
    raw["choices"] = [second, raw["choices"][0]]
    completions = completion_from_openai(raw, provider="openai")
    assert [c.text for c in completions] == ["a", "b"]
    assert pick_best(completions).text == "b"


def test_parse_retry_after_variants():
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": "soon"}) is None
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= parse_retry_after({"retry-after": future}) <= 31


# --- get_provider -------------------------------------------------------------------------------


def test_get_provider_auto_picks_openai_when_a_base_url_is_set(settings, fresh_providers, fake_openai):
    settings.LLM_PROVIDER = "auto"
    settings.LLM_BASE_URL = fake_openai.base_url
    settings.LLM_API_KEY = ""
    settings.LLM_MODEL = "fake-gpt"
    provider = get_provider()
    assert isinstance(provider, OpenAICompatProvider)
    assert get_provider() is provider  # cached for the process
    assert complete(provider)[0].model == "fake-gpt"


def test_get_provider_auto_without_server_settings_is_embedded(settings, fresh_providers):
    settings.LLM_PROVIDER = "auto"
    settings.LLM_BASE_URL = ""
    settings.LLM_API_KEY = ""
    settings.LOCAL_MODEL_PATH = ""
    provider = get_provider()
    assert isinstance(provider, EmbeddedProvider)
    assert get_provider("embedded") is provider


def test_get_provider_refuses_unknown_names(settings, fresh_providers):
    from django.core.exceptions import ImproperlyConfigured

    settings.LLM_PROVIDER = "gemini"
    with pytest.raises(ImproperlyConfigured, match="LLM_PROVIDER"):
        get_provider()


def _decodes(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_model_defaults_only_for_api_openai_com():
    from django.core.exceptions import ImproperlyConfigured

    assert OpenAICompatProvider(model="", api_key="sk-test").model == "gpt-4o-mini"
    with pytest.raises(ImproperlyConfigured, match="LLM_MODEL"):
        OpenAICompatProvider(model="", base_url="http://127.0.0.1:1/v1")


# --- JSON bodies (generation.providers.common.json_loads) ----------------------------------


def test_json_loads_reads_a_body_as_json_loads_does():
    import json

    from generation.providers.common import json_loads

    messages = build_messages(name="Lamp", sku="L-1", attributes={"colour": "näve 🌈"}, template="")
    body = FakeOpenAI(seed=1).chat_completion({"messages": messages, "logprobs": True, "top_logprobs": 5})
    raw = json.dumps(body, ensure_ascii=False).encode()
    for data in (raw, raw.decode(), '{"a": 1, "a": [NaN, -0.0, 1e400, 123456789012345678901234567890]}'):
        assert repr(json_loads(data)) == repr(json.loads(data))
    # What jiter refuses, json.loads reads (or refuses with its own message).
    assert json_loads(b'"\\ud800"') == "\ud800"
    assert json_loads('{"x": "é"}'.encode("utf-16")) == {"x": "é"}
    for bad in (b"", b"{", b'{"a": }', b"\xff"):
        with pytest.raises(ValueError) as ours:
            json_loads(bad)
        with pytest.raises(ValueError) as theirs:
            json.loads(bad)
        assert str(ours.value) == str(theirs.value)


def test_alternatives_come_most_likely_first_whatever_order_and_values_the_api_sends():
    from generation.providers.openai_compat import completion_from_openai

    top = [
        {"token": "b", "bytes": [98], "logprob": -2.0},
        {"token": "a", "bytes": [97], "logprob": -0.5},
        {"token": "nan", "bytes": [110], "logprob": float("nan")},
        {"token": "zero", "bytes": [122], "logprob": 0},
        {"token": "tie", "bytes": [116], "logprob": -2.0},
        {"token": "far", "bytes": [102], "logprob": -9999.0},
        {"token": "bytes:\\xff", "bytes": [255], "logprob": -3.0},
        {"token": "x", "logprob": -1.0},  # no bytes: the chosen token's text
        {"token": "none", "bytes": [110], "logprob": None},  # dropped
    ]
    body = {
        "choices": [
            {
                "index": 0,
                "message": {"content": "x"},
                "logprobs": {"content": [{"token": "x", "bytes": [120], "logprob": -1.0, "top_logprobs": top}]},
            }
        ]
    }
    [completion] = completion_from_openai(body, provider="openai")
    alternatives = [(a.text, a.logprob) for a in completion.tokens[0].alternatives]
    assert alternatives[:-1] == [
        ("z", 0.0),  # texts come from the bytes
        ("a", -0.5),
        ("x", -1.0),
        ("b", -2.0),
        ("t", -2.0),  # a tie keeps the API's order
        ("bytes:\\xff", -3.0),  # bytes that do not decode: the token string
        ("f", LOGPROB_FLOOR),
    ]
    assert alternatives[-1][0] == "n" and alternatives[-1][1] is None
    assert type(alternatives[0][1]) is float


# The Completions parsed from every label file's completion and candidates and from the fake's
# bodies under each response fault, as the parser before the positional rewrite gave them.
PARSED_DIGEST = (346, "cf05c9a8f4547802")


def test_label_files_and_fake_bodies_parse_to_the_same_completions_as_before():
    import hashlib
    import json
    from pathlib import Path

    def bodies():
        for path in sorted(Path(__file__).parent.parent.joinpath("data").glob("gate_dev_set*.jsonl")):
            for line in path.read_text().splitlines():
                record = json.loads(line)
                if "completion" in record:
                    yield record["completion"]
                yield from record.get("candidates") or ()
        messages = build_messages(
            name="Café Mug", sku="M-1", attributes={"capacity": "350 ml", "weight": "1.2 kg"}, sentences=4
        )
        for fault in (None, "no_logprobs", "placeholder", "length", "content_filter"):
            for top in (0, 1, 5, 20):
                request = {"messages": messages, "logprobs": True, "top_logprobs": top, "n": 2, "seed": 3}
                yield FakeOpenAI().chat_completion(request, fault)

    digest, count = hashlib.sha256(), 0
    for body in bodies():
        for completion in completion_from_openai(body, provider="p"):
            digest.update(repr(completion).encode())  # every field; floats repr exactly
            count += 1
    assert (count, digest.hexdigest()[:16]) == PARSED_DIGEST

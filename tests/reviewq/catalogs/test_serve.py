"""`manage.py serve` as `make run` uses it: real worker and web server processes."""

import contextlib
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from reviewq.catalogs.management.commands.serve import worker_pool

pytestmark = [pytest.mark.slow, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[3]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def http_get(url: str):
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Serve:
    """`manage.py serve` in a subprocess, its output collected line by line."""

    def __init__(self, env: dict, *args: str):
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--port", str(self.port), "--stop-timeout", "20", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            self._queue.put(line)

    def wait_for(self, pattern: str, timeout: float = 90) -> re.Match:
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            for line in self.lines:
                if match := regex.search(line):
                    return match
            if time.monotonic() > deadline or (self.process.poll() is not None and self._queue.empty()):
                raise AssertionError(f"no line matching {pattern!r} in:\n" + "\n".join(self.lines))
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.5)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture(scope="module")
def base_env(tmp_path_factory):
    """A migrated SQLite database and the embedded broker in a temporary folder."""
    data = tmp_path_factory.mktemp("serve-data")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_", "CELERY_", "LLM_", "REVIEWQ_", "DEBUG", "SECRET_KEY"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="reviewq.settings",
        REVIEWQ_DATA_DIR=str(data),
        DATABASE_URL=f"sqlite:///{data / 'reviewq.sqlite3'}",
        CELERY_BROKER_URL=f"sqla+sqlite:///{data / 'broker.sqlite3'}",
        LLM_PROVIDER="embedded",
        STATIC_ROOT=str(data / "static"),
        DEBUG="1",
    )
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    return env


def test_serve_debug_runs_worker_and_runserver_and_stops_both_on_ctrl_c(base_env):
    serve = Serve(base_env)
    try:
        worker_pid = int(serve.wait_for(r"\[serve\] worker pid (\d+) \(pool=prefork, concurrency=1\)").group(1))
        web_pid = int(serve.wait_for(r"\[serve\] web pid (\d+) \(runserver, DEBUG\)").group(1))
        serve.wait_for(rf"reviewq is running at http://127\.0\.0\.1:{serve.port}/")
        serve.wait_for(r"\[worker\] .*@\S+ ready\.")

        status, _, body = http_get(serve.url("/login/"))
        assert status == 200 and "Log in to reviewq" in body
        status, headers, _ = http_get(serve.url("/"))
        assert (status, headers["Location"]) == (302, "/login/?next=/")

        # The demo catalog is missing in this database: queueing fails, serve keeps running.
        serve.wait_for(r"queueing generation for 'Demo catalog' failed")
        assert "No catalog named 'Demo catalog'" in serve.output
        assert http_get(serve.url("/login/"))[0] == 200
        assert serve.process.poll() is None

        serve.process.send_signal(signal.SIGINT)
        assert serve.process.wait(40) == 0, serve.output
        assert "[serve] received SIGINT, stopping" in serve.output
        assert not pid_alive(worker_pid) and not pid_alive(web_pid)
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", serve.port), timeout=1).close()
    finally:
        serve.stop()


def test_serve_with_gunicorn_restarts_a_dead_worker_and_stops_everything_when_web_dies(base_env):
    env = {
        **base_env,
        "DEBUG": "0",
        "SECRET_KEY": "serve-test-secret-" + "x" * 40,
        "CELERY_POOL": "threads",
        "CELERY_CONCURRENCY": "2",
    }
    serve = Serve(env, "--no-generate")
    try:
        worker_pid = int(serve.wait_for(r"\[serve\] worker pid (\d+) \(pool=threads, concurrency=2\)").group(1))
        web_pid = int(serve.wait_for(r"\[serve\] web pid (\d+) \(gunicorn\)").group(1))
        serve.wait_for(r"reviewq is running at")
        serve.wait_for(r"\[worker\] .*@\S+ ready\.")
        serve.wait_for(r"\[worker\] .*beat: Starting")  # embedded beat: lost work is re-sent
        status, headers, body = http_get(serve.url("/login/"))
        assert status == 200 and "Log in to reviewq" in body
        assert headers["Server"].startswith("gunicorn")
        status, _, _ = http_get(serve.url("/static/vendor/htmx-2.0.11.min.js"))
        assert status == 200  # collected and served by whitenoise

        # A worker that dies (Celery's Redis reconnect once did) is restarted; the web stays up.
        os.kill(worker_pid, signal.SIGKILL)
        serve.wait_for(r"\[serve\] worker exited with code -9; restarting it in 1 s")
        restarted = int(serve.wait_for(rf"\[serve\] worker pid (?!{worker_pid}\b)(\d+) \(pool=threads").group(1))
        deadline = time.monotonic() + 60
        while len(re.findall(r"\[worker\] .*@\S+ ready\.", serve.output)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(re.findall(r"\[worker\] .*@\S+ ready\.", serve.output)) == 2, serve.output
        assert pid_alive(restarted) and pid_alive(web_pid) and serve.process.poll() is None
        assert http_get(serve.url("/login/"))[0] == 200

        # The web server dying still stops everything.
        os.kill(web_pid, signal.SIGKILL)
        assert serve.process.wait(40) != 0
        assert "web exited with code -9; stopping the others." in serve.output
        assert not pid_alive(restarted)
        assert "queueing missing descriptions" not in serve.output
    finally:
        serve.stop()


def test_serve_gives_up_on_a_worker_that_keeps_exiting(base_env):
    serve = Serve({**base_env, "CELERY_POOL": "no-such-pool"}, "--no-generate", "--worker-restarts", "2")
    try:
        web_pid = int(serve.wait_for(r"\[serve\] web pid (\d+)").group(1))
        assert serve.process.wait(60) != 0, serve.output
        assert re.search(r"worker exited with code \d+; restarting it in 1 s", serve.output), serve.output
        assert re.search(r"worker exited with code \d+ \(2 times within 60 s\); stopping the others\.", serve.output)
        assert len(re.findall(r"\[serve\] worker pid \d+", serve.output)) == 2
        assert not pid_alive(web_pid)
    finally:
        serve.stop()


@pytest.mark.parametrize(
    ("env", "provider", "expected"),
    [
        ({}, "embedded", ("prefork", 1)),
        ({}, "openai", ("threads", 8)),
        ({"CELERY_POOL": "solo"}, "embedded", ("solo", 1)),
        ({"CELERY_POOL": "threads", "CELERY_CONCURRENCY": "32"}, "embedded", ("threads", 32)),
        ({"CELERY_CONCURRENCY": "3"}, "openai", ("threads", 3)),
    ],
)
def test_worker_pool_defaults_follow_the_provider(monkeypatch, settings, env, provider, expected):
    monkeypatch.delenv("CELERY_POOL", raising=False)
    monkeypatch.delenv("CELERY_CONCURRENCY", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings.LLM_PROVIDER = provider
    assert worker_pool() == expected


def test_auto_provider_with_a_base_url_gets_threads(monkeypatch, settings):
    monkeypatch.delenv("CELERY_POOL", raising=False)
    monkeypatch.delenv("CELERY_CONCURRENCY", raising=False)
    settings.LLM_PROVIDER, settings.LLM_BASE_URL, settings.LLM_API_KEY = "auto", "http://127.0.0.1:8080/v1", ""
    assert worker_pool() == ("threads", 8)
    settings.LLM_BASE_URL = ""
    assert worker_pool() == ("prefork", 1)


def test_bad_concurrency_is_refused(monkeypatch):
    from django.core.management.base import CommandError

    monkeypatch.setenv("CELERY_CONCURRENCY", "many")
    with pytest.raises(CommandError, match="whole number"):
        worker_pool()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "reviewq.example.com"])
def test_serve_refuses_debug_on_an_address_others_can_reach(settings, host):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    settings.DEBUG = True
    with pytest.raises(CommandError, match=r"^DEBUG is on: refusing to serve on .*Set DEBUG=0") as refused:
        call_command("serve", host=host)
    assert "\n" not in str(refused.value)


def test_serve_debug_on_loopback_is_not_refused():
    from reviewq.catalogs.management.commands.serve import _is_loopback

    assert all(_is_loopback(h) for h in ("127.0.0.1", "::1", "[::1]", "localhost", "127.0.0.2"))
    assert not any(_is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.1", "example.com"))

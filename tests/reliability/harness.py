"""Real processes for fault tests and bench/soak.py: Celery workers, a private redis-server,
a TCP proxy that can cut the database off, and the checks every fault run ends with.

Everything listens on 127.0.0.1 only. Needs Django set up (settings of the caller)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REDIS_SERVER = shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(
    predicate: Callable[[], bool], *, timeout: float, poll: float = 0.5, alive: Callable[[], None] | None = None
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if alive is not None:
            alive()
        time.sleep(poll)
    return predicate()


# --- a private Redis ---------------------------------------------------------------------------


class PrivateRedis:
    """redis-server on a free loopback port; stop() kills it (SIGKILL by default, as a crash
    would), start() brings it back on the same port with its append-only file (if persistent)."""

    def __init__(self, *, port: int | None = None, persistent: bool = True):
        if REDIS_SERVER is None:
            raise RuntimeError("redis-server is not installed")
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="reviewq-redis-")
        self.persistent = persistent
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> PrivateRedis:
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--dir",
                self.dir,
                "--protected-mode",
                "yes",
                # As docker-compose.yml runs it (appendonly), fsync'd on every write so a SIGKILL loses nothing.
                *(["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not wait_until(self._answers, timeout=10, poll=0.05):
            raise RuntimeError(f"redis-server did not start on port {self.port}")
        return self

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, *, kill: bool = True) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            self.process.wait(timeout=10)
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PrivateRedis:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


# --- a TCP proxy that can cut the database off -------------------------------------------------


class TcpProxy:
    """Forwards 127.0.0.1:<port> to target. cut() drops every open connection and refuses new
    ones (accept, then close) until restore(): a database that is briefly unreachable."""

    def __init__(self, *, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._cut = threading.Event()
        self._stop = threading.Event()
        self.accepted = 0
        self.refused = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self._listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._cut.is_set():
                self.refused += 1
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            self.accepted += 1
            with self._lock:
                self._open.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                self._close(sock)

    def _close(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def cut(self) -> None:
        self._cut.set()
        with self._lock:
            sockets = list(self._open)
        for sock in sockets:
            self._close(sock)

    def restore(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        self._stop.set()
        self.cut()
        self._listener.close()


# --- workers -------------------------------------------------------------------------------------


def database_url(settings_dict: dict, *, host: str | None = None, port: int | None = None) -> str:
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    auth = settings_dict["USER"] + (f":{settings_dict['PASSWORD']}" if settings_dict["PASSWORD"] else "")
    return (
        f"postgres://{auth}@{host or settings_dict['HOST'] or '127.0.0.1'}:"
        f"{port or settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"
    )


def worker_env(*, database: str, broker: str, llm_base_url: str, **extra: str) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "reviewq.settings",
        "SECRET_KEY": "fault-test-secret-key-not-for-production-use-0123456789",
        "DATABASE_URL": database,
        "CELERY_BROKER_URL": broker,
        "LLM_PROVIDER": "openai",
        "LLM_BASE_URL": llm_base_url,
        "LLM_API_KEY": "test",
        "LLM_MODEL": "fake-model",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Worker:
    """`celery worker` (threads pool) as a child process, its output in a log file (a pipe would
    fill up and block it)."""

    def __init__(
        self,
        *,
        env: dict,
        queue: str,
        concurrency: int = 8,
        log_dir: Path | str | None = None,
        name: str = "w",
        args: tuple[str, ...] = (),
    ):
        self.log_path = (
            Path(log_dir or tempfile.gettempdir()) / f"worker-{name}-{os.getpid()}-{time.monotonic_ns()}.log"
        )
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "reviewq",
                "worker",
                "--pool",
                "threads",
                "--concurrency",
                str(concurrency),
                "--loglevel",
                "WARNING",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-Q",
                queue,
                "-n",
                f"{name}-{time.monotonic_ns()}@%h",
                *args,
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # Its own process group: --beat runs beat in a child process, which a kill must take
            # down too (as a container's end does), or it lives on after the test.
            start_new_session=True,
        )

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def assert_alive(self) -> None:
        assert self.alive, f"worker exited with {self.process.returncode}:\n{self.log()[-4000:]}"

    def kill(self) -> None:
        """SIGKILL: no warm shutdown, nothing handed back to the broker."""
        if self.alive:
            self._kill_group()
            self.process.wait(timeout=10)

    def _kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def stop(self) -> str:
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._kill_group()  # whatever of the group outlived its leader (a killed worker's beat)
        self._log.close()
        return self.log()

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")


class Supervisor:
    """Restarts a worker that exited, as docker-compose's `restart: unless-stopped` does, at most
    `max_restarts` times; `check` goes where a test would call worker.assert_alive."""

    def __init__(
        self,
        *,
        env: dict,
        queue: str,
        log_dir: Path | str | None,
        name: str,
        max_restarts: int = 2,
        args: tuple[str, ...] = (),
    ):
        self.env, self.queue, self.log_dir, self.name, self.args = env, queue, log_dir, name, args
        self.max_restarts = max_restarts
        self.workers = [Worker(env=env, queue=queue, log_dir=log_dir, name=name, args=args)]
        self.exits: list[str] = []

    def check(self) -> None:
        worker = self.workers[-1]
        if worker.alive:
            return
        log = worker.log()
        critical = [line for line in log.splitlines() if "CRITICAL" in line or "Unrecoverable" in line]
        self.exits.append(f"exit {worker.process.returncode}" + (f": {critical[-1][-200:]}" if critical else ""))
        assert len(self.exits) <= self.max_restarts, "\n".join(self.exits) + "\n" + log[-3000:]
        self.workers.append(
            Worker(
                env=self.env,
                queue=self.queue,
                log_dir=self.log_dir,
                name=f"{self.name}-{len(self.workers) + 1}",
                args=self.args,
            )
        )

    def stop(self) -> str:
        return "".join(worker.stop() for worker in self.workers)


def send_generation(*, broker: str, queue: str, product_ids: list[int], chunk: int = 1) -> None:
    """Publish to exactly `broker`: a Celery app would let a CELERY_BROKER_URL environment
    variable (the suite's shared Redis) override it. chunk > 1: one generate_descriptions task
    per `chunk` products, as a bulk run sends them; else one generate_description each."""
    from celery import Celery
    from kombu import Connection

    from generation.dispatch import GENERATE_DESCRIPTION, GENERATE_DESCRIPTIONS

    sender = Celery("reviewq-fault-sender", broker=broker)
    try:
        with Connection(broker) as conn:
            for start in range(0, len(product_ids), max(1, chunk)):
                ids = product_ids[start : start + max(1, chunk)]
                name, args = (GENERATE_DESCRIPTIONS, [ids]) if chunk > 1 else (GENERATE_DESCRIPTION, ids)
                sender.send_task(name, args=args, queue=queue, connection=conn)
    finally:
        sender.close()


# --- the checks ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunCheck:
    products: int
    statuses: dict
    not_terminal: int
    missing: int  # products with no description at all
    duplicate_generations: int  # descriptions stored more than once by the same claim chain
    half_written: list  # description ids with tokens but no text, or in review without sentences
    token_text_mismatch: int
    failed_without_reason: int
    error_codes: dict
    # The audit trail of each description left non-terminal: what happened to it, for the failure message.
    stuck: dict = field(default_factory=dict, repr=True)

    @property
    def ok(self) -> bool:
        return (
            self.not_terminal == 0
            and self.missing == 0
            and self.duplicate_generations == 0
            and not self.half_written
            and self.token_text_mismatch == 0
            and self.failed_without_reason == 0
        )


TERMINAL = ("review", "published", "rejected", "failed")


def run_check(*, catalog_id: int) -> RunCheck:
    from django.db.models import Count, Q

    from reviewq.core.models import AuditEvent, Description, Product, Token

    products = Product.objects.filter(catalog_id=catalog_id).count()
    descriptions = Description.objects.filter(product__catalog_id=catalog_id)
    statuses = Counter(descriptions.values_list("status", flat=True))
    generated = Counter(
        AuditEvent.objects.filter(description__product__catalog_id=catalog_id, action="generated").values_list(
            "description_id", flat=True
        )
    )
    half = list(
        descriptions.annotate(n_tokens=Count("tokens", distinct=True), n_sentences=Count("sentences", distinct=True))
        .filter(
            Q(n_tokens__gt=0, text="")
            | Q(status__in=["review", "published"], n_sentences=0)
            | Q(n_tokens__gt=0, n_sentences=0)
        )
        .values_list("id", flat=True)
    )
    mismatch = 0
    texts = dict(descriptions.filter(status__in=["review", "published"], has_logprobs=True).values_list("id", "text"))
    joined: dict[int, list[str]] = {}
    for description_id, text in (
        Token.objects.filter(description_id__in=texts)
        .order_by("description_id", "position")
        .values_list("description_id", "text")
    ):
        joined.setdefault(description_id, []).append(text)
    for description_id, text in texts.items():
        if "".join(joined.get(description_id, [])) != text:
            mismatch += 1
    return RunCheck(
        products=products,
        statuses=dict(statuses),
        not_terminal=sum(n for s, n in statuses.items() if s not in TERMINAL),
        missing=products - sum(statuses.values()),
        duplicate_generations=sum(1 for n in generated.values() if n > 1),
        half_written=half,
        token_text_mismatch=mismatch,
        failed_without_reason=descriptions.filter(status="failed").filter(Q(error="") | Q(error_code="")).count(),
        error_codes=dict(Counter(descriptions.filter(status="failed").values_list("error_code", flat=True))),
        stuck={
            description_id: [
                f"{at:%H:%M:%S.%f} {action} {after.get('status', '')} {note[:80]}"
                for at, action, after, note in AuditEvent.objects.filter(description_id=description_id)
                .order_by("pk")
                .values_list("created_at", "action", "after", "note")
            ]
            for description_id in descriptions.exclude(status__in=TERMINAL).values_list("id", flat=True)[:5]
        },
    )

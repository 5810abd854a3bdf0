"""Run the Celery worker (with embedded beat) and the web server together; Ctrl-C stops both.

Each child runs in its own session, so a terminal's Ctrl-C reaches only this process, which
then stops the children in order (SIGTERM, then SIGKILL after --stop-timeout). A worker that
exits on its own is restarted with backoff (its tasks come back: see generation/recovery.py);
one that keeps exiting, or a web server that exits, stops everything and serve exits non-zero.
"""

import contextlib
import ipaddress
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from reviewq.catalogs.management.commands.setup_demo import DEMO_CATALOG_NAME

THREAD_POOLS = {"threads", "gevent", "eventlet"}
WORKER_READY = re.compile(r"@\S+ ready\.")
# A worker exiting this often within RESTART_WINDOW_SECONDS is given up on; the delay before
# a restart doubles with each exit in the window, from 1 s up to RESTART_DELAY_CAP_SECONDS.
RESTART_WINDOW_SECONDS = 60.0
RESTART_DELAY_CAP_SECONDS = 30.0


def provider_is_remote() -> bool:
    """True when generation goes to an OpenAI-compatible server (same rule as LLM_PROVIDER=auto)."""
    provider = settings.LLM_PROVIDER
    if provider == "auto":
        return bool(settings.LLM_BASE_URL or settings.LLM_API_KEY)
    return provider == "openai"


def worker_pool() -> tuple[str, int]:
    """(pool, concurrency) from CELERY_POOL / CELERY_CONCURRENCY, else a default per provider.

    The embedded model is CPU bound and loads once per process: one prefork child. Remote
    providers are I/O bound: a threads pool keeps many requests in flight cheaply.
    """
    pool = os.environ.get("CELERY_POOL", "").strip() or ("threads" if provider_is_remote() else "prefork")
    raw = os.environ.get("CELERY_CONCURRENCY", "").strip()
    if raw:
        try:
            concurrency = int(raw)
        except ValueError:
            raise CommandError(f"CELERY_CONCURRENCY must be a whole number, got {raw!r}") from None
        if concurrency < 1:
            raise CommandError(f"CELERY_CONCURRENCY must be at least 1, got {concurrency}")
    else:
        concurrency = 8 if pool in THREAD_POOLS else 1
    return pool, concurrency


class Child:
    """A child process in its own session whose output is copied, prefixed, to ours."""

    def __init__(self, name: str, args: list[str], *, out, lock: threading.Lock, on_line=None):
        self.name = name
        self.process = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            cwd=settings.BASE_DIR,
        )
        self._out = out
        self._lock = lock
        self._on_line = on_line
        self._reader = threading.Thread(target=self._copy_output, name=f"serve-{name}", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _copy_output(self) -> None:
        for raw in iter(self.process.stdout.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            with self._lock:
                self._out.write(f"[{self.name}] {line}\n")
                self._out.flush()
            if self._on_line:
                self._on_line(line)

    def poll(self) -> int | None:
        return self.process.poll()

    def terminate(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def kill_group(self) -> None:
        """SIGKILL whatever is left in the child's process group (leader or orphans)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def join_output(self, timeout: float = 2.0) -> None:
        self._reader.join(timeout)


class Command(BaseCommand):
    help = "Start the Celery worker and the web server together (Ctrl-C stops both)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8000, help="Port to listen on (default 8000)")
        parser.add_argument(
            "--catalog",
            default=DEMO_CATALOG_NAME,
            help=f"Catalog whose missing descriptions are queued once the worker is up (default {DEMO_CATALOG_NAME!r})",
        )
        parser.add_argument("--no-generate", action="store_true", help="Do not queue any generation")
        parser.add_argument(
            "--worker-restarts",
            type=int,
            default=5,
            help=f"Stop everything when the worker exits this many times within "
            f"{RESTART_WINDOW_SECONDS:.0f} s (default 5); fewer exits restart it with backoff",
        )
        parser.add_argument(
            "--stop-timeout",
            type=float,
            default=30.0,
            help="Seconds to wait for a clean stop before killing (default 30; a second Ctrl-C kills at once)",
        )

    def handle(self, *args, host, port, catalog, no_generate, worker_restarts, stop_timeout, **options):
        if settings.DEBUG and not _is_loopback(host):
            # Debug pages show settings and source to whoever can reach the address.
            raise CommandError(
                f"DEBUG is on: refusing to serve on {host}, which other machines can reach. "
                "Set DEBUG=0 and SECRET_KEY, or use --host 127.0.0.1."
            )
        self._lock = threading.Lock()
        self._signals: list[int] = []
        self._worker_ready = threading.Event()
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        worker: Child | None = None
        web: Child | None = None
        generate: Child | None = None
        try:
            if worker_restarts < 1:
                raise CommandError(f"--worker-restarts must be at least 1, got {worker_restarts}")
            pool, concurrency = worker_pool()
            worker = self._worker_start(pool, concurrency)
            if not settings.DEBUG:
                call_command("collectstatic", interactive=False, verbosity=0)
            web = Child("web", self._web_args(host, port), out=self.stdout, lock=self._lock)
            self._say(f"web pid {web.pid} ({'runserver, DEBUG' if settings.DEBUG else 'gunicorn'})")

            announced = False
            generate_done = no_generate
            worker_exits: list[float] = []  # monotonic times, within RESTART_WINDOW_SECONDS
            restart_at: float | None = None
            while not self._signals:
                if (code := web.poll()) is not None:
                    raise CommandError(f"web exited with code {code}; stopping the others.")
                if restart_at is None and (code := worker.poll()) is not None:
                    worker.kill_group()  # its beat or pool processes, if any outlived it
                    worker.join_output()
                    now = time.monotonic()
                    worker_exits = [t for t in worker_exits if now - t < RESTART_WINDOW_SECONDS] + [now]
                    if len(worker_exits) >= worker_restarts:
                        raise CommandError(
                            f"worker exited with code {code} ({len(worker_exits)} times within "
                            f"{RESTART_WINDOW_SECONDS:.0f} s); stopping the others."
                        )
                    delay = min(RESTART_DELAY_CAP_SECONDS, 2.0 ** (len(worker_exits) - 1))
                    self._say(f"worker exited with code {code}; restarting it in {delay:.0f} s", error=True)
                    restart_at = now + delay
                if restart_at is not None and time.monotonic() >= restart_at:
                    restart_at = None
                    worker = self._worker_start(pool, concurrency)
                if not announced and _port_open(host, port):
                    announced = True
                    self._say(
                        f"reviewq is running at http://{_display_host(host)}:{port}/ "
                        "(Ctrl-C stops the web server and the worker)"
                    )
                if not generate_done and self._worker_ready.is_set():
                    if generate is None:
                        generate = self._generate_start(catalog)
                        generate_done = generate is None
                    elif generate.poll() is not None:
                        generate_done = True
                        generate.join_output()
                        if generate.poll() != 0:
                            self._say(
                                f"ERROR: queueing generation for {catalog!r} failed (exit "
                                f"{generate.poll()}); the web server and worker keep running.",
                                error=True,
                            )
                time.sleep(0.2)
            self._say(f"received {signal.Signals(self._signals[0]).name}, stopping")
        finally:
            children = [child for child in (worker, web, generate) if child is not None]
            self._stop(children, timeout=stop_timeout)
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    # --- children ---------------------------------------------------------------------

    def _worker_start(self, pool: str, concurrency: int) -> Child:
        worker = Child(
            "worker", self._worker_args(pool, concurrency), out=self.stdout, lock=self._lock, on_line=self._watch_worker
        )
        self._say(f"worker pid {worker.pid} (pool={pool}, concurrency={concurrency})")
        return worker

    def _worker_args(self, pool: str, concurrency: int) -> list[str]:
        args = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "reviewq",
            "worker",
            "--loglevel",
            "INFO",
            "--pool",
            pool,
            "--concurrency",
            str(concurrency),
            "--hostname",
            "reviewq@%h",
        ]
        if settings.CELERY_BEAT_SCHEDULE:
            # Embedded beat: the recovery of lost work runs without a separate process.
            args += ["--beat", "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME]
        return args

    def _web_args(self, host: str, port: int) -> list[str]:
        if settings.DEBUG:
            addr = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            return [sys.executable, str(_manage_py()), "runserver", addr, "--noreload"]
        bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return [sys.executable, "-m", "gunicorn", "reviewq.wsgi", "--bind", bind, "--access-logfile", "-"]

    def _generate_start(self, catalog: str) -> Child | None:
        try:
            child = Child(
                "generate",
                [sys.executable, str(_manage_py()), "generate", "--catalog", catalog, "--only-missing"],
                out=self.stdout,
                lock=self._lock,
            )
        except OSError as exc:
            self._say(f"ERROR: could not start generation for {catalog!r}: {exc}", error=True)
            return None
        self._say(f"queueing missing descriptions of {catalog!r} (pid {child.pid})")
        return child

    def _watch_worker(self, line: str) -> None:
        if WORKER_READY.search(line):
            self._worker_ready.set()

    def _stop(self, children: list[Child], *, timeout: float) -> None:
        signals_before = len(self._signals)
        for child in children:
            child.terminate()
        deadline = time.monotonic() + timeout
        while any(c.poll() is None for c in children):
            # Another Ctrl-C while stopping means "now".
            if time.monotonic() > deadline or len(self._signals) > signals_before:
                self._say("stop timed out or was interrupted; killing the children", error=True)
                break
            time.sleep(0.1)
        for child in children:
            child.kill_group()
            try:
                child.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._say(f"{child.name} (pid {child.pid}) did not die", error=True)
            child.join_output()
        self._say("stopped")

    # --- helpers ----------------------------------------------------------------------

    def _on_signal(self, signum, frame) -> None:
        self._signals.append(signum)

    def _say(self, message: str, *, error: bool = False) -> None:
        stream = self.stderr if error else self.stdout
        with self._lock:
            stream.write(f"[serve] {message}")
            stream.flush()


def _manage_py() -> Path:
    return Path(settings.BASE_DIR) / "manage.py"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def _display_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _port_open(host: str, port: int) -> bool:
    target = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
    try:
        with socket.create_connection((target, port), timeout=0.5):
            return True
    except OSError:
        return False

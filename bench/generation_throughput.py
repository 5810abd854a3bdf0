"""Bulk generation throughput against the fake OpenAI server (1 s latency per request).

    python bench/generation_throughput.py [--products 1200] [--latency 1.0] [--workers 2] [--concurrency 128]
        [--chunk 16] [--threads N]

Real pieces end to end: Celery worker processes (threads pool) on the configured broker,
each task a chunk of --chunk products whose provider calls run at once (GENERATION_CHUNK_SIZE;
--chunk 1: one task per product), threads per worker = 2 x concurrency / (workers x chunk) (the
sizing rule; --threads overrides it),
the real openai SDK over loopback HTTP to tests/fakes/fake_openai.py, parsing, alignment,
gating and bulk storage in the configured database. Defaults to Postgres + Redis on this
machine (the production setup): DATABASE_URL / CELERY_BROKER_URL override. It creates and
drops its own database and Redis queue.

Prints descriptions/s, the ideal rate for the concurrency at this latency (concurrency /
latency) and the ratio of the two, measured in the same run (goal, issue 16: >= 0.8x), beside
it the fake server's mean requests in flight over the same window as a share of the cap (the
structure's figure: how full the slots were kept, less sensitive to the box's load), and the
workers' CPU ms per description by stage (claim, provider call = the HTTP client, parse = JSON
decode + building the Completion, align, gate, store, run bookkeeping; bench/stages.py) with
the rest of the workers' CPU as task overhead (Celery, broker, threads), counted from the first
task sent to the last description stored.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _setup_env(args) -> dict[str, str]:
    db_name = f"reviewq_bench_{uuid.uuid4().hex[:8]}"
    base = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
    env = {
        "DJANGO_SETTINGS_MODULE": "reviewq.settings",
        "SECRET_KEY": "bench-only-secret",
        "DATABASE_URL": os.environ.get("DATABASE_URL", f"{base}/{db_name}"),
        "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14"),
        "LLM_PROVIDER": "openai",
        "LLM_API_KEY": "bench",
        "LLM_MODEL": "fake-model",
        "LLM_TIMEOUT": str(max(10.0, args.latency * 5)),
        "LLM_MAX_IN_FLIGHT": str(args.concurrency),
        "GENERATION_CHUNK_SIZE": str(args.chunk),
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=1200)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=128, help="provider calls in flight in all (the cap)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--chunk", type=int, default=16, help="products per task (1: a task per product)")
    parser.add_argument("--threads", type=int, default=0, help="threads per worker (0: the sizing rule, _threads)")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    env = _setup_env(args)

    from tests.fakes.fake_openai import FakeOpenAI

    with FakeOpenAI(latency=args.latency) as fake:
        env["LLM_BASE_URL"] = os.environ["LLM_BASE_URL"] = fake.base_url
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        created_db = _create_database(env["DATABASE_URL"])
        try:
            call_command("migrate", verbosity=0)
            _run(args, env, fake)
        finally:
            connection.close()
            if created_db and not args.keep_db:
                _drop_database(env["DATABASE_URL"])


def _run(args, env, fake) -> None:
    from generation.queueing import catalog_generate
    from reviewq.core.models import Catalog, Description, DescriptionStatus, Product, Token

    S = DescriptionStatus
    catalog = Catalog.objects.create(name=f"Bench {uuid.uuid4().hex[:6]}")
    Product.objects.bulk_create(
        [
            Product(
                catalog=catalog,
                sku=f"B-{i:06d}",
                name=f"Bench kettle {i}",
                attributes={"capacity": "1.7 l", "power": "2200 W", "colour": "black", "material": "glass"},
            )
            for i in range(args.products)
        ]
    )
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    stats_dir = Path(tempfile.mkdtemp(prefix="bench-stages-"))
    threads = args.threads or _threads(args)
    log = tempfile.NamedTemporaryFile("w+", prefix="bench-worker-", suffix=".log", delete=False)  # noqa: SIM115 (workers write to it until the end)
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "bench" / "stages.py"),
                str(stats_dir / f"worker{i}.json"),
                "--pool",
                "threads",
                "--concurrency",
                str(threads),
                "--loglevel",
                "WARNING",
                "-Q",
                queue,
                "-n",
                f"bench{i}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--prefetch-multiplier",
                "4",
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=log,
            text=True,
        )
        for i in range(args.workers)
    ]
    try:
        _wait_started(workers)  # worker start-up is not part of the measured rate
        from django.conf import settings

        settings.CELERY_TASK_DEFAULT_QUEUE = queue
        _warn_shared_cap()
        from reviewq.celery import app

        app.conf.task_default_queue = queue
        started = time.perf_counter()
        own_cpu = time.process_time()
        workers_cpu = -sum(_process_cpu(worker.pid) for worker in workers)
        in_flight_seconds = -fake.in_flight_seconds()
        queued = catalog_generate(catalog=catalog)
        terminal = (S.REVIEW, S.PUBLISHED, S.FAILED)
        deadline = started + max(120.0, args.products * args.latency / 5)
        done = 0
        while time.perf_counter() < deadline:
            done = Description.objects.filter(product__catalog=catalog, status__in=terminal).count()
            if done >= len(queued):
                break
            for worker in workers:
                if worker.poll() is not None:
                    raise SystemExit(f"worker died; its log: {log.name}")
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
        in_flight_seconds += fake.in_flight_seconds()
        own_cpu = time.process_time() - own_cpu
        workers_cpu += sum(_process_cpu(worker.pid) for worker in workers)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()

    from bench.stages import merged, stage_lines

    stages = merged([json.loads(path.read_text())["cpu"] for path in sorted(stats_dir.glob("worker*.json"))])
    failed = Description.objects.filter(product__catalog=catalog, status=S.FAILED).count()
    tokens = Token.objects.filter(description__product__catalog=catalog).count()
    rate = done / elapsed
    ideal = args.concurrency / args.latency
    in_flight = in_flight_seconds / elapsed  # mean requests at the fake server over the measured window
    print(f"products: {len(queued)}  done: {done}  failed: {failed}  tokens stored: {tokens}")
    print(
        f"fake server: {fake.requests_total} requests, max {fake.max_in_flight} in flight, latency {args.latency:.1f} s"
    )
    print(f"elapsed: {elapsed:.1f} s  (worker log: {log.name})")
    n = max(done, 1)
    print("workers, from the first task sent to the last description stored (start-up not counted):")
    for line in stage_lines(stages, descriptions=n, total_cpu=workers_cpu):
        print("  " + line)
    print(
        f"CPU per description, all processes: workers {1000 * workers_cpu / n:.1f} ms + fake server and this "
        f"process {1000 * own_cpu / n:.1f} ms = {1000 * (workers_cpu + own_cpu) / n:.1f} ms "
        "(Postgres and Redis not counted; goal <= ~15 ms)"
    )
    print(f"workers: {args.workers} processes x {threads} threads x {args.chunk} products per task")
    print(
        f"throughput: {rate:.1f} descriptions/s; ideal for {args.concurrency} in flight at {args.latency:.1f} s "
        f"latency: {ideal:.1f}/s; ratio, this run: {rate / ideal:.2f}x (goal >= 0.8x: "
        f"{'met' if rate / ideal >= 0.8 else 'MISSED'}); slots in use: mean {in_flight:.1f} in flight at the "
        f"fake server = {in_flight / args.concurrency:.2f} of the cap"
    )


def _wait_started(workers, *, timeout: float = 90.0) -> None:
    """Wait until every worker has finished starting (imports, django.setup, connecting: ~3.5 s
    of CPU each), i.e. its CPU time stops growing: on a loaded box a fixed sleep let start-up
    CPU leak into the measured window as task overhead."""
    time.sleep(3.0)
    deadline = time.monotonic() + timeout
    previous = [_process_cpu(worker.pid) for worker in workers]
    while time.monotonic() < deadline:
        time.sleep(1.0)
        for worker in workers:
            if worker.poll() is not None:
                raise SystemExit("a worker died while starting")
        current = [_process_cpu(worker.pid) for worker in workers]
        if all(now - before < 0.02 for now, before in zip(current, previous, strict=True)):
            return
        previous = current


def _warn_shared_cap() -> None:
    """The in-flight cap is one Redis key per provider: a bench running at the same time on the
    same Redis database shares it (each then sees fewer slots). Pick another database with
    CELERY_BROKER_URL=redis://127.0.0.1:6379/N."""
    from generation.limiter import limiter_for

    held = limiter_for("openai").in_flight()
    if held:
        print(f"warning: {held} in-flight slots are already held on this Redis database (another bench?)")


def _threads(args) -> int:
    """Worker threads per process so that processes x threads x chunk = twice the in-flight cap
    (the sizing rule, README): while a chunk claims and stores, the next chunks' calls wait on
    the limiter and take its slots as they free."""
    return max(1, -(-2 * args.concurrency // (args.workers * max(1, args.chunk))))


def _process_cpu(pid: int) -> float:
    """User + system CPU seconds of a live process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _admin_url(database_url: str) -> tuple[str, str] | None:
    if not database_url.startswith(("postgres://", "postgresql://")):
        return None
    base, _, name = database_url.rpartition("/")
    return base + "/postgres", name


def _create_database(database_url: str) -> bool:
    target = _admin_url(database_url)
    if target is None or "reviewq_bench_" not in target[1]:
        return False
    import psycopg

    with psycopg.connect(target[0], autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{target[1]}"')
    return True


def _drop_database(database_url: str) -> None:
    import psycopg

    admin, name = _admin_url(database_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()

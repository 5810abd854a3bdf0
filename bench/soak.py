"""Fault soak: the issue's full-size fault runs with real worker processes.

    python bench/soak.py [--products 500] [--latency 1.0] [--scenarios sigkill,faults,redis,database]

Each scenario generates a fresh catalog of --products products against the fake OpenAI server
(--latency seconds per request) with a Celery worker process (threads pool, 8 threads, the
products sent as a bulk run sends them: chunks of SOAK_CHUNK, so 8 x 2 calls = the cap) on a
private redis-server (free loopback port, append-only file as docker-compose.yml runs it; the
machine's Redis is never touched) and Postgres in a throwaway database (created and dropped;
BENCH_PG=postgres://user@host:port overrides the server). Then it checks: every product
terminal, 0 generated twice, 0 lost, nothing half-written, every failure with its reason.

    sigkill   SIGKILL the worker a third of the way through; start a new one
    faults    30% provider faults (429 with Retry-After, 500, 503, timeouts, no logprobs)
    redis     SIGKILL redis-server a third of the way through, restart it after 5 s
    database  cut the worker's Postgres connections (TCP proxy) for 5 s a third of the way through

Exit status 1 if any check fails. `make soak` runs it. Takes about 8 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.reliability.harness import (
    PrivateRedis,
    Supervisor,
    TcpProxy,
    database_url,
    run_check,
    send_generation,
    wait_until,
    worker_env,
)

SCENARIOS = ("sigkill", "faults", "redis", "database")
# Production-like but shorter than the defaults (lease 3 x 10 + 60 s, visibility 600 s) so a
# lost task comes back within a minute rather than ten.
SOAK_ENV = {
    "LLM_TIMEOUT": "10",
    "GENERATION_LEASE_SECONDS": "30",
    "CELERY_VISIBILITY_TIMEOUT": "40",
    "LLM_MAX_IN_FLIGHT": "16",
    "GENERATION_MAX_ATTEMPTS": "8",
    # Beat's recovery sweep, as in production (compose's beat service): a message lost in kombu's
    # BRPOP window (see docs/RELIABILITY.md) comes back once no worker is busy.
    "GENERATION_RECOVERY_INTERVAL_SECONDS": "5",
    "GENERATION_REQUEUE_AFTER_SECONDS": "60",
}
# Products per generate_descriptions task: 8 threads x 2 = LLM_MAX_IN_FLIGHT.
SOAK_CHUNK = 2
FAULTS = {"rate_limit": 0.12, "server_error": 0.06, "unavailable": 0.04, "timeout": 0.04, "no_logprobs": 0.04}


def _queued_catalog(name: str, n: int):
    from reviewq.core.models import Catalog, Description, Product

    catalog = Catalog.objects.create(name=name)
    products = Product.objects.bulk_create(
        [
            Product(
                catalog=catalog,
                sku=f"SOAK-{i:05d}",
                name=f"Trail bottle {i}",
                attributes={"material": "stainless steel", "capacity": f"{500 + i % 5 * 250} ml", "colour": "blue"},
            )
            for i in range(n)
        ]
    )
    Description.objects.bulk_create([Description(product=p) for p in products])
    return catalog, [p.pk for p in products]


def _terminal(catalog) -> int:
    from reviewq.core.models import Description

    return Description.objects.filter(product__catalog=catalog, status__in=("review", "published", "failed")).count()


def _scenario(name: str, *, args, redis: PrivateRedis, log_dir: Path) -> dict:
    from django.db import connection

    from tests.fakes.fake_openai import FakeOpenAI

    catalog, ids = _queued_catalog(f"soak {name} {uuid.uuid4().hex[:6]}", args.products)
    # The default queue, where beat's sweep and its re-sends go (the broker is private to the soak;
    # scenarios run one after another).
    queue = "celery"
    fault_rates = FAULTS if name == "faults" else {}
    proxy = None
    notes: dict = {}
    with FakeOpenAI(latency=args.latency, fault_rates=fault_rates, retry_after=2.0, hold_seconds=12.0, seed=7) as fake:
        database = database_url(connection.settings_dict)
        if name == "database":
            db = connection.settings_dict
            proxy = TcpProxy(target_host=db["HOST"] or "127.0.0.1", target_port=int(db["PORT"] or 5432))
            database = database_url(db, host="127.0.0.1", port=proxy.port)
        env = worker_env(
            database=database, broker=redis.url(0), llm_base_url=fake.base_url, REDIS_URL=redis.url(1), **SOAK_ENV
        )
        # Restarted if it exits, as docker-compose's restart policy would (see docs/RELIABILITY.md).
        beat = ("--beat", "--schedule", str(log_dir / f"celerybeat-schedule-{name}"))
        workers = Supervisor(env=env, queue=queue, log_dir=log_dir, name=name, max_restarts=3, args=beat)
        started = time.monotonic()
        try:
            send_generation(broker=redis.url(0), queue=queue, product_ids=ids, chunk=SOAK_CHUNK)
            third = len(ids) // 3
            if name != "faults":
                wait_until(lambda: _terminal(catalog) >= third, timeout=600, alive=workers.check)
                notes["fault_at_terminal"] = _terminal(catalog)
                fault_started = time.monotonic()
                if name == "sigkill":
                    from reviewq.core.models import Description

                    notes["generating_when_killed"] = Description.objects.filter(
                        product__catalog=catalog, status="generating"
                    ).count()
                    workers.workers[-1].kill()
                    workers.check()  # starts the new worker
                elif name == "redis":
                    redis.stop(kill=True)
                    time.sleep(5)
                    redis.start()
                elif name == "database":
                    proxy.cut()
                    time.sleep(5)
                    proxy.restore()
                    notes["connections_refused"] = proxy.refused
            done = wait_until(
                lambda: _terminal(catalog) == len(ids), timeout=args.timeout, poll=1.0, alive=workers.check
            )
            seconds = time.monotonic() - started
            if name != "faults":
                notes["recovered_seconds"] = round(time.monotonic() - fault_started, 1)
        finally:
            workers.stop()
            if proxy is not None:
                proxy.close()
        notes.update(
            worker_exits=workers.exits,
            requests=fake.requests_total,
            faults=dict(fake.fault_counts),
            server_max_in_flight=fake.max_in_flight,
        )
    check = run_check(catalog_id=catalog.pk)
    return {
        "scenario": name,
        "done": done,
        "seconds": round(seconds, 1),
        "rate": round(len(ids) / seconds, 2),
        "check": check,
        **notes,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=500)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--timeout", type=float, default=900, help="seconds a scenario may take")
    args = parser.parse_args()
    scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {sorted(unknown)}")

    base = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
    db_name = f"reviewq_soak_{uuid.uuid4().hex[:8]}"
    import psycopg

    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db_name}"')
    failures = 0
    with PrivateRedis() as redis:
        os.environ.update(
            {
                "DJANGO_SETTINGS_MODULE": "reviewq.settings",
                "SECRET_KEY": "soak-only-secret-key-0123456789-abcdefghij",
                "DATABASE_URL": f"{base}/{db_name}",
                "CELERY_BROKER_URL": redis.url(0),
                "REDIS_URL": redis.url(1),
                "LOG_LEVEL": "WARNING",
                "DB_POOL": "false",
            }
        )
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        try:
            call_command("migrate", verbosity=0)
            log_dir = Path(tempfile.mkdtemp(prefix="reviewq-soak-"))
            print(
                f"soak: {args.products} products per scenario, fake latency {args.latency} s, "
                f"worker threads 8, chunks of {SOAK_CHUNK}, {SOAK_ENV}; logs in {log_dir}"
            )
            for name in scenarios:
                result = _scenario(name, args=args, redis=redis, log_dir=log_dir)
                check = result.pop("check")
                ok = result["done"] and check.ok
                failures += not ok
                print(
                    f"[{'PASS' if ok else 'FAIL'}] {name}: {args.products} products in {result['seconds']} s "
                    f"({result['rate']}/s); statuses {check.statuses}; not terminal {check.not_terminal}, "
                    f"lost {check.missing}, generated twice {check.duplicate_generations}, "
                    f"half-written {len(check.half_written)}, token/text mismatches {check.token_text_mismatch}, "
                    f"failed without reason {check.failed_without_reason}, failure codes {check.error_codes}; "
                    + ", ".join(
                        f"{k} {v}" for k, v in result.items() if k not in ("scenario", "done", "seconds", "rate")
                    ),
                    flush=True,
                )
        finally:
            connection.close()
            with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

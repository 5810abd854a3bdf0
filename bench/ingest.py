"""Ingest rate of the real storage path vs raw COPY of the same rows, on Postgres.

    python bench/ingest.py [--descriptions 2000] [--processes 1] [--batch 200] [--profile] [--statements]

Storage path, timed: completion_from_openai(body) (parse the chat.completion JSON, rebuild token
texts from bytes) -> store (align tokens to sentences, gate, write sentences and tokens with COPY,
the conditional status UPDATE and its audit row, in one transaction). Measured twice, on separate
catalogs of --descriptions each:

  per description   completion_store, one transaction each: what a Celery worker does per task
  batched           completions_store on --batch descriptions per transaction: what the Batch
                    API import (manage.py import_batch_results) does

The bodies are realistic: FakeOpenAI.chat_completion for real product prompts (top_logprobs 5),
built before the clock starts, without HTTP. Descriptions are claimed (GENERATING) set-based
beforehand.

Baseline, same run: the rows that path wrote (descriptions' text, sentences, tokens) read
back, then written again for a second set of products with COPY (bench/seed.py style), timed.

Prints, per path, CPU ms per description for each stage (parse = JSON decode + building the
Completion, align, gate, store = the transaction's writes and building the rows; this process
only, the database server's CPU is not in it) and, measured in the same run, COPY / path.
Goals (issue 16): per description within 3x of COPY, batched within 1.5x. Creates and drops its own database
(BENCH_PG=postgres://user@host:port overrides the server). --profile prints where the storage
path's time goes (cProfile, top functions by cumulative time); --statements the SQL statements,
COPYs and COMMITs each path sent per description, with their wall time (round trip included).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import multiprocessing
import os
import pstats
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# COPY / path goals (issue 16): per description within 3x, batched within 1.5x.
GOALS = (3.0, 1.5)


def _setup(database_url: str) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "reviewq.settings",
            "SECRET_KEY": "bench-only-secret-key-0123456789abcdefghij",
            "DATABASE_URL": database_url,
            "LOG_LEVEL": "WARNING",
            "DB_POOL": "false",
            "CELERY_BROKER_URL": "memory://",
        }
    )
    import django

    django.setup()


def _bodies(products) -> list[dict]:
    from generation.prompts import build_messages
    from tests.fakes.fake_openai import FakeOpenAI

    fake = FakeOpenAI(seed=3)
    bodies = []
    for product in products:
        messages = build_messages(name=product.name, sku=product.sku, attributes=product.attributes, template="")
        bodies.append(
            fake.chat_completion(
                {"messages": messages, "logprobs": True, "top_logprobs": 5, "max_tokens": 160, "model": "fake-model"}
            )
        )
    return bodies


def _catalog(name: str, n: int, *, with_descriptions: bool):
    from reviewq.core.models import Catalog, Description, Product

    catalog = Catalog.objects.create(name=name)
    products = Product.objects.bulk_create(
        [
            Product(
                catalog=catalog,
                sku=f"ING-{i:06d}",
                name=f"Trail insulated bottle {i % 97}",
                attributes={
                    "material": "stainless steel",
                    "capacity": f"{(i % 4 + 2) * 250} ml",
                    "colour": ["navy blue", "sage green", "graphite"][i % 3],
                    "keeps cold": "24 h",
                    "weight": f"{300 + i % 7 * 20} g",
                    "dishwasher safe": i % 2 == 0,
                },
            )
            for i in range(n)
        ],
        batch_size=2000,
    )
    if with_descriptions:
        Description.objects.bulk_create([Description(product=p) for p in products], batch_size=2000)
    return catalog, products


class _StatementClock:
    """Wall time and count of the statements, COPYs and COMMITs a process sends, by kind (the
    first word and the first table named)."""

    def __init__(self) -> None:
        self.seen: dict[str, list[float]] = {}

    def add(self, sql: str, seconds: float) -> None:
        import re

        table = re.search(r'"(reviewq_\w+)"', sql)
        kind = f"{sql.split()[0].upper()} {table.group(1) if table else ''}".strip()
        entry = self.seen.setdefault(kind, [0, 0.0])
        entry[0] += 1
        entry[1] += seconds

    def __call__(self, execute, sql, params, many, context):  # django's execute_wrapper
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.add(sql, time.perf_counter() - started)

    def install(self) -> None:
        """COPY (psycopg's, not through Django's cursor) and COMMIT are timed by patching."""
        import contextlib

        import psycopg
        from django.db import connections

        copy, clock = psycopg.Cursor.copy, self

        @contextlib.contextmanager
        def timed_copy(cursor, statement, *args, **kwargs):
            started = time.perf_counter()
            with copy(cursor, statement, *args, **kwargs) as c:
                yield c
            clock.add(str(statement), time.perf_counter() - started)

        psycopg.Cursor.copy = timed_copy
        wrapper = type(connections["default"])
        commit = wrapper._commit

        def timed_commit(self):
            started = time.perf_counter()
            try:
                return commit(self)
            finally:
                clock.add("COMMIT", time.perf_counter() - started)

        wrapper._commit = timed_commit


def _store_slice(
    database_url: str, description_ids: list[int], profile: bool, batch: int, queue, statements: bool = False
) -> None:
    """Child process: the storage path for `description_ids` (bodies built before timing),
    one description per transaction (batch 1) or `batch` per transaction."""
    _setup(database_url)
    from django.db import connection

    from bench.stages import STORAGE_STAGES, StageClock
    from generation import storage
    from generation.providers import common, openai_compat
    from reviewq.core.models import Description

    descriptions = list(
        Description.objects.filter(pk__in=description_ids).select_related("product__catalog").order_by("pk")
    )
    # The response bodies as they come off the wire (or a Batch API results line): JSON bytes.
    bodies = [json.dumps(body).encode() for body in _bodies([d.product for d in descriptions])]
    clock = StageClock()
    clock.wrap_stages(STORAGE_STAGES)
    # The JSON parser the import and the provider use (json.loads before it had its own).
    json_loads = clock.timed(getattr(common, "json_loads", json.loads), "parse")
    # CPU time, not wall: the box is shared, and waiting on Postgres is not Python's cost.
    profiler = cProfile.Profile(time.process_time) if profile else None
    sent = _StatementClock() if statements else None
    if sent:
        sent.install()
        connection.execute_wrappers.append(sent)
    tokens = 0
    started, started_cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    for start in range(0, len(descriptions), batch):
        chunk = list(zip(descriptions[start : start + batch], bodies[start : start + batch], strict=True))
        completions = [
            openai_compat.completion_from_openai(json_loads(body), provider="openai")[0] for _, body in chunk
        ]
        if batch == 1:
            [(description, _)] = chunk
            stored = [
                storage.completion_store(
                    description=description,
                    completion=completions[0],
                    prompt="bench prompt",
                    claim_version=description.version,
                )
            ]
        else:
            stored = storage.completions_store(
                [
                    storage.StoreRequest(
                        description=description,
                        completion=completion,
                        prompt="bench prompt",
                        claim_version=description.version,
                    )
                    for (description, _), completion in zip(chunk, completions, strict=True)
                ]
            )
        tokens += sum(len(c.tokens) for c in completions)
        assert all(getattr(d, "status", None) in ("review", "published") for d in stored), stored
    if profiler:
        profiler.disable()
    if sent:
        connection.execute_wrappers.remove(sent)
    seconds, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    stats = ""
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(28)
        out.write("\n--- reviewq's and generation's functions, by cumulative time ---\n")
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(r"/(generation|reviewq)/", 30)
        out.write("\n--- by own time ---\n")
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        stats = out.getvalue()
    connection.close()
    queue.put(
        {
            "seconds": seconds,
            "cpu": cpu,
            "stages": clock.cpu,
            "tokens": tokens,
            "descriptions": len(descriptions),
            "profile": stats,
            "statements": sent.seen if sent else {},
        }
    )


def _copy_same_rows(source_catalog_id: int, target_products) -> dict:
    """Read back what the storage path wrote, then COPY the same rows for `target_products`."""
    from django.db import connection

    from reviewq.core.models import Description, Sentence, Token

    def columns(model):
        return [f.column for f in model._meta.concrete_fields if f.column != "id"]

    desc_cols, sent_cols, tok_cols = columns(Description), columns(Sentence), columns(Token)
    source = list(
        Description.objects.filter(product__catalog_id=source_catalog_id).order_by("pk").values_list("id", *desc_cols)
    )
    sentences = list(
        Sentence.objects.filter(description__product__catalog_id=source_catalog_id)
        .order_by("description_id", "index")
        .values_list("id", *sent_cols)
    )
    tokens = list(
        Token.objects.filter(description__product__catalog_id=source_catalog_id)
        .order_by("description_id", "position")
        .values_list(*tok_cols)
    )

    def cell(value):
        if isinstance(value, (dict, list)):
            return json.dumps(value)
        if isinstance(value, memoryview):
            return bytes(value)
        return value

    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('reviewq_description', 'id'))")
        next_description = cursor.fetchone()[0] + 10
        cursor.execute("SELECT nextval(pg_get_serial_sequence('reviewq_sentence', 'id'))")
        next_sentence = cursor.fetchone()[0] + 10
    product_at = desc_cols.index("product_id")
    desc_map, rows_d = {}, []
    for (old_id, *values), product in zip(source, target_products, strict=True):
        new_id = next_description + len(desc_map)
        desc_map[old_id] = new_id
        values[product_at] = product.pk
        rows_d.append((new_id, *map(cell, values)))
    s_desc_at = sent_cols.index("description_id")
    sent_map, rows_s = {}, []
    for old_id, *values in sentences:
        new_id = next_sentence + len(sent_map)
        sent_map[old_id] = new_id
        values[s_desc_at] = desc_map[values[s_desc_at]]
        rows_s.append((new_id, *map(cell, values)))
    t_desc_at, t_sent_at = tok_cols.index("description_id"), tok_cols.index("sentence_id")
    rows_t = []
    for values in tokens:
        values = list(values)
        values[t_desc_at] = desc_map[values[t_desc_at]]
        values[t_sent_at] = sent_map[values[t_sent_at]]
        rows_t.append(tuple(map(cell, values)))

    started = time.perf_counter()
    with connection.cursor() as cursor, connection.cursor().connection.transaction():
        raw = cursor.cursor
        for table, cols, rows in (
            ("reviewq_description", ["id", *desc_cols], rows_d),
            ("reviewq_sentence", ["id", *sent_cols], rows_s),
            ("reviewq_token", tok_cols, rows_t),
        ):
            column_sql = ", ".join(f'"{c}"' for c in cols)
            with raw.copy(f'COPY "{table}" ({column_sql}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "descriptions": len(rows_d), "sentences": len(rows_s), "tokens": len(rows_t)}


def _ratio_line(name: str, ratio: float, goal: float) -> str:
    return f"COPY / {name}: {ratio:.2f}x (goal <= {goal:g}x: {'met' if ratio <= goal else 'MISSED'})"


def _run_path(
    database_url: str, ids: list[int], *, processes: int, batch: int, profile: bool, statements: bool = False
) -> dict:
    """The storage path over `ids` in `processes` spawned children; the rate uses the slowest
    child's timed loop (they run in parallel; setup and body building are not timed)."""
    from bench.stages import merged

    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    children = [
        context.Process(target=_store_slice, args=(database_url, ids[i::processes], profile, batch, queue, statements))
        for i in range(processes)
    ]
    for child in children:
        child.start()
    results = [queue.get() for _ in children]
    for child in children:
        child.join()
    return {
        "seconds": max(r["seconds"] for r in results),
        "descriptions": sum(r["descriptions"] for r in results),
        "tokens": sum(r["tokens"] for r in results),
        "cpu": sum(r["cpu"] for r in results),
        "stages": merged([r["stages"] for r in results]),
        "profile": results[0]["profile"],
        "statements": merged_statements([r["statements"] for r in results]),
    }


def merged_statements(parts: list[dict[str, list[float]]]) -> dict[str, list[float]]:
    total: dict[str, list[float]] = {}
    for part in parts:
        for kind, (count, seconds) in part.items():
            entry = total.setdefault(kind, [0, 0.0])
            entry[0] += count
            entry[1] += seconds
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--descriptions", type=int, default=2000, help="per path (and for the COPY baseline)")
    parser.add_argument("--processes", type=int, default=1, help="storage-path processes in parallel (like workers)")
    parser.add_argument("--batch", type=int, default=200, help="descriptions per transaction on the batched path")
    parser.add_argument("--profile", action="store_true", help="cProfile the storage path (single process)")
    parser.add_argument("--statements", action="store_true", help="count and time the SQL sent per description")
    args = parser.parse_args()

    base = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
    db_name = f"reviewq_ingest_{uuid.uuid4().hex[:8]}"
    database_url = f"{base}/{db_name}"
    import psycopg

    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db_name}"')
    try:
        _setup(database_url)
        from django.core.management import call_command
        from django.db import connection
        from django.db.models import F

        from reviewq.core.models import Description

        call_command("migrate", verbosity=0)
        paths = {"per description": 1, f"batched ({args.batch}/transaction)": max(1, args.batch)}
        catalogs = {name: _catalog(f"ingest {name}", args.descriptions, with_descriptions=True)[0] for name in paths}
        _, copy_products = _catalog("ingest copy baseline", args.descriptions, with_descriptions=False)
        # Claimed, as the task's conditional UPDATE leaves them (set-based, untimed).
        Description.objects.filter(product__catalog__in=catalogs.values()).update(
            status="generating", version=F("version") + 1
        )
        connection.close()

        processes = 1 if args.profile else max(1, args.processes)
        runs = {}
        for name, batch in paths.items():
            ids = list(
                Description.objects.filter(product__catalog=catalogs[name]).order_by("pk").values_list("pk", flat=True)
            )
            connection.close()
            runs[name] = _run_path(
                database_url, ids, processes=processes, batch=batch, profile=args.profile, statements=args.statements
            )

        first = next(iter(catalogs.values()))
        copy = _copy_same_rows(first.pk, copy_products)
        copy_rate = copy["descriptions"] / copy["seconds"]
        some = next(iter(runs.values()))
        print(
            f"ingest on Postgres, {some['descriptions']} descriptions per path ({some['tokens']} tokens, "
            f"{some['tokens'] / some['descriptions']:.0f}/description, top_logprobs 5), {processes} process(es):"
        )
        print(
            f"  raw COPY of the same rows: {copy['seconds']:.2f} s = {copy_rate:.0f} descriptions/s "
            f"({copy['tokens']} tokens, {copy['sentences']} sentences)"
        )
        from bench.stages import stage_lines

        ratios = []
        for (name, run), goal in zip(runs.items(), GOALS, strict=True):
            seconds, n = run["seconds"], run["descriptions"]
            rate = n / seconds
            ratios.append(_ratio_line(name, copy_rate / rate, goal))
            print(
                f"  storage path, {name}: {seconds:.2f} s = {rate:.0f} descriptions/s "
                f"({run['tokens'] / seconds:,.0f} tokens/s); wall per description per process "
                f"{1000 * seconds * processes / n:.2f} ms"
            )
            for line in stage_lines(run["stages"], descriptions=n, total_cpu=run["cpu"]):
                print("    " + line.replace("task overhead (Celery, broker, threads, the rest)", "the bench loop"))
            if args.profile:
                print(run["profile"])
            if args.statements:
                print("    SQL per description (count x, wall ms incl. round trip):")
                for kind, (count, seconds) in sorted(run["statements"].items(), key=lambda kv: -kv[1][1]):
                    print(f"      {count / n:6.3f} x  {1000 * seconds / n:6.3f} ms  {kind}")
        print("ratios, this run: " + "; ".join(ratios))
        connection.close()
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())

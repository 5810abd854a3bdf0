"""Re-gate time after a threshold change: set-based UPDATE over ~1M stored sentences.

    python bench/regate.py [--descriptions 125000] [--sentences 8]

Seeds a dedicated Postgres database (reviewq_bench_regate, created if missing, reused when it
already holds the rows) with bench/seed.py, then times `thresholds_update` (save + audit +
re-band every undecided sentence + move descriptions between review and published) for two
threshold changes. For a ratio measured in the same run, it also times the naive way --
load each sentence, recompute band_for in Python, bulk_update -- on a 20k-sentence sample and
extrapolates. Prints the slowest change per 1M undecided sentences beside the goal: 1M
sentences in <= 10 s. DATABASE_URL may name another bench database of the same shape (e.g.
bench/rescore.py's reviewq_bench_rescore) to skip seeding.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

DB_NAME = "reviewq_bench_regate"
GOAL_SECONDS = 10.0  # per 1M undecided sentences


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--descriptions", type=int, default=125_000)
    parser.add_argument("--sentences", type=int, default=8)
    args = parser.parse_args()
    base = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
    os.environ.setdefault("DATABASE_URL", f"{base}/{DB_NAME}")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewq.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    if os.environ["DATABASE_URL"].endswith(f"/{DB_NAME}"):
        import psycopg

        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone():
                conn.execute(f'CREATE DATABASE "{DB_NAME}"')

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from reviewq.core.models import Sentence
    from reviewq.gating.gate import GateThresholds, band_for
    from reviewq.gating.service import thresholds_update

    wanted = args.descriptions * args.sentences
    have = Sentence.objects.count()
    if have < wanted:
        from seed import seed_descriptions

        print(f"seeding {args.descriptions} descriptions x {args.sentences} sentences ...", flush=True)
        started = time.perf_counter()
        seed_descriptions(
            descriptions=args.descriptions - have // args.sentences,
            sentences_per_description=args.sentences,
            tokens_per_sentence=2,
        )
        print(f"seeded in {time.perf_counter() - started:.1f} s", flush=True)
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # fresh statistics, as autovacuum would have after a bulk load
    total = Sentence.objects.count()
    undecided = Sentence.objects.filter(decision="").count()
    print(f"sentences: {total:,} ({undecided:,} undecided)")

    timings = []
    # a small move, back, and a sweeping one (most sentences change band), back again
    for publish_above, flag_below in ((-0.8, -2.0), (-0.5, -1.5), (-0.05, -0.1), (-0.5, -1.5)):
        started = time.perf_counter()
        result = thresholds_update(
            catalog=None, publish_above=publish_above, flag_below=flag_below, critical_floor=-2.3
        )
        elapsed = time.perf_counter() - started
        timings.append(elapsed)
        print(
            f"re-gate to publish>{publish_above} flag<{flag_below}: {elapsed:.2f} s, "
            f"{result.sentences_changed:,} sentences changed band, {result.published:,} published, "
            f"{result.back_to_review:,} back to review"
        )

    # The naive way on a sample, for the ratio.
    sample = 20_000
    thresholds = GateThresholds(publish_above=-0.8, flag_below=-2.0)
    started = time.perf_counter()
    rows = list(
        Sentence.objects.filter(decision="").only(
            "id", "band", "mean_logprob", "critical_min_logprob", "hard_flag", "has_warning"
        )[:sample]
    )
    for row in rows:
        row.band = band_for(
            {
                "hard_flag": row.hard_flag,
                "has_logprobs": row.mean_logprob is not None,
                "mean_logprob": row.mean_logprob,
                "critical_min_logprob": row.critical_min_logprob,
                "has_warning": row.has_warning,
            },
            thresholds,
        )
    Sentence.objects.bulk_update(rows, ["band"], batch_size=2000)
    naive_per_sentence = (time.perf_counter() - started) / len(rows)
    naive_total = naive_per_sentence * undecided
    best = max(timings)  # the slowest change, to be conservative
    print(f"naive per-row re-gate (sampled {len(rows):,}): {naive_total:.1f} s extrapolated to {undecided:,}")
    per_million = best * 1e6 / undecided
    verdict = "met" if per_million <= GOAL_SECONDS else "missed"
    print(
        f"slowest set-based re-gate of {undecided:,} undecided sentences: {best:.2f} s, {per_million:.1f} s per 1M "
        f"(goal <= {GOAL_SECONDS:.0f} s: {verdict}); {naive_total / best:.1f}x faster than per-row"
    )
    # put the sample back as the set-based gate would have it
    thresholds_update(catalog=None, publish_above=-0.5, flag_below=-1.5, critical_floor=-2.3)


if __name__ == "__main__":
    main()

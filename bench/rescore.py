"""Re-scoring time when a gate model is adopted (and reverted): set-based SQL over stored signals.

    python bench/rescore.py [--descriptions 12500] [--sentences 8] [--sqlite PATH] [--statements N]

Seeds (bench/seed.py) a dedicated database -- Postgres reviewq_bench_rescore (BENCH_PG) or,
with --sqlite, a SQLite file -- gives every sentence realistic signals and one model name in
one UPDATE, then times `gate_model_adopt` (fitted risk for every undecided sentence from all 26
features, new bands, descriptions moved between review and published) and `gate_model_revert`
(back to the thresholds), and prints each per 1M undecided sentences beside issue 13's goal
(1M sentences in <= 10 s on Postgres). --statements N also prints each step's N slowest SQL
statements. Measure at the full 1M: --descriptions 125000 --sentences 8.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

DB_NAME = "reviewq_bench_rescore"
MODEL = "bench-model"
GOAL_SECONDS = 10.0  # per 1M undecided sentences, on Postgres


@contextmanager
def timed_statements(connection, show: int):
    """Print the `show` slowest SQL statements run inside the block."""
    timings: list[tuple[float, str]] = []

    def wrapper(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timings.append((time.perf_counter() - started, sql))

    with connection.execute_wrapper(wrapper):
        yield
    for seconds, sql in sorted(timings, reverse=True)[:show]:
        print(f"    {seconds:7.2f} s  {' '.join(sql.split())[:150]}")


def per_million(label: str, seconds: float, sentences: int) -> None:
    figure = seconds * 1e6 / sentences
    verdict = "met" if figure <= GOAL_SECONDS else "missed"
    print(f"{label}: {figure:.1f} s per 1M undecided sentences (goal <= {GOAL_SECONDS:.0f} s on Postgres: {verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--descriptions", type=int, default=12_500)
    parser.add_argument("--sentences", type=int, default=8)
    parser.add_argument("--sqlite", help="a SQLite file instead of Postgres")
    parser.add_argument("--statements", type=int, default=0, help="print each step's N slowest SQL statements")
    args = parser.parse_args()
    os.environ.setdefault("SECRET_KEY", "bench-only-secret")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewq.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    if args.sqlite:
        os.environ["DATABASE_URL"] = f"sqlite:///{Path(args.sqlite).resolve()}"
    else:
        base = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
        os.environ.setdefault("DATABASE_URL", f"{base}/{DB_NAME}")
        import psycopg

        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone():
                conn.execute(f'CREATE DATABASE "{DB_NAME}"')

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from reviewq.core.models import Description, GateModel, Sentence
    from reviewq.gating.features import DEFAULT_FEATURES
    from reviewq.gating.gate_models import GateScope, gate_model_adopt, gate_model_revert

    wanted = args.descriptions * args.sentences
    have = Sentence.objects.count()
    if have < wanted:
        from seed import seed_descriptions

        print(f"seeding {args.descriptions - have // args.sentences} descriptions x {args.sentences} sentences ...")
        seed_descriptions(
            descriptions=args.descriptions - have // args.sentences,
            sentences_per_description=args.sentences,
            tokens_per_sentence=2,
        )
    if not Description.objects.filter(model=MODEL).exists():
        Description.objects.update(model=MODEL)
        build = "jsonb_build_object" if connection.vendor == "postgresql" else "json_object"
        rand = "random()" if connection.vendor == "postgresql" else "(abs(random()) / 9223372036854775807.0)"
        true = "true" if connection.vendor == "postgresql" else "json('true')"
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE reviewq_sentence SET signals = {build}('has_logprobs', {true}, 'mean_logprob', mean_logprob, "
                f"'min_logprob', min_logprob, 'n_tokens', 15, 'mean_entropy', {rand} * 2, "
                f"'min_margin', {rand}, 'n_untraced', floor({rand} * 3), 'novel_share', {rand})"
            )
            if connection.vendor == "postgresql":
                cursor.execute("ANALYZE")
    total = Sentence.objects.count()
    undecided = Sentence.objects.filter(decision="").count()
    print(f"{connection.vendor}: sentences {total:,} ({undecided:,} undecided)")

    rng = random.Random(1)
    n = len(DEFAULT_FEATURES)
    weights = {
        "features": list(DEFAULT_FEATURES),
        "mean": [0.5] * n,
        "scale": [1.0] * n,
        "coef": [rng.uniform(-0.5, 0.5) for _ in range(n)],
        "intercept": -1.0,
    }
    weights["coef"][0] = 1.5  # neg_mean_logprob dominates, as fitted
    # Earlier runs' models stop counting as adopted before, so the revert goes back to the thresholds.
    GateModel.objects.filter(model_name=MODEL).update(adopted=False, adopted_at=None, replaced=None)
    version = (GateModel.objects.filter(model_name=MODEL).count()) + 1
    gate_model = GateModel.objects.create(
        model_name=MODEL, version=version, weights=weights, target_escape=0.1, confidence=0.95, publish_cutoff=0.4
    )
    started = time.perf_counter()
    with timed_statements(connection, args.statements):
        gate_model_adopt(gate_model=gate_model, actor=None)
    adopt = time.perf_counter() - started
    bands = dict(
        Sentence.objects.filter(decision="").values_list("band").annotate(n=django.db.models.Count("id")).order_by()
    )
    print(f"adopt (re-score {undecided:,} undecided sentences + descriptions follow): {adopt:.2f} s; bands {bands}")
    started = time.perf_counter()
    with timed_statements(connection, args.statements):
        gate_model_revert(scope=GateScope(model_name=MODEL), actor=None)
    revert = time.perf_counter() - started
    print(f"revert (back to the thresholds): {revert:.2f} s")
    per_million("adopt", adopt, undecided)
    per_million("revert", revert, undecided)


if __name__ == "__main__":
    main()

"""Seed reviewq with synthetic generated descriptions, fast: COPY on Postgres, bulk_create elsewhere.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/reviewq_bench \
        python bench/seed.py --descriptions 100000 [--revisions] [--sentences 8] [--tokens-per-sentence 15]

Each description gets sentences of tokens with logprobs and top-4 alternatives shaped like a
real model's (most tokens near certain, a tail of unsure ones), sentence bands from the default
thresholds, and a risk. About half are in review (undecided), the rest published (their
review/flag sentences approved). With --revisions, products have revisions as they do in
production: earlier ones archived, a live (published) copy, and most drafts in review sit
beside a live copy; --descriptions then counts every revision. Rows are appended after the
existing ones; run it on a dedicated database. `seed_descriptions()` is the reusable entry point (needs Django set up).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

WORDS = [
    "bottle",
    "steel",
    "light",
    "strong",
    "bag",
    "handle",
    "lid",
    "cap",
    "water",
    "coffee",
    "travel",
    "daily",
    "sturdy",
    "soft",
    "warm",
    "cold",
    "keeps",
    "drinks",
    "hours",
    "blue",
    "green",
    "grey",
    "black",
    "white",
    "red",
    "leather",
    "cotton",
    "wool",
    "canvas",
    "zip",
    "pocket",
    "strap",
    "padded",
    "laptop",
    "compact",
    "fits",
    "easy",
    "clean",
    "dishwasher",
    "safe",
    "leak",
    "proof",
    "insulated",
    "double",
    "wall",
    "design",
    "modern",
    "classic",
    "comfortable",
    "durable",
    "everyday",
    "outdoor",
    "hiking",
    "office",
    "gift",
    "quality",
    "premium",
    "recycled",
    "material",
    "finish",
    "matte",
    "grip",
    "ergonomic",
    "size",
    "large",
    "small",
    "medium",
    "volume",
    "capacity",
    "weight",
]
NUMBERS = ["500", "750", "900", "1.2", "24", "12", "3", "40", "28"]
UNITS = [" ml", " l", " h", " kg", " g", " cm"]
PUBLISH_ABOVE, FLAG_BELOW, CRITICAL_FLOOR = -0.5, -1.5, -2.3


@dataclass(frozen=True, slots=True)
class SeedResult:
    catalogs: int
    products: int
    descriptions: int
    sentences: int
    tokens: int
    seconds: float


def _logprob(rng: random.Random) -> float:
    roll = rng.random()
    if roll < 0.85:
        return -rng.random() * 0.2
    if roll < 0.97:
        return -0.2 - rng.random() * 1.5
    return -1.7 - rng.random() * 4.0


def _token_pool(rng: random.Random, size: int = 20000) -> list[tuple[str, bytes, float, str]]:
    """Distinct (text, bytes, logprob, alternatives JSON) tokens reused across rows: building
    12M JSON strings one by one would dominate the seeding time."""
    pool = []
    for _ in range(size):
        if rng.random() < 0.08:
            text = " " + rng.choice(NUMBERS)
        elif rng.random() < 0.05:
            text = rng.choice(UNITS)
        else:
            text = " " + rng.choice(WORDS)
        logprob = round(_logprob(rng), 4)
        alternatives = [[text, logprob]]
        rest = 1 - math.exp(logprob)
        for _ in range(3):
            share = rest * rng.uniform(0.2, 0.7)
            rest -= share
            alternatives.append([" " + rng.choice(WORDS + NUMBERS), round(math.log(max(share, 1e-6)), 4)])
        alternatives.sort(key=lambda a: -a[1])
        pool.append((text, text.encode(), logprob, json.dumps(alternatives)))
    return pool


def _band(mean: float, low: float, critical: float) -> str:
    """Roughly the gate's rule: a low mean, or an unsure number/unit, flags."""
    if mean < FLAG_BELOW or critical < CRITICAL_FLOOR:
        return "flag"
    if mean < PUBLISH_ABOVE or low < -4.0:
        return "review"
    return "publish"


def _sentence_risk(mean: float, low: float) -> float:
    return round(min(1.0, max(0.0, -mean / 3 + -low / 12)), 4)


def _next_id(model) -> int:
    from django.db.models import Max

    return (model.objects.aggregate(m=Max("id"))["m"] or 0) + 1


def _revision_statuses(rng: random.Random, *, in_review: bool, revisions: bool) -> list[str]:
    """One product's revisions, oldest first. Without revisions, one description in review or
    published. With them, as a shop that has run a while: earlier revisions archived, a live
    copy, and for most products in review a draft beside that live copy."""
    if not revisions:
        return ["review" if in_review else "published"]
    archived = ["archived"] * rng.choice((0, 0, 0, 1, 1, 2))
    if not in_review:
        return [*archived, "published"]
    return [*archived, "published", "review"] if rng.random() < 0.6 else [*archived, "review"]


def seed_descriptions(
    *,
    descriptions: int,
    sentences_per_description: int = 8,
    tokens_per_sentence: int = 15,
    catalogs: int = 10,
    review_share: float = 0.5,
    revisions: bool = False,
    random_seed: int = 1,
    progress: bool = False,
) -> SeedResult:
    """Append products with `descriptions` generated descriptions (with `revisions`, archived
    revisions and drafts beside live copies count too), their sentences and tokens.
    `review_share` is the share of products with a draft in review."""
    from django.db import connection, transaction

    from reviewq.core.models import Catalog, Description, Product, Sentence, Token

    started = time.perf_counter()
    rng = random.Random(random_seed)
    pool = _token_pool(rng)
    now = datetime.now(UTC)
    run = f"{int(time.time())}-{rng.randrange(10**6)}"
    with transaction.atomic():
        catalog_ids = [Catalog.objects.create(name=f"Bench catalog {run} #{i + 1}").pk for i in range(catalogs)]
        product_id, description_id = _next_id(Product), _next_id(Description)
        sentence_id, token_id = _next_id(Sentence), _next_id(Token)
        rows: dict[str, list] = {"product": [], "description": [], "sentence": [], "token": []}
        counts = {"sentence": 0, "token": 0, "description": 0, "product": 0}
        writer = _Writer(connection, rows)
        n = 0
        while counts["description"] < descriptions:
            statuses = _revision_statuses(rng, in_review=rng.random() < review_share, revisions=revisions)
            statuses = statuses[: descriptions - counts["description"]]
            attributes = {
                "material": rng.choice(["stainless steel", "cotton", "leather", "recycled nylon"]),
                "capacity": f"{rng.choice(NUMBERS)}{rng.choice(UNITS)}",
                "colour": rng.choice(["blue", "green", "grey", "black"]),
                "weight": f"{rng.choice(NUMBERS)} g",
                "care": "dishwasher safe",
                "warranty": "2 years",
            }
            rows["product"].append(
                (
                    product_id,
                    catalog_ids[n % catalogs],
                    f"B{run}-{n:07d}",
                    f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} {n}",
                    json.dumps(attributes),
                    now,
                    now,
                )
            )
            for status in statuses:
                in_review = status == "review"
                text_parts, offset, position, risks = [], 0, 0, []
                for index in range(sentences_per_description):
                    picked = [pool[rng.randrange(len(pool))] for _ in range(tokens_per_sentence - 1)]
                    first_text = picked[0][0].strip().capitalize()
                    picked[0] = (
                        first_text if index == 0 else " " + first_text,
                        (first_text if index == 0 else " " + first_text).encode(),
                        picked[0][2],
                        picked[0][3],
                    )
                    picked.append((".", b".", -0.01, json.dumps([[".", -0.01], [",", -5.2]])))
                    sentence_text = "".join(p[0] for p in picked)
                    logprobs = [p[2] for p in picked]
                    mean, low = sum(logprobs) / len(logprobs), min(logprobs)
                    critical = min((p[2] for p in picked if p[0].strip() in NUMBERS or p[0] in UNITS), default=0.0)
                    band = _band(mean, low, critical)
                    risk = _sentence_risk(mean, low)
                    risks.append(risk)
                    decided = not in_review and band != "publish"
                    reasons = [] if band == "publish" else [f"lowest token probability {math.exp(low):.0%}"]
                    rows["sentence"].append(
                        (
                            sentence_id,
                            description_id,
                            index,
                            offset,
                            offset + len(sentence_text),
                            sentence_text,
                            "",
                            band,
                            "approved" if decided else "",
                            now if decided else None,
                            round(mean, 4),
                            low,
                            risk,
                            None,
                            False,
                            "{}",
                            json.dumps(reasons),
                        )
                    )
                    for text, raw, logprob, alternatives in picked:
                        rows["token"].append(
                            (token_id, description_id, sentence_id, position, offset, text, raw, logprob, alternatives)
                        )
                        offset += len(text)
                        position += 1
                        token_id += 1
                    text_parts.append(sentence_text)
                    sentence_id += 1
                counts["sentence"] += sentences_per_description
                counts["token"] += position
                counts["description"] += 1
                rows["description"].append(
                    (
                        description_id,
                        product_id,
                        status,
                        2 if in_review else 3,
                        "".join(text_parts),
                        "bench",
                        "synthetic",
                        "",
                        "stop",
                        True,
                        60,
                        position,
                        max(risks),
                        1,
                        "",
                        "",
                        None,
                        "",
                        None,
                        None,
                        now,
                        now,
                        now,
                        None if in_review else now,  # an archived revision was live once
                    )
                )
                description_id += 1
            product_id += 1
            counts["product"] += 1
            n += 1
            if len(rows["token"]) >= 200_000:
                writer.flush()
                if progress:
                    print(
                        f"  {counts['description']:>8} descriptions, {counts['token']:>9} tokens, "
                        f"{time.perf_counter() - started:6.1f} s",
                        flush=True,
                    )
        writer.flush()
        writer.finish()
    return SeedResult(
        catalogs=catalogs,
        products=counts["product"],
        descriptions=counts["description"],
        sentences=counts["sentence"],
        tokens=counts["token"],
        seconds=time.perf_counter() - started,
    )


class _Writer:
    """Writes the buffered rows with COPY on Postgres, bulk_create elsewhere; parents first."""

    COLUMNS = {
        "product": ["id", "catalog_id", "sku", "name", "attributes", "created_at", "updated_at"],
        "description": [
            "id",
            "product_id",
            "status",
            "version",
            "text",
            "provider",
            "model",
            "prompt",
            "finish_reason",
            "has_logprobs",
            "prompt_tokens",
            "completion_tokens",
            "risk",
            "attempts",
            "error_code",
            "error",
            "lease_until",
            "rejection_reason",
            "review_claimed_by_id",
            "review_claimed_until",
            "created_at",
            "updated_at",
            "generated_at",
            "published_at",
        ],
        "sentence": [
            "id",
            "description_id",
            "index",
            "char_start",
            "char_end",
            "text",
            "edited_text",
            "band",
            "decision",
            "decided_at",
            "mean_logprob",
            "min_logprob",
            "risk",
            "critical_min_logprob",
            "hard_flag",
            "signals",
            "reasons",
        ],
        "token": [
            "id",
            "description_id",
            "sentence_id",
            "position",
            "char_start",
            "text",
            "bytes",
            "logprob",
            "alternatives",
        ],
    }

    def __init__(self, connection, rows):
        from reviewq.core.models import Description, Product, Sentence, Token

        self.connection = connection
        self.rows = rows
        self.models = {"product": Product, "description": Description, "sentence": Sentence, "token": Token}
        self.postgres = connection.vendor == "postgresql"

    def _complete(self, model, columns: list[str]) -> tuple[list[str], list]:
        """Columns the seed does not set (added to the model later) get the field default."""
        missing = [f for f in model._meta.concrete_fields if f.column not in columns]
        defaults = []
        for field in missing:
            value = field.get_default()
            if isinstance(value, (dict, list)):
                value = json.dumps(value)
            defaults.append(value)
        return columns + [f.column for f in missing], defaults

    def flush(self) -> None:
        for name in ("product", "description", "sentence", "token"):
            batch = self.rows[name]
            if not batch:
                continue
            model = self.models[name]
            columns, defaults = self._complete(model, self.COLUMNS[name])
            if self.postgres:
                table = model._meta.db_table
                column_sql = ", ".join(f'"{c}"' for c in columns)
                with (
                    self.connection.cursor() as cursor,
                    cursor.cursor.copy(f'COPY "{table}" ({column_sql}) FROM STDIN') as copy,
                ):
                    for row in batch:
                        copy.write_row((*row, *defaults))
            else:
                fields = {f.column: f.attname for f in model._meta.concrete_fields}
                json_columns = {f.column for f in model._meta.concrete_fields if f.get_internal_type() == "JSONField"}
                objects = []
                for row in batch:
                    values = {}
                    for column, value in zip(columns, (*row, *defaults), strict=True):
                        if column in json_columns and isinstance(value, str):
                            value = json.loads(value)
                        values[fields[column]] = value
                    objects.append(model(**values))
                model.objects.bulk_create(objects, batch_size=500)
            batch.clear()

    def finish(self) -> None:
        if not self.postgres:
            return
        with self.connection.cursor() as cursor:
            for model in self.models.values():
                table = model._meta.db_table
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), (SELECT max(id) FROM \"{table}\"))"
                )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--descriptions", type=int, help="how many descriptions to add (required)")
    parser.add_argument("--sentences", type=int, default=8)
    parser.add_argument("--tokens-per-sentence", type=int, default=15)
    parser.add_argument("--review-share", type=float, default=0.5)
    parser.add_argument(
        "--revisions", action="store_true", help="archived revisions and drafts beside live copies, as in production"
    )
    args = parser.parse_args()
    if not args.descriptions:
        print("bench/seed.py adds synthetic data to DATABASE_URL; pass --descriptions N to run it.")
        return 0
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewq.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    result = seed_descriptions(
        descriptions=args.descriptions,
        sentences_per_description=args.sentences,
        tokens_per_sentence=args.tokens_per_sentence,
        review_share=args.review_share,
        revisions=args.revisions,
        progress=True,
    )
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")  # fresh visibility map: index-only scans
    print(
        f"seeded {result.descriptions} descriptions of {result.products} products, {result.sentences} sentences, {result.tokens} tokens "
        f"in {result.seconds:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

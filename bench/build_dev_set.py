"""Build the gate's labelled dev set (tests/data/gate_dev_set.jsonl) from the embedded model.

    python bench/build_dev_set.py generate [--out /tmp/gate_dev_set.raw.jsonl]
    python bench/build_dev_set.py merge --raw /tmp/gate_dev_set.raw.jsonl --labels LABELS \
        [--out tests/data/gate_dev_set.jsonl]

and the further distributions on the Qwen set's 32 products (tests/data/gate_dev_set_smollm_*.jsonl):

    python bench/build_dev_set.py generate --distribution t10-cand3|spec-t07 --out RAW
    python bench/build_dev_set.py merge --raw RAW --labels LABELS --out tests/data/...

Not a benchmark: without arguments (as `make bench` runs it) it prints this and exits.

`generate` writes two descriptions per product of the demo catalog (reviewq/catalogs/demo_catalog.json),
sampled by the embedded SmolLM2 (temperature 0.7, top 5 logprobs, max 160 tokens, seed
SEED_BASE + 10 * product index + variant): variant 0 uses the default template with every
attribute; variant 1 (even product index) or 2 (odd) uses a template that invites sizes,
weights, materials and durations while attributes it invites (weight, material, capacity, ...)
are withheld from the prompt. The line keeps the full attributes as ground truth, so any
value the model then states for a withheld attribute is unsupported by construction.
Each line: id, product (sku), name, split (dev/heldout by product), attributes (full),
prompt_attributes, withheld, template, prompt (the text as stored on Description.prompt), seed, completion (OpenAI chat.completion dict built
from the provider's tokens, checked to parse back byte-exact) and sentences (spans from
generation.alignment.split_sentences, labels empty).

`generate --distribution NAME` writes one description per product of
tests/data/gate_dev_set_qwen05b.products.json, split dev/heldout as the Qwen set, sampled as
DISTRIBUTIONS[NAME] says: `t10-cand3` is the default prompt with every attribute at temperature
1.0 with 3 candidates (the line's completion is the one pick_best keeps, `candidates` holds all
3, `kept` its index); `spec-t07` is SPEC_LED_TEMPLATE at temperature 0.7, one candidate, the
last two attributes withheld on every other product. Lines carry `model` and `distribution`,
and each sentence a `why` for its label.

`merge` adds the hand labels and writes the dev set. LABELS is either a side file of
{"id", "index", "error", "kind"[, "why", "text"]} rows (one per sentence, keyed by line id and sentence index)
or a labelled dev set (the shipped file), whose labels are reused only where the sentence
text is unchanged; every sentence must end up labelled, or nothing is written.

Generation takes ~3.5 minutes on 2 cores (t10-cand3 ~20, spec-t07 ~7 on 2 busy shared cores);
not part of the test suite. See tests/data/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewq.settings_test")

import django

django.setup()

from generation.alignment import split_sentences
from generation.evaluation import completion_to_openai
from generation.prompts import DEFAULT_TEMPLATE, build_messages, prompt_text
from generation.providers.common import pick_best
from generation.providers.embedded import EmbeddedProvider
from generation.providers.openai_compat import completion_from_openai

CATALOG = ROOT / "reviewq" / "catalogs" / "demo_catalog.json"
DEFAULT_OUT = ROOT / "tests" / "data" / "gate_dev_set.jsonl"
DEFAULT_RAW = Path("/tmp/gate_dev_set.raw.jsonl")
SEED_BASE = 4000
TEMPERATURE = 0.7
TOP_LOGPROBS = 5
MAX_TOKENS = 160
# Attributes a copy prompt invites the model to state; withheld in variants 1+ (at most two).
WITHHOLDABLE = (
    "weight",
    "material",
    "capacity",
    "volume",
    "battery life",
    "battery",
    "dimensions",
    "power",
    "packed weight",
    "length",
    "size",
    "colour",
    "output",
    "max load",
    "waterproof rating",
    "water resistance",
    "burn time",
    "charge time",
    "brightness",
    "fabric",
    "upper",
)
# Held-out products: positions 1 and 4 within each category of the demo catalog (12 of 41).
HELDOUT_POSITIONS = (1, 4)

INVITING_TEMPLATE = (
    'Describe "{name}" for our online shop in {sentences} sentences. Mention what it is made of, '
    "how big and how heavy it is, and how long it lasts.\n\nFacts:\n{attributes}"
)
SPEC_TEMPLATE = (
    "Write {sentences} sentences of product copy for {name} (SKU {sku}). Include the key "
    "specifications: dimensions, weight, capacity, battery life and materials.\n\n{attributes}"
)
VARIANTS = (
    # (template, sentences, withhold?)
    (DEFAULT_TEMPLATE, 3, False),
    (INVITING_TEMPLATE, 4, True),
    (SPEC_TEMPLATE, 4, True),
)


def splits_by_product(products: list[dict]) -> dict[str, str]:
    position: dict[str, int] = {}
    split = {}
    for product in products:
        category = product["attributes"].get("category", "")
        index = position.get(category, 0)
        position[category] = index + 1
        split[product["sku"]] = "heldout" if index in HELDOUT_POSITIONS else "dev"
    return split


def withheld_for(attributes: dict, variant: int) -> list[str]:
    present = [key for key in WITHHOLDABLE if key in attributes]
    # Rotate which keys go so the variants of one product withhold different things.
    if not present:
        return []
    start = (variant - 1) % len(present)
    rotated = present[start:] + present[:start]
    return rotated[:2]


def variants_for(p_index: int) -> tuple[int, int]:
    return (0, 1 + p_index % 2)


def generate(out: Path) -> None:
    products = json.loads(CATALOG.read_text())["products"]
    split = splits_by_product(products)
    provider = EmbeddedProvider(default_seed=SEED_BASE)
    started = time.monotonic()
    n_sentences = 0
    with out.open("w", encoding="utf-8") as handle:
        for p_index, product in enumerate(products):
            for variant in variants_for(p_index):
                template, n_wanted, withhold = VARIANTS[variant]
                full = product["attributes"]
                withheld = withheld_for(full, variant) if withhold else []
                shown = {k: v for k, v in full.items() if k not in withheld}
                seed = SEED_BASE + 10 * p_index + variant
                messages = build_messages(
                    name=product["name"],
                    sku=product["sku"],
                    attributes=shown,
                    template="" if template == DEFAULT_TEMPLATE else template,
                    sentences=n_wanted,
                )
                completion = provider.complete(
                    messages=messages,
                    max_tokens=MAX_TOKENS,
                    temperature=TEMPERATURE,
                    top_logprobs=TOP_LOGPROBS,
                    seed=seed,
                )[0]
                line_id = f"{product['sku']}-v{variant}"
                body = completion_to_openai(completion, completion_id=f"devset-{line_id}")
                _check_round_trip(completion, body)
                text = completion.text
                spans = split_sentences(text)
                n_sentences += len(spans)
                handle.write(
                    json.dumps(
                        {
                            "id": line_id,
                            "product": product["sku"],
                            "name": product["name"],
                            "split": split[product["sku"]],
                            "attributes": full,
                            "prompt_attributes": shown,
                            "withheld": withheld,
                            "template": "default" if template == DEFAULT_TEMPLATE else template,
                            "prompt": prompt_text(messages),
                            "seed": seed,
                            "temperature": TEMPERATURE,
                            "completion": body,
                            "sentences": [
                                {"text": text[s:e], "start": s, "end": e, "error": None, "kind": None} for s, e in spans
                            ],
                        },
                        ensure_ascii=False,
                        separators=(",", ":"),
                    )
                    + "\n"
                )
                handle.flush()
            print(
                f"{p_index + 1}/{len(products)} products, {n_sentences} sentences, {time.monotonic() - started:.0f} s",
                flush=True,
            )


# ---------------------------------------------------------------------------------------------
# Further distributions of the same model on the Qwen set's 32 products (`generate --distribution`)

QWEN_SET = ROOT / "tests" / "data" / "gate_dev_set_qwen05b.jsonl"
QWEN_PRODUCTS = ROOT / "tests" / "data" / "gate_dev_set_qwen05b.products.json"
# A short template that leads with the specifications (used by `spec-t07` only).
SPEC_LED_TEMPLATE = (
    'Write {sentences} short sentences of product copy for "{name}" (SKU {sku}). Lead with its '
    "key specifications and say what they mean for the buyer.\n\nSpecifications:\n{attributes}"
)


@dataclass(frozen=True)
class Distribution:
    template: str  # DEFAULT_TEMPLATE or a user template
    sentences: int
    temperature: float
    candidates: int  # n per prompt; the line's completion is what pick_best keeps
    withhold_every_other: bool  # the last two attributes, on every other product (as the Qwen set)
    seed_base: int


DISTRIBUTIONS = {
    "t10-cand3": Distribution(DEFAULT_TEMPLATE, 3, 1.0, 3, False, 6000),
    "spec-t07": Distribution(SPEC_LED_TEMPLATE, 3, 0.7, 1, True, 7000),
}


def qwen_splits() -> dict[str, str]:
    """The Qwen set's dev/heldout split by product, kept for the same products."""
    split = {}
    for text in QWEN_SET.read_text(encoding="utf-8").splitlines():
        if text.strip():
            line = json.loads(text)
            split[line["product"]] = line["split"]
    return split


def generate_distribution(name: str, out: Path) -> None:
    """One description per product of the Qwen set's products file, sampled as `name` says."""
    spec = DISTRIBUTIONS[name]
    products = json.loads(QWEN_PRODUCTS.read_text(encoding="utf-8"))
    split = qwen_splits()
    provider = EmbeddedProvider(default_seed=spec.seed_base)
    started = time.monotonic()
    n_sentences = 0
    with out.open("w", encoding="utf-8") as handle:
        for p_index, product in enumerate(products):
            full = product["attributes"]
            withheld = list(full)[-2:] if spec.withhold_every_other and p_index % 2 == 0 else []
            shown = {k: v for k, v in full.items() if k not in withheld}
            seed = spec.seed_base + 10 * p_index
            messages = build_messages(
                name=product["name"],
                sku=product["sku"],
                attributes=shown,
                template="" if spec.template == DEFAULT_TEMPLATE else spec.template,
                sentences=spec.sentences,
            )
            candidates = provider.complete(
                messages=messages,
                max_tokens=MAX_TOKENS,
                temperature=spec.temperature,
                top_logprobs=TOP_LOGPROBS,
                n=spec.candidates,
                seed=seed,
            )
            completion = pick_best(candidates)
            line_id = f"{name}:{product['sku']}"
            bodies = []
            for index, candidate in enumerate(candidates):
                body = completion_to_openai(candidate, completion_id=f"devset-{line_id}-c{index}")
                _check_round_trip(candidate, body)
                bodies.append(body)
            kept = candidates.index(completion)
            text = completion.text
            spans = split_sentences(text)
            n_sentences += len(spans)
            line = {
                "id": line_id,
                "product": product["sku"],
                "name": product["name"],
                "model": completion.model,
                "distribution": name,
                "split": split[product["sku"]],
                "attributes": full,
                "prompt_attributes": shown,
                "withheld": withheld,
                "template": "default" if spec.template == DEFAULT_TEMPLATE else spec.template,
                "prompt": prompt_text(messages),
                "seed": seed,
                "temperature": spec.temperature,
                "completion": bodies[kept],
            }
            if spec.candidates > 1:
                # Candidate i was sampled with seed + i; `kept` is the one pick_best keeps.
                line["kept"] = kept
                line["candidates"] = bodies
            line["sentences"] = [
                {"text": text[s:e], "start": s, "end": e, "error": None, "kind": None, "why": None} for s, e in spans
            ]
            handle.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
            handle.flush()
            print(
                f"{name}: {p_index + 1}/{len(products)} products, {n_sentences} sentences, "
                f"{time.monotonic() - started:.0f} s",
                flush=True,
            )


def _check_round_trip(completion, body: dict) -> None:
    parsed = completion_from_openai(body, provider=completion.provider)[0]
    same = (
        parsed.text == completion.text
        and [(t.text, t.bytes, t.logprob) for t in parsed.tokens]
        == [(t.text, t.bytes, t.logprob) for t in completion.tokens]
        and parsed.finish_reason == completion.finish_reason
    )
    if not same:
        raise SystemExit(f"round trip through the OpenAI format changed {body['id']}")


def _read_labels(path: Path) -> dict[tuple[str, int], tuple[bool, str, str | None, str | None]]:
    """(id, sentence index) -> (error, kind, sentence text or None, why or None) from either label source."""
    labels = {}
    for text in path.read_text(encoding="utf-8").splitlines():
        if not text.strip():
            continue
        row = json.loads(text)
        if "sentences" in row:
            for index, sentence in enumerate(row["sentences"]):
                if sentence.get("error") is not None:
                    labels[(row["id"], index)] = (
                        bool(sentence["error"]),
                        sentence["kind"],
                        sentence["text"],
                        sentence.get("why"),
                    )
        else:
            labels[(row["id"], row["index"])] = (bool(row["error"]), row["kind"], row.get("text"), row.get("why"))
    return labels


def merge(raw: Path, labels_path: Path, out: Path) -> None:
    labels = _read_labels(labels_path)
    lines = [json.loads(text) for text in raw.read_text(encoding="utf-8").splitlines() if text.strip()]
    missing = []
    for line in lines:
        for index, sentence in enumerate(line["sentences"]):
            label = labels.get((line["id"], index))
            if label is None or (label[2] is not None and label[2] != sentence["text"]):
                missing.append(f"{line['id']}#{index}")
                continue
            sentence["error"], sentence["kind"] = label[0], label[1]
            if "why" in sentence:  # lines of the further distributions carry a short reason
                sentence["why"] = label[3]
        # The candidates keep each token's text, bytes and logprob but not its top alternatives
        # (the kept completion has them): 3 full candidates would take the file past 5 MB. The
        # raw file keeps them whole.
        for body in line.get("candidates", ()):
            for entry in (body["choices"][0].get("logprobs") or {}).get("content") or ():
                entry["top_logprobs"] = []
    if missing:
        raise SystemExit(f"{len(missing)} sentences have no label: {', '.join(missing[:20])}")
    out.write_text(
        "".join(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n" for line in lines),
        encoding="utf-8",
    )
    n = sum(len(line["sentences"]) for line in lines)
    errors = sum(s["error"] for line in lines for s in line["sentences"])
    print(f"merged labels: {len(lines)} descriptions, {n} sentences, {errors} errors")


def main() -> None:
    if len(sys.argv) == 1:
        print(__doc__)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    gen = sub.add_parser("generate", help="sample the completions (unlabelled)")
    gen.add_argument("--out", type=Path, default=DEFAULT_RAW)
    gen.add_argument(
        "--distribution",
        choices=sorted(DISTRIBUTIONS),
        help="sample one of the further distributions on the Qwen set's products instead of the demo catalog",
    )
    mer = sub.add_parser("merge", help="add the labels and write the dev set")
    mer.add_argument("--raw", type=Path, default=DEFAULT_RAW)
    mer.add_argument("--labels", type=Path, required=True)
    mer.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    if args.action == "generate":
        if args.distribution:
            generate_distribution(args.distribution, args.out)
        else:
            generate(args.out)
    else:
        merge(args.raw, args.labels, args.out)


if __name__ == "__main__":
    main()

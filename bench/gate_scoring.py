"""CPU time the gate spends on one sentence (python bench/gate_scoring.py [--runs N]).

A typical ~22-token sentence with top-5 alternatives, scored with product facts as production
does (`reviewq.gating.gate.score_sentence`). Prints microseconds per sentence, CPU time of this
process (best of five rounds), so a busy machine changes the figure little. The budget the
suite once asserted with a wall clock (2 ms per sentence) is checked here instead.

Then the agreement between samples (reviewq/gating/agreement.py): a five-sentence description
scored by `score_description` with two other candidates and without; the difference is the
agreement's CPU per description (reading both other samples once, and every sentence).
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewq.settings_test")

from reviewq.gating.gate import score_description, score_sentence
from reviewq.gating.grounding import product_facts
from tests.reviewq.gating.tokens import make_tokens

TEXT = "The AquaFlow bottle keeps drinks cold for 24 hours and holds 750 ml, in blue stainless steel."
ATTRIBUTES = {"capacity": "750 ml", "battery life": "12 h", "colour": "blue", "material": "stainless steel"}
BUDGET_US = 2000.0
DESCRIPTION = [
    "The AquaFlow bottle keeps drinks cold for 24 hours and holds 750 ml.",
    " Its blue stainless steel body weighs 340 g and fits most cup holders.",
    " A leak-proof lid with a carry loop makes it easy to take on a hike.",
    " The double wall keeps the outside dry, so it never sweats in a bag.",
    " Wash the lid by hand; the bottle itself is dishwasher safe.",
]
OTHER_CANDIDATES = [
    "Meet the AquaFlow: 750 ml of cold water for a full 24 hours. The blue stainless steel bottle "
    "weighs just 340 g. Its lid seals tight and has a loop to clip onto a bag. Dishwasher safe.",
    "The AquaFlow Bottle holds 750 ml and keeps drinks cold for up to 12 hours. Made of stainless "
    "steel in blue, it has a leak-proof lid. Rinse it by hand to keep the coating new.",
]


def best_cpu(run, rounds: int, repeat: int = 5) -> float:
    """Best CPU seconds per call of `run` over `repeat` rounds of `rounds` calls."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        for _ in range(rounds):
            run()
        best = min(best, (time.process_time() - started) / rounds)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="sentences per round (default 300)")
    args = parser.parse_args()
    tokens = make_tokens(
        TEXT, default=-0.3, alternatives=[("a", -0.3), ("b", -1.8), ("c", -2.5), ("d", -3.0), ("e", -4.0)]
    )
    facts = product_facts(attributes=ATTRIBUTES, product_name="AquaFlow Bottle")
    score_sentence(text=TEXT, tokens=tokens, facts=facts)
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        for _ in range(args.runs):
            score_sentence(text=TEXT, tokens=tokens, facts=facts)
        best = min(best, (time.process_time() - started) / args.runs)
    print(
        f"gate: {best * 1e6:.0f} µs CPU per sentence ({len(tokens)} tokens, top-5 alternatives); budget {BUDGET_US:.0f} µs"
    )

    alternatives = [("a", -0.3), ("b", -1.8), ("c", -2.5), ("d", -3.0), ("e", -4.0)]
    sentences = [(text, make_tokens(text, default=-0.3, alternatives=alternatives)) for text in DESCRIPTION]
    rounds = max(1, args.runs // len(sentences))

    def description(others):
        return lambda: score_description(
            sentences=sentences, attributes=ATTRIBUTES, product_name="AquaFlow Bottle", other_candidates=others
        )

    alone, with_samples = best_cpu(description(()), rounds), best_cpu(description(OTHER_CANDIDATES), rounds)
    print(
        f"agreement: {(with_samples - alone) * 1e6:.0f} µs CPU per description ({len(sentences)} sentences, "
        f"{len(OTHER_CANDIDATES)} other candidates); gate {alone * 1e6:.0f} µs without, "
        f"{with_samples * 1e6:.0f} µs with (x{with_samples / alone:.2f})"
    )


if __name__ == "__main__":
    main()

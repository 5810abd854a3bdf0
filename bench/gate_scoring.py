"""CPU time the gate spends on one sentence (python bench/gate_scoring.py [--runs N]).

A typical ~22-token sentence with top-5 alternatives, scored with product facts as production
does (`reviewq.gating.gate.score_sentence`). Prints microseconds per sentence, CPU time of this
process (best of five rounds), so a busy machine changes the figure little. The budget the
suite once asserted with a wall clock (2 ms per sentence) is checked here instead.
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewq.settings_test")

from reviewq.gating.gate import score_sentence
from reviewq.gating.grounding import product_facts
from tests.reviewq.gating.tokens import make_tokens

TEXT = "The AquaFlow bottle keeps drinks cold for 24 hours and holds 750 ml, in blue stainless steel."
ATTRIBUTES = {"capacity": "750 ml", "battery life": "12 h", "colour": "blue", "material": "stainless steel"}
BUDGET_US = 2000.0


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


if __name__ == "__main__":
    main()

"""Agreement between samples: how far the other candidates of the same prompt say what a
sentence of the kept one says (SelfCheckGPT's cheap variant: no model, word overlap).

Pure (no Django). With LLM_CANDIDATES > 1 the provider returns several completions and
`pick_best` keeps one; the others are read once per description (`sample_reading`) and every
sentence of the kept one gets `sentence_agreement`:

- `support`: per other sample, the share of the sentence's content units found anywhere in it
  (content words by their first 5 letters, as claims.novel_share reads them, and the stated
  values, each value counting VALUE_WEIGHT words), averaged over the other samples. None
  when there is nothing to check.
- `values_alone`: the values (numbers, measurements, prices, percentages) of the sentence
  that no other sample states: a value the model wrote once out of n is a guess.

It measures whether the samples agree, not whether the sentence is true: samples of one model
repeat the same confident error, and a correct value the others left out gets no support.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from reviewq.gating.claims import STEM, content_words, word_stems
from reviewq.gating.units import Quantity, same_value
from reviewq.gating.words import Word, find_words

# A stated value weighs as much as this many content words in `support`.
VALUE_WEIGHT = 3.0
_VALUE_KINDS = ("measurement", "percentage", "price")
# Below this support a sentence gets a reason line.
LOW_SUPPORT = 0.5


@dataclass(frozen=True, slots=True)
class SampleReading:
    """What agreement reads of one other candidate; built once per description."""

    stems: frozenset[str]
    quantities: tuple[Quantity, ...]
    numbers: frozenset[float]


@dataclass(frozen=True, slots=True)
class Agreement:
    n_samples: int  # other candidates read
    support: float | None  # in [0, 1], None when the sentence has no content word nor value
    values_alone: tuple[str, ...]  # values as written that no other sample states


def agreement_reasons(agreement: Agreement | None) -> list[str]:
    """Reason lines for the review page: low support, and each value no other sample states."""
    if agreement is None:
        return []
    others = f"{agreement.n_samples} other sample{'s' if agreement.n_samples != 1 else ''}"
    reasons = []
    if agreement.support is not None and agreement.support < LOW_SUPPORT:
        reasons.append(
            f"samples disagree: the {others} of this prompt share {agreement.support:.0%} of its content "
            "(agreement between samples, not truth)"
        )
    reasons += [f"'{value}' stated by this sample only, by none of the {others}" for value in agreement.values_alone]
    return reasons


def _content_stems(text: str) -> set[str]:
    return {word[:STEM] for word in content_words(text)}


def n_values(words: Sequence[Word]) -> int:
    """How many values (numbers, measurements, prices, percentages) the words state."""
    return len(_values(words))


def _values(words: Sequence[Word]) -> list[Word]:
    return [
        w for w in words if (w.kind in _VALUE_KINDS and w.quantities) or (w.kind == "number" and w.number is not None)
    ]


def sample_reading(text: str) -> SampleReading:
    """One other candidate's words (every stem, not only content words) and values."""
    words = find_words(text, names=False)
    quantities = tuple(q for w in words if w.kind in _VALUE_KINDS for q in w.quantities)
    numbers = {round(w.number, 6) for w in words if w.kind == "number" and w.number is not None}
    # "the 500 ml bottle" supports a bare "500" too
    numbers |= {round(q.number, 6) for q in quantities}
    return SampleReading(stems=frozenset(word_stems(text)), quantities=quantities, numbers=frozenset(numbers))


def value_stated(value: Word, sample: SampleReading) -> bool:
    """The sample states the value: a quantity equal within units' tolerance, a plain number
    as a number (bare or with any unit)."""
    if value.quantities:
        return any(same_value(q, other) for q in value.quantities for other in sample.quantities)
    return value.number is not None and round(value.number, 6) in sample.numbers


def sentence_agreement(text: str, words: Sequence[Word], samples: Sequence[SampleReading]) -> Agreement | None:
    """How the other samples support one sentence; None without other samples. `words` are
    the sentence's critical words (words.find_words), which hold its values."""
    if not samples:
        return None
    stems = _content_stems(text)
    values = _values(words)
    total = len(stems) + VALUE_WEIGHT * len(values)
    stated = [[value_stated(v, s) for s in samples] for v in values]
    alone = tuple(v.text for v, found in zip(values, stated, strict=True) if not any(found))
    if not total:
        return Agreement(n_samples=len(samples), support=None, values_alone=alone)
    shares = []
    for j, sample in enumerate(samples):
        found = len(stems & sample.stems) + VALUE_WEIGHT * sum(row[j] for row in stated)
        shares.append(found / total)
    return Agreement(n_samples=len(samples), support=sum(shares) / len(shares), values_alone=alone)

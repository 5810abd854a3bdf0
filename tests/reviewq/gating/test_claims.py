import random
import re

import pytest

from reviewq.gating import product_facts, score_sentence
from reviewq.gating.claims import (
    _CLAIM_RE,
    CLAIM_TERMS,
    claim_facts,
    novel_share,
    quantity_keys_of,
    stated_values,
    swapped_values,
    untraced_claims,
    word_stems,
)
from reviewq.gating.words import find_words

LIGHT = {
    "charge time": "1 hour",
    "run time": "up to 40 hours",
    "colour temperatures": "3 (2700 K, 4000 K, 6000 K)",
    "battery": "1200 mAh, USB-C charging",
    "material": "aluminium",
}
NAME = "Lark Clip-On Reading Light"


def signals(text, attributes=LIGHT, name=NAME):
    return score_sentence(text=text, tokens=[], attributes=attributes, product_name=name).signals


def test_claim_terms_and_numbers_the_facts_do_not_contain():
    facts = product_facts(attributes=LIGHT, product_name=NAME)
    text = "It is waterproof and eco-friendly, with 5 modes and USB-C charging in 1 hour."
    assert untraced_claims(text, find_words(text), facts.claims) == ["waterproof", "eco-friendly", "5"]
    # A term the facts state is traced, also by its words' stems ("dishwasher safe: yes").
    facts = product_facts(attributes={"dishwasher safe": "yes", "compartments": "3"}, product_name="Lunch Box")
    text = "It is dishwasher safe and has 3 compartments."
    assert untraced_claims(text, find_words(text), facts.claims) == []


def test_novel_share_counts_content_words_the_facts_never_use():
    facts = product_facts(
        attributes={"material": "borosilicate glass", "capacity": "900 ml"}, product_name="Fennel Teapot"
    )
    assert novel_share("The teapot is made of borosilicate glass.", facts.claims) == 0.0
    # "teapot", "glass" traced; "perfect" is stock marketing; "picnics", "grandmother" are not.
    assert novel_share("A perfect teapot of glass for picnics with grandmother.", facts.claims) == pytest.approx(2 / 4)
    assert novel_share("It is so.", facts.claims) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The USB-C port gives a 1-hour run time.", ["1-hour"]),  # 1 h is the charge time
        ("The 6000 K battery lasts long.", ["6000 K"]),  # 6000 K is a colour temperature
        ("It charges in 1 hour.", []),
        ("The charge time is 1 hour.", []),
        ("Choose 2700 K, 4000 K or 6000 K colour temperatures.", []),
        ("The run time is up to 40 hours.", []),
    ],
)
def test_a_value_stated_for_another_attribute_is_swapped(text, expected):
    facts = product_facts(attributes=LIGHT, product_name=NAME)
    assert swapped_values(text, find_words(text), facts.claims, quantity_keys_of(facts.quantities)) == expected


def test_the_gate_stores_the_counts_but_they_do_not_change_the_band():
    plain = score_sentence(text="It charges in 1 hour.", tokens=[], attributes=LIGHT, product_name=NAME)
    claimed = score_sentence(
        text="It is waterproof, with a 1-hour run time.", tokens=[], attributes=LIGHT, product_name=NAME
    )
    assert (plain.signals["n_untraced"], plain.signals["n_swapped"]) == (0, 0)
    assert (claimed.signals["n_untraced"], claimed.signals["n_swapped"]) == (1, 1)
    assert plain.band == claimed.band == "review"  # no logprobs; the counts are fitted inputs only
    assert signals("It is so.")["novel_share"] is None


# --- The cheaper readings give what the plain ones gave (issue 16: gate CPU) --------------------

RANDOM_ALPHABET = "ab _-.²é1 "


def _random_text(rng, low, high):
    return "".join(rng.choice(RANDOM_ALPHABET) for _ in range(rng.randint(low, high)))


def test_stated_values_match_the_alternation_regex_it_replaces():
    rng = random.Random(16)
    for _ in range(3000):
        values = sorted({_random_text(rng, 1, 4) for _ in range(rng.randint(1, 5))}, key=len, reverse=True)
        text = _random_text(rng, 0, 25)
        pattern = re.compile(rf"(?<!\w)(?:{'|'.join(map(re.escape, values))})(?!\w)")
        assert stated_values(text, values) == [(m.start(), m.end(), m.group()) for m in pattern.finditer(text)]
    assert stated_values("a 6000 k lamp, 6000 k", ["6000 k", "k"]) == [(2, 8, "6000 k"), (15, 21, "6000 k")]


def test_claim_terms_are_found_as_the_flat_longest_first_alternation_found_them():
    flat = re.compile(
        r"(?<![\w-])("
        + "|".join(re.escape(t).replace(r"\ ", r"\s+") for t in sorted(CLAIM_TERMS, key=len, reverse=True))
        + r")(?![\w-])",
        re.I,
    )
    texts = [
        "Water  resistant, WATERPROOF and water-resistant; quick-drying not quick-dry-ish.",
        "non-stick-free, bpa free BPA-free, easy to\nclean, all sizes, pre-washable washable_x",
        "Recyclable recycled-ish UV-proof uv spf50 SPF 50 eco-friendly environmentally  friendly",
        *(f"{t} {t.upper()}-x x-{t} {t}s" for t in CLAIM_TERMS),
    ]
    for text in texts:
        assert [t for t in _CLAIM_RE.findall(text) if t] == flat.findall(text), text


def test_claim_stems_are_the_stems_of_the_joined_facts():
    attributes = {**LIGHT, "Fabric": ["Merino WOOL", "nylon (20%)"], "size": 3, "straps": {"width": "2 cm"}}
    facts = claim_facts(attributes=attributes, product_name="Σόλο ΚΑΛΟΣ Lamp", numbers=())
    assert facts.stems == frozenset(word_stems(facts.text))
    assert facts.values == tuple(sorted(facts.value_keys, key=len, reverse=True))

import pytest

from reviewq.gating import product_facts, score_sentence
from reviewq.gating.claims import novel_share, quantity_keys_of, swapped_values, untraced_claims
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

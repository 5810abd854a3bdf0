import pytest

from reviewq.gating.grounding import CONTRADICTION, UNSUPPORTED, ground_sentence, product_facts
from reviewq.gating.words import find_words

BOTTLE = {
    "capacity": "750 ml",
    "material": "18/8 stainless steel, double-wall vacuum insulated",
    "colour": "forest green",
    "keeps cold": "24 hours",
    "keeps hot": "12 hours",
    "weight": "340 g",
    "lid": "bamboo with silicone seal",
    "price": "EUR 24.90",
}


def findings(text, attributes=BOTTLE, name="Insulated Steel Water Bottle 750 ml"):
    facts = product_facts(attributes=attributes, product_name=name)
    result = ground_sentence(text, find_words(text), facts)
    return [(f.kind, f.text, f.detail) for f in result.findings]


def kinds(text, **kwargs):
    return [(kind, text) for kind, text, _ in findings(text, **kwargs)]


@pytest.mark.parametrize(
    "text",
    [
        "It holds 0.75 l of water.",
        "It holds 750ml.",
        "Keeps drinks hot for 12h and cold for a full day (24 h).",
        "It weighs just 340 grams.",
        "Yours for €24.90.",
        "A forest green finish in stainless steel.",
        "The steel body is green.",
        "The bamboo lid has a silicone seal.",
        "Plastic-free and BPA-free.",
        "Holds 750 millilitres.",
    ],
)
def test_grounded_sentences_have_no_findings(text):
    assert findings(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("It keeps drinks cold for 36 hours.", [(CONTRADICTION, "36 hours")]),
        ("It holds 1 l.", [(CONTRADICTION, "1 l")]),
        ("It weighs 1.2 kg.", [(CONTRADICTION, "1.2 kg")]),
        ("Only $24.90.", [(CONTRADICTION, "$24.90")]),
        ("Only €19.99.", [(CONTRADICTION, "€19.99")]),
        ("Available in red.", [(CONTRADICTION, "red")]),
        ("Made of tough plastic.", [(CONTRADICTION, "plastic")]),
    ],
)
def test_contradictions(text, expected):
    assert kinds(text) == expected


LINEN = {"wash temperatures": "40/70/100 °C", "sizes in l": "0.5 / 0.75/1 l"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Wash it at 40 °C.", []),
        ("Boil-wash at 70 °C or 100 °C.", []),
        ("Wash it at 60 °C.", [(CONTRADICTION, "60 °C")]),
        ("Also in 0.5 l.", []),
        ("Also in 2 l.", [(CONTRADICTION, "2 l")]),
    ],
)
def test_slash_separated_values_share_the_unit_after_them(text, expected):
    assert kinds(text, attributes=LINEN, name="Linen towel") == expected


def test_a_fraction_is_one_value_not_a_list():
    assert kinds("The jug holds 1 l.", attributes={"capacity": "1/2 l"}, name="Jug") == [(CONTRADICTION, "1 l")]


def test_contradiction_detail_names_the_attribute():
    ((kind, text, detail),) = findings("It keeps hot for 6 h.")
    assert kind == CONTRADICTION and text == "6 h"
    assert detail == "attributes say 24 h (keeps cold), 12 h (keeps hot)"
    ((_, _, detail),) = findings("It weighs 500 g.")
    assert detail == "attribute says 340 g (weight)"
    ((_, _, detail),) = findings("It comes in blue.")
    assert detail == "attribute colour says forest green"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Its 40 W heater.", [(UNSUPPORTED, "40 W", "no attribute states a power")]),
        ("It is 30 cm tall.", [(UNSUPPORTED, "30 cm", "no attribute states a length or size")]),
        ("Charges at 5 V.", [(UNSUPPORTED, "5 V", "no attribute states a voltage")]),
        ("Visit www.bottles.example for more.", [(UNSUPPORTED, "www.bottles.example", "not in the product data")]),
    ],
)
def test_unsupported(text, expected):
    assert findings(text) == expected


def test_unsupported_colour_and_material_without_attribute():
    attributes = {"capacity": "750 ml"}
    assert kinds("A glossy red finish.", attributes=attributes, name="Bottle") == [(UNSUPPORTED, "red")]
    assert kinds("Made of glass.", attributes=attributes, name="Bottle") == [(UNSUPPORTED, "glass")]


def test_numbers_in_the_product_name_ground():
    assert findings("A 750 ml bottle.", attributes={}) == []
    assert findings("Model 200 in stock.", attributes={}, name="AquaFlow XR-200") == []
    facts = product_facts(attributes={}, product_name="AquaFlow XR-200")
    text = "The AquaFlow XR-200 ships now."
    result = ground_sentence(text, find_words(text), facts)
    assert result.findings == [] and len(result.grounded) == 2


def test_unit_from_the_attribute_key():
    assert findings("Holds 1.5 kg.", attributes={"max_load_kg": 1.5}, name="Shelf") == []
    assert kinds("Holds 3 kg.", attributes={"max load (kg)": "1.5"}, name="Shelf") == [(CONTRADICTION, "3 kg")]


def test_known_number_grounds_a_quantity_of_a_dimension_the_data_lacks():
    # No volume attribute, but the number itself is in the data: not reported as unsupported.
    assert findings("For 2 people, 2 l each.", attributes={"capacity": "2 people"}, name="Tent") == []
    assert kinds("For 3 people, 3 l each.", attributes={"capacity": "2 people"}, name="Tent") == [(UNSUPPORTED, "3 l")]


def test_list_and_nested_attribute_values():
    attributes = {"colours": ["charcoal", "navy", "olive"], "sizes": "S, M, L, XL", "specs": {"power": "65 W"}}
    assert findings("In navy or charcoal, size M, 65 W.", attributes=attributes, name="Jacket") == []
    assert kinds("Also in size XXL and yellow.", attributes=attributes, name="Jacket") == [
        (CONTRADICTION, "size XXL"),
        (CONTRADICTION, "yellow"),
    ]


def test_size_ranges_expand():
    attributes = {"sizes": "XS-XL"}
    assert findings("Try size L.", attributes=attributes, name="Tee") == []
    assert kinds("Try size XXL.", attributes=attributes, name="Tee") == [(CONTRADICTION, "size XXL")]


def test_colour_families_agree():
    attributes = {"colour": "charcoal"}
    assert findings("A sleek grey look.", attributes=attributes, name="Lamp") == []
    assert kinds("A sleek white look.", attributes=attributes, name="Lamp") == [(CONTRADICTION, "white")]


def test_colour_named_elsewhere_in_the_data_is_not_a_conflict():
    attributes = {"colour": "black", "modes": "high, low, red light"}
    assert findings("A red light mode for the night.", attributes=attributes, name="Headlamp") == []


def test_unreadable_colour_attribute_never_conflicts():
    attributes = {"colour": "multicolour"}
    assert findings("Bright red and blue.", attributes=attributes, name="Kite") == []


def test_rating_codes_conflict():
    attributes = {"waterproof": "IPX4", "protection": "SPF 50"}
    assert findings("Rated IPX4 with SPF 50.", attributes=attributes, name="Lamp") == []
    assert kinds("Rated IPX7.", attributes=attributes, name="Lamp") == [(CONTRADICTION, "IPX7")]
    assert kinds("Offers SPF 30.", attributes=attributes, name="Lamp") == [(CONTRADICTION, "SPF 30")]


def test_dimensions_compare_each_value():
    attributes = {"dimensions": "45 x 30 x 2 cm"}
    assert findings("It measures 45 x 30 x 2 cm.", attributes=attributes, name="Board") == []
    assert findings("It is 450 mm long.", attributes=attributes, name="Board") == []
    assert kinds("It measures 50 x 30 x 2 cm.", attributes=attributes, name="Board") == [
        (CONTRADICTION, "50 x 30 x 2 cm")
    ]


def test_temperatures_and_percentages():
    attributes = {"care": "machine wash 30 °C", "wax": "100 % soy wax"}
    assert findings("Wash at 86 °F; pure 100% soy.", attributes=attributes, name="Candle") == []
    assert kinds("Wash at 60 °C.", attributes=attributes, name="Candle") == [(CONTRADICTION, "60 °C")]
    assert kinds("Burns 50% longer.", attributes=attributes, name="Candle") == [(CONTRADICTION, "50%")]


def test_duration_units_convert():
    attributes = {"warranty": "2 years"}
    assert findings("Backed by a 24-month warranty.", attributes=attributes, name="Kettle") == []


def test_booleans_and_empty_attributes_are_harmless():
    assert findings("Dishwasher safe.", attributes={"dishwasher safe": True, "x": None}, name="") == []
    assert product_facts(attributes=None).quantities == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("It comes with a 30 inch inside leg.", []),
        ("Choose the 32 inch inside leg.", []),
        ("It has a 34 inch inside leg.", []),
        ("It has a 36 inch inside leg.", [(CONTRADICTION, "36 inch")]),
    ],
)
def test_values_listed_with_commas_share_the_unit_after_them(text, expected):
    for listed in ("30, 32, 34 inch", "30, 32 or 34 inch", "30, 32, and 34 inch"):
        assert kinds(text, attributes={"inside leg": listed}, name="Chinos") == expected


def _facts_as_compared(facts):
    """Every field, and the order of the dicts' keys (the grounding reasons list them in it)."""
    import dataclasses

    fields = {f.name: getattr(facts, f.name) for f in dataclasses.fields(facts)}
    orders = {name: list(value) for name, value in fields.items() if isinstance(value, dict)}
    return fields, orders


def test_product_facts_from_cached_values_equal_reading_every_value(monkeypatch):
    """product_facts reads each attribute value through a per-process cache (_text_facts); the
    facts must be what reading every value afresh (_add_text) gives, for the dev set's products
    and for values that repeat, join (colour, material, size lists) and mix kinds."""
    import json
    from pathlib import Path

    from reviewq.gating import grounding

    products = [
        (row["attributes"], row["name"])
        for row in map(json.loads, (Path(__file__).parents[2] / "data" / "gate_dev_set.jsonl").open())
    ]
    products += [
        ({"colour": ["navy blue", "sage green"], "colour options": "red or any colour", "size": "S-XL"}, "Tee navy"),
        ({"material": "cotton", "fabric": ["wool", "cotton"], "sizes": ["M", "XXL", "2XS"], "colour": "?"}, "Wool M"),
        ({"model": "IPX7 / IPX4", "capacity_ml": "750", "weight (kg)": 1.2, "battery": "2000 mAh, 5 V"}, "Lamp 3"),
        ({"spec": {"inner": ["30, 32, 34 inch", "40/70/100 °C"], "codes": ("SPF 30", "A-12")}, "url": None}, ""),
        ({"colour": "graphite", "frame": "aluminium", "dishwasher safe": True, "n": 3}, "Graphite bottle 3/4 in"),
    ]
    products *= 2  # the second pass reads every value from the cache
    cached = [product_facts(attributes=attributes, product_name=name) for attributes, name in products]
    monkeypatch.setattr(
        grounding,
        "_text_facts_add",
        lambda facts, key, text, is_name=False: grounding._add_text(facts, key, text, is_name=is_name),
    )
    fresh = [product_facts(attributes=attributes, product_name=name) for attributes, name in products]
    assert len(products) > 100
    for got, expected in zip(cached, fresh, strict=True):
        assert _facts_as_compared(got) == _facts_as_compared(expected)

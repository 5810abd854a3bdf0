import pytest

from reviewq.gating.words import find_words


def kinds(text):
    return [(w.text, w.kind) for w in find_words(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("It holds 750 ml.", [("750 ml", "measurement")]),
        ("Lasts 24h on a charge.", [("24h", "measurement")]),
        ("A 2-year warranty.", [("2-year", "measurement")]),
        ("Measures 30 x 20 x 10 cm.", [("30 x 20 x 10 cm", "measurement")]),
        ("Fits 10-22 cm.", [("10-22 cm", "measurement")]),
        ("Only €19.99 today.", [("€19.99", "price")]),
        ("Only 19,99 EUR today.", [("19,99 EUR", "price")]),
        ("Costs $5.", [("$5", "price")]),
        ("Made with 100 % soy wax.", [("100 %", "percentage")]),
        ("Holds 3 pens.", [("3", "number")]),
        ("The 2nd edition.", [("2nd", "number")]),
        ("The XR-200 model.", [("XR-200", "code")]),
        ("Rated IPX4 and SPF 50.", [("IPX4", "code"), ("SPF 50", "code")]),
        ("Built by Samsung in Korea.", [("Samsung", "name"), ("Korea", "name")]),
        ("Works with the iPhone and AquaFlow lids.", [("iPhone", "name"), ("AquaFlow", "name")]),
        ("Charges over USB-C.", [("USB-C", "name")]),
        ("See https://shop.example/x?id=1. Thanks.", [("https://shop.example/x?id=1", "url")]),
        ("Mail info@shop.example now.", [("info@shop.example", "email")]),
        ("Made by Müller in Köln.", [("Müller", "name"), ("Köln", "name")]),
    ],
)
def test_critical_words(text, expected):
    assert kinds(text) == expected


def test_sentence_initial_capital_is_not_a_name():
    assert kinds("Great for picnics.") == []
    assert kinds('  "Great" for picnics.') == []
    assert kinds("Features: Durable lid.") == []
    assert kinds("1. Great lid.") == [("1", "number")]


def test_ordinary_words_are_not_critical():
    assert kinds("it keeps your drinks cold all day long, and it is easy to clean.") == []


def test_words_carry_their_span_and_values():
    text = "Keeps cold for 24 h, weighs 1,5 kg."
    first, second = find_words(text)
    assert text[first.start : first.end] == "24 h"
    assert first.quantities[0].value == 24 * 3600
    assert second.quantities[0].display == "1.5 kg"


def test_number_inside_a_code_is_not_a_number():
    assert kinds("Model X50CrMoV15 steel.") == [("X50CrMoV15", "code")]


def test_names_can_be_skipped():
    assert [(w.text, w.kind) for w in find_words("Made by Samsung, 12 h.", names=False)] == [("12 h", "measurement")]

import pytest

from reviewq.gating.units import make_quantity, parse_measurement, parse_number, same_value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12", 12.0),
        ("1.5", 1.5),
        ("1,5", 1.5),
        ("1,500", 1500.0),
        ("12,345.67", 12345.67),
        ("1 000", 1000.0),
        ("20\u202f000", 20000.0),
        ("12\u00a0000", 12000.0),
        ("0,75", 0.75),
        ("-5", -5.0),
    ],
)
def test_parse_number(text, value):
    assert parse_number(text) == pytest.approx(value)


def _one(text):
    quantities = parse_measurement(text)
    assert len(quantities) == 1, quantities
    return quantities[0]


# Pairs that must compare equal after normalisation.
EQUAL = [
    ("0.75 l", "750 ml"),
    ("0,75 L", "750 mL"),
    ("75 cl", "750 ml"),
    ("1,5 kg", "1.5 kg"),
    ("1,5 kg", "1500 g"),
    ("1 500 g", "1.5 kg"),
    ("12h", "12 hours"),
    ("12 hrs", "720 min"),
    ("2-year", "24 months"),
    ("90 minutes", "1.5 h"),
    ('15.6"', "39.6 cm"),
    ("27 inch", "68.6 cm"),
    ("2 m", "200 cm"),
    ("1 000 mAh", "1 Ah"),
    ("20000 mAh", "20 Ah"),
    ("2200 W", "2.2 kW"),
    ("5 V", "5 volts"),
    ("1 TB", "1000 GB"),
    ("512GB", "0.512 TB"),
    ("100 °C", "212 °F"),
    ("-5 °C", "23 °F"),
    ("50 %", "50 percent"),
    ("2.4 GHz", "2400 MHz"),
    ("1 lb", "453.6 g"),
    ("16 fl oz", "473 ml"),
]


@pytest.mark.parametrize(("a", "b"), EQUAL)
def test_equal_quantities(a, b):
    assert same_value(_one(a), _one(b))


DIFFERENT = [
    ("24 h", "12 h"),
    ("500 ml", "750 ml"),
    ("1.2 kg", "1.5 kg"),
    ("2 years", "3 years"),
    ("10 W", "10 V"),  # other dimension
    ("1 TB", "1024 GB"),  # 2.4 % apart: decimal units only
    ("100 °C", "100 °F"),
]


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different_quantities(a, b):
    assert not same_value(_one(a), _one(b))


def test_tolerance_is_two_percent():
    assert same_value(_one("1000 ml"), _one("1.019 l"))
    assert not same_value(_one("1000 ml"), _one("1.03 l"))


def test_dimensions_and_ranges_share_their_unit():
    assert [q.value for q in parse_measurement("30 x 20 x 10 cm")] == [300.0, 200.0, 100.0]
    assert [q.value for q in parse_measurement("30cm x 20 cm")] == [300.0, 200.0]
    assert [q.value for q in parse_measurement("10-22 cm")] == [100.0, 220.0]
    assert [q.value for q in parse_measurement("0 to -5 °C")] == [0.0, -5.0]
    # A count times a volume is not two volumes.
    assert [q.display for q in parse_measurement("2 x 500 ml")] == ["500 ml"]


def test_unknown_unit_is_no_quantity():
    assert make_quantity(3.0, "parsecs") is None
    assert parse_measurement("3 pockets") == ()


def test_display_is_normalised():
    assert _one("12hours").display == "12 h"
    assert _one("1,5 kg").display == "1.5 kg"
    assert _one("50%").display == "50%"

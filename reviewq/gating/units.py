"""Numbers and units: parse "1,5 kg", "0.75 l", "12h", "1 000 mAh", "€19.99" into comparable values.

Every quantity is converted to one base unit per dimension (volume in ml, mass in g, duration in
s, length in mm, ...), so "0.75 l" == "750 ml" and "1,5 kg" == "1500 g". Prices keep their
currency as part of the dimension ("price:EUR"), temperatures are stored in degrees Celsius.
"""

import functools
import math
import re
from typing import NamedTuple

# Decimal comma or point; thousands grouped by comma ("1,500") or by a (narrow) space ("1 000").
# "1,5" is 1.5 and "1,500" is 1500; "1.500" is read as 1.5 (English copy is the common case).
NUMBER = (
    r"(?:\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?![\d,.]\d)"
    r"|\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d)"
    r"|\d+(?:[.,]\d+)?)"
)
_GROUPED_SPACE = re.compile(r"\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?:\.\d+)?")
_GROUPED_COMMA = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_SPACES = re.compile(r"[ \u00a0\u202f]+")

# surface form -> (dimension, factor to the base unit, display unit). Matched case-sensitively so
# that "5G" is not five grams and "M" (a size) is not a metre.
SYMBOL_UNITS: dict[str, tuple[str, float, str]] = {
    "ml": ("volume", 1.0, "ml"),
    "mL": ("volume", 1.0, "ml"),
    "ML": ("volume", 1.0, "ml"),
    "cl": ("volume", 10.0, "cl"),
    "cL": ("volume", 10.0, "cl"),
    "dl": ("volume", 100.0, "dl"),
    "dL": ("volume", 100.0, "dl"),
    "l": ("volume", 1000.0, "l"),
    "L": ("volume", 1000.0, "l"),
    "ltr": ("volume", 1000.0, "l"),
    "fl oz": ("volume", 29.5735, "fl oz"),
    "fl. oz": ("volume", 29.5735, "fl oz"),
    "mg": ("mass", 0.001, "mg"),
    "g": ("mass", 1.0, "g"),
    "kg": ("mass", 1000.0, "kg"),
    "Kg": ("mass", 1000.0, "kg"),
    "KG": ("mass", 1000.0, "kg"),
    "lb": ("mass", 453.592, "lb"),
    "lbs": ("mass", 453.592, "lb"),
    "oz": ("mass", 28.3495, "oz"),
    "sec": ("duration", 1.0, "s"),
    "secs": ("duration", 1.0, "s"),
    "min": ("duration", 60.0, "min"),
    "mins": ("duration", 60.0, "min"),
    "h": ("duration", 3600.0, "h"),
    "hr": ("duration", 3600.0, "h"),
    "hrs": ("duration", 3600.0, "h"),
    "mm": ("length", 1.0, "mm"),
    "cm": ("length", 10.0, "cm"),
    "m": ("length", 1000.0, "m"),
    "km": ("length", 1_000_000.0, "km"),
    "ft": ("length", 304.8, "ft"),
    "W": ("power", 1.0, "W"),
    "kW": ("power", 1000.0, "kW"),
    "KW": ("power", 1000.0, "kW"),
    "mW": ("power", 0.001, "mW"),
    "V": ("voltage", 1.0, "V"),
    "kV": ("voltage", 1000.0, "kV"),
    "mV": ("voltage", 0.001, "mV"),
    "A": ("current", 1000.0, "A"),
    "mA": ("current", 1.0, "mA"),
    "mAh": ("charge", 1.0, "mAh"),
    "MAH": ("charge", 1.0, "mAh"),
    "Ah": ("charge", 1000.0, "Ah"),
    "Wh": ("energy", 1.0, "Wh"),
    "kWh": ("energy", 1000.0, "kWh"),
    "KB": ("data", 0.000001, "KB"),
    "kB": ("data", 0.000001, "KB"),
    "MB": ("data", 0.001, "MB"),
    "GB": ("data", 1.0, "GB"),
    "TB": ("data", 1000.0, "TB"),
    "PB": ("data", 1_000_000.0, "PB"),
    "Hz": ("frequency", 1.0, "Hz"),
    "kHz": ("frequency", 1000.0, "kHz"),
    "MHz": ("frequency", 1e6, "MHz"),
    "GHz": ("frequency", 1e9, "GHz"),
    "°C": ("temperature", 1.0, "°C"),
    "ºC": ("temperature", 1.0, "°C"),
    "°F": ("temperature", 1.0, "°F"),
    "ºF": ("temperature", 1.0, "°F"),
    "%": ("percent", 1.0, "%"),
    "dB": ("loudness", 1.0, "dB"),
    "lm": ("luminous flux", 1.0, "lm"),
    "rpm": ("rotation", 1.0, "rpm"),
    "RPM": ("rotation", 1.0, "rpm"),
    "MP": ("resolution", 1.0, "MP"),
    "bar": ("pressure", 100.0, "bar"),
    "kPa": ("pressure", 1.0, "kPa"),
    "Pa": ("pressure", 0.001, "Pa"),
    "psi": ("pressure", 6.89476, "psi"),
    "HRC": ("hardness", 1.0, "HRC"),
}
# Spelled-out units, matched case-insensitively (looked up in lower case).
WORD_UNITS: dict[str, tuple[str, float, str]] = {}
for _names, _unit in [
    (("millilitre", "milliliter"), ("volume", 1.0, "ml")),
    (("centilitre", "centiliter"), ("volume", 10.0, "cl")),
    (("litre", "liter"), ("volume", 1000.0, "l")),
    (("fluid ounce",), ("volume", 29.5735, "fl oz")),
    (("gallon",), ("volume", 3785.41, "gal")),
    (("milligram", "milligramme"), ("mass", 0.001, "mg")),
    (("gram", "gramme"), ("mass", 1.0, "g")),
    (("kilogram", "kilogramme", "kilo"), ("mass", 1000.0, "kg")),
    (("pound",), ("mass", 453.592, "lb")),
    (("ounce",), ("mass", 28.3495, "oz")),
    (("second",), ("duration", 1.0, "s")),
    (("minute",), ("duration", 60.0, "min")),
    (("hour",), ("duration", 3600.0, "h")),
    (("day",), ("duration", 86400.0, "days")),
    (("week",), ("duration", 7 * 86400.0, "weeks")),
    (("month",), ("duration", 30 * 86400.0, "months")),
    (("year", "yr"), ("duration", 365 * 86400.0, "years")),
    (("millimetre", "millimeter"), ("length", 1.0, "mm")),
    (("centimetre", "centimeter"), ("length", 10.0, "cm")),
    (("metre", "meter"), ("length", 1000.0, "m")),
    (("kilometre", "kilometer"), ("length", 1_000_000.0, "km")),
    (("inch",), ("length", 25.4, "in")),
    (("foot",), ("length", 304.8, "ft")),
    (("watt",), ("power", 1.0, "W")),
    (("kilowatt",), ("power", 1000.0, "kW")),
    (("volt",), ("voltage", 1.0, "V")),
    (("amp", "ampere"), ("current", 1000.0, "A")),
    (("gigabyte",), ("data", 1.0, "GB")),
    (("terabyte",), ("data", 1000.0, "TB")),
    (("megabyte",), ("data", 0.001, "MB")),
    (("lumen",), ("luminous flux", 1.0, "lm")),
    (("megapixel",), ("resolution", 1.0, "MP")),
    (("decibel",), ("loudness", 1.0, "dB")),
]:
    for _name in _names:
        WORD_UNITS[_name] = _unit
        WORD_UNITS[_name + "s"] = _unit
WORD_UNITS.update(
    {
        "inches": ("length", 25.4, "in"),
        "feet": ("length", 304.8, "ft"),
        "percent": ("percent", 1.0, "%"),
        "per cent": ("percent", 1.0, "%"),
        "degrees celsius": ("temperature", 1.0, "°C"),
        "degrees c": ("temperature", 1.0, "°C"),
        "degrees fahrenheit": ("temperature", 1.0, "°F"),
        "degrees f": ("temperature", 1.0, "°F"),
        "°": ("temperature", 1.0, "°C"),
    }
)
# A quote straight after a number is inches (15.6" display); never with a space before it.
ATTACHED_UNITS = {'"': ("length", 25.4, "in"), "″": ("length", 25.4, "in"), "”": ("length", 25.4, "in")}

CURRENCIES = {
    "$": "USD",
    "€": "EUR",
    "£": "GBP",
    "¥": "JPY",
    "EUR": "EUR",
    "USD": "USD",
    "GBP": "GBP",
    "CHF": "CHF",
    "CAD": "CAD",
    "AUD": "AUD",
    "JPY": "JPY",
    "SEK": "SEK",
    "NOK": "NOK",
    "DKK": "DKK",
    "PLN": "PLN",
    "euro": "EUR",
    "euros": "EUR",
    "dollar": "USD",
    "dollars": "USD",
}


def alternation_pattern(words, *, whitespace_required: bool = False) -> str:
    """A regex matching any of `words`, longest first, built as a trie: the regex engine tries
    alternatives one by one, so ~150 flat units cost far more than ~30 first characters."""
    trie: dict = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict) -> str:
        branches = []
        for ch in sorted((c for c in node if c), key=lambda c: c):
            piece = r"\s+" if ch == " " and whitespace_required else r"\s?" if ch == " " else re.escape(ch)
            branches.append(piece + build(node[ch]))
        if not branches:
            return ""
        if "" in node:  # the word may end here: longer continuations first, then nothing
            return "(?:" + "|".join(branches) + ")?"
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"

    return build(trie)


_CURRENCY_CODES = [c for c in CURRENCIES if c.isupper() and len(c) == 3]
UNIT = rf"(?:(?:{alternation_pattern(SYMBOL_UNITS)})|(?i:{alternation_pattern(WORD_UNITS)}))(?![^\W_])"
CURRENCY_BEFORE = rf"(?:[$€£¥]|(?:{'|'.join(_CURRENCY_CODES)})(?![A-Za-z]))"
CURRENCY_AFTER = rf"(?:[$€£¥]|(?:{'|'.join(_CURRENCY_CODES)})(?![A-Za-z])|(?i:euros?|dollars?)(?![A-Za-z]))"
_UNIT_AT_START = re.compile(UNIT)
_UNIT_SEPARATORS = " \u00a0\u202f-"
_TIMES = re.compile(r"\d[ \u00a0\u202f]?[x×X*]")
_NUMBER_AT = re.compile(NUMBER)
# A minus is a sign only where it cannot be a range dash ("-5 °C", "0 to -5 °C", not "10-22").
_NUMBERS = re.compile(rf"(?:(?<![\w.,])[-−])?{NUMBER}")

# Relative tolerance when comparing two values of one dimension ("24 months" == "2 years").
TOLERANCE = 0.02
PRICE_TOLERANCE = 0.005
TEMPERATURE_TOLERANCE = 1.0  # degrees Celsius, absolute


class Quantity(NamedTuple):
    """A number with a unit: `value` is in the dimension's base unit (ml, g, s, mm, W, ...)."""

    dimension: str
    value: float
    display: str  # as normalised for messages, e.g. "12 h"
    number: float  # as written, before conversion


def parse_number(text: str) -> float:
    """ "1,5" -> 1.5, "1,500" -> 1500, "1 000" -> 1000, "-5" -> -5; raises ValueError."""
    text = text.strip()
    sign = -1.0 if text[:1] in "-−" else 1.0
    text = text.lstrip("-−")
    if _GROUPED_SPACE.fullmatch(text):
        text = _SPACES.sub("", text)
    elif _GROUPED_COMMA.fullmatch(text):
        text = text.replace(",", "")
    else:
        text = text.replace(",", ".")
    return sign * float(text)


def format_number(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e6 else f"{value:.0f}"


def unit_info(unit: str) -> tuple[str, float, str] | None:
    """Dimension, factor and display unit for a unit string such as "ml", "Hours", "fl oz"."""
    unit = _SPACES.sub(" ", unit.strip())
    if unit in SYMBOL_UNITS:
        return SYMBOL_UNITS[unit]
    if unit in ATTACHED_UNITS:
        return ATTACHED_UNITS[unit]
    lowered = unit.lower()
    if lowered.replace(". ", " ").replace(".", "") in ("fl oz",):
        return SYMBOL_UNITS["fl oz"]
    return WORD_UNITS.get(lowered)


def make_quantity(number: float, unit: str) -> Quantity | None:
    info = unit_info(unit)
    if info is None:
        return None
    dimension, factor, display = info
    if dimension == "temperature":
        celsius = (number - 32.0) * 5.0 / 9.0 if display == "°F" else number
        return Quantity("temperature", celsius, f"{format_number(number)} {display}", number)
    sep = "" if display == "%" else " "
    return Quantity(dimension, number * factor, f"{format_number(number)}{sep}{display}", number)


def make_price(number: float, currency: str) -> Quantity:
    code = CURRENCIES.get(currency) or CURRENCIES.get(currency.lower()) or currency.upper()
    return Quantity(f"price:{code}", number, f"{number:.2f} {code}", number)


@functools.lru_cache(maxsize=4096)
def parse_measurement(text: str) -> tuple[Quantity, ...]:
    """Quantities in one measurement phrase: "24 h", "0.75 l", "30 x 20 x 10 cm", "10-22 cm", "-5 °C".

    In a list or range every number without its own unit takes the unit that follows it.
    """
    parts: list[tuple[float, str | None]] = []
    for match in _NUMBERS.finditer(text):
        number = parse_number(match.group())
        unit_match = _UNIT_AT_START.match(text, match.end())
        if unit_match is None:  # "24 h", "2-year": skip the separator
            offset = match.end()
            while offset < len(text) and text[offset] in _UNIT_SEPARATORS:
                offset += 1
            unit_match = _UNIT_AT_START.match(text, offset)
        if unit_match is None and text[match.end() : match.end() + 1] in ATTACHED_UNITS:
            parts.append((number, text[match.end()]))
            continue
        parts.append((number, unit_match.group() if unit_match else None))
    # "2 x 500 ml" is a count times a volume; only lengths multiply out ("30 x 20 cm").
    times = _TIMES.search(text) is not None
    quantities: list[Quantity] = []
    last_unit = None
    for number, unit in reversed(parts):
        last_unit = unit or last_unit
        if last_unit is None:
            continue
        if unit is None and times and (unit_info(last_unit) or ("",))[0] != "length":
            continue
        quantity = make_quantity(number, last_unit)
        if quantity is not None:
            quantities.append(quantity)
    return tuple(reversed(quantities))


def same_value(a: Quantity, b: Quantity) -> bool:
    """Same dimension and equal within tolerance (2 %, prices 0.5 %, temperatures 1 °C)."""
    if a.dimension != b.dimension:
        return False
    if a.dimension == "temperature":
        return abs(a.value - b.value) <= TEMPERATURE_TOLERANCE
    tolerance = PRICE_TOLERANCE if a.dimension.startswith("price:") else TOLERANCE
    return math.isclose(a.value, b.value, rel_tol=tolerance, abs_tol=1e-9)


def dimension_of(quantity: Quantity) -> str:
    """The dimension for "is there an attribute of this kind": all prices form one kind."""
    return "price" if quantity.dimension.startswith("price:") else quantity.dimension

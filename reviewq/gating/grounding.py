"""Attribute grounding: does a sentence state something the product data does not say?

`product_facts()` reads a product's attributes and name once; `ground_sentence()` checks each
critical word, colour, material and size of a sentence against them:
- a number+unit whose dimension (volume, mass, duration, length, ...) has attribute values but
  none equal within tolerance -> contradiction ("'24 h' — attribute says 12 h (battery life)");
  one with no attribute of that dimension -> unsupported (unless its number appears in the data);
- a colour or material that differs from the colour / material attributes -> contradiction,
  one stated with no attribute of that kind -> unsupported;
- "size M" against a size attribute, a model code whose prefix matches a different code of the
  product ("IPX7" vs "IPX4", "SPF 30" vs "SPF 50") -> contradiction;
- URLs and e-mail addresses not in the data -> unsupported.
Numbers and words of the product name ground like attribute values.
"""

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reviewq.gating.claims import ClaimFacts, claim_facts
from reviewq.gating.units import (
    NUMBER,
    Quantity,
    dimension_of,
    make_quantity,
    parse_number,
    same_value,
    unit_info,
)
from reviewq.gating.vocabulary import (
    ATTRIBUTE_ONLY_COLOURS,
    COLOURS,
    MATERIALS,
    WILDCARD_COLOURS,
    first_words,
    may_hold,
    vocabulary_re,
)
from reviewq.gating.words import Word, find_words

CONTRADICTION = "contradiction"
UNSUPPORTED = "unsupported"

_COLOUR_RE = vocabulary_re(COLOURS)
_ANY_COLOUR_RE = vocabulary_re(COLOURS.keys() | ATTRIBUTE_ONLY_COLOURS.keys() | WILDCARD_COLOURS)
_MATERIAL_RE = vocabulary_re(MATERIALS)
_COLOUR_FIRST = first_words(COLOURS)
_MATERIAL_FIRST = first_words(MATERIALS)
# "BPA-free plastic" states plastic; "plastic-free", "no plastic", "unlike glass" do not.
_NEGATED_BEFORE = re.compile(r"(?:\b(?:no|non|not|without|unlike|instead\s+of|free\s+of|zero|than)\s+|non-)$", re.I)
_NEGATED_AFTER = re.compile(r"^(?:-(?:free|like|look|effect)\b|\s+of\b)", re.I)
_COLOUR_KEY = re.compile(r"colou?r", re.I)
_MATERIAL_KEY = re.compile(r"materi|fabric|composition|made\s+(?:of|from)|frame|upper|shell|lining", re.I)
_SIZE_KEY = re.compile(r"\bsizes?\b", re.I)
SIZE_ORDER = ["XXS", "XS", "S", "M", "L", "XL", "XXL", "XXXL", "4XL", "5XL"]
_SIZE_ALIASES = {"2XL": "XXL", "3XL": "XXXL", "2XS": "XXS"}
_SIZE_TOKEN = r"(?:XXXL|XXL|XXS|XL|XS|[2-5]XL|2XS|S|M|L)"
_SIZE_CLAIM_RE = re.compile(rf"\b[Ss]izes?\s+(?:from\s+)?({_SIZE_TOKEN})\b")
_SIZE_RANGE_RE = re.compile(rf"\b({_SIZE_TOKEN})\s*(?:-|–|to)\s*({_SIZE_TOKEN})\b")
_SIZE_ANY_RE = re.compile(rf"\b({_SIZE_TOKEN})\b")
_CODE_PREFIX_RE = re.compile(r"([A-Za-z]+)[- ]?\d")
_ALNUM_WORDS = re.compile(r"[^\W_]+")
_NUMBERS_RE = re.compile(NUMBER)
_DIGIT_RE = re.compile(r"\d")
_KEY_SPLIT = re.compile(r"[\s_()\[\]/,.-]+")

DIMENSION_NAMES = {
    "volume": "a volume",
    "mass": "a weight",
    "duration": "a duration",
    "length": "a length or size",
    "power": "a power",
    "voltage": "a voltage",
    "current": "a current",
    "charge": "a battery capacity",
    "energy": "an energy",
    "data": "a storage size",
    "frequency": "a frequency",
    "temperature": "a temperature",
    "percent": "a percentage",
    "price": "a price",
    "loudness": "a loudness",
    "luminous flux": "a brightness",
    "rotation": "a speed",
    "resolution": "a resolution",
    "pressure": "a pressure",
    "hardness": "a hardness",
}


def _number_key(value: float) -> float:
    return round(value, 6)


@dataclass(frozen=True, slots=True)
class Fact:
    quantity: Quantity
    key: str


@dataclass(slots=True)
class ProductFacts:
    """What a product's attributes and name state, normalised for comparison. Build once per product."""

    quantities: dict[str, list[Fact]] = field(default_factory=dict)  # by dimension_of()
    numbers: set[float] = field(default_factory=set)
    words: set[str] = field(default_factory=set)  # lower-case alphanumeric words
    text: str = ""  # every value, lower case, for substring checks (URLs, codes)
    colours: dict[str, set[str]] = field(default_factory=dict)  # colour attribute key -> families
    colour_values: dict[str, str] = field(default_factory=dict)
    colour_unknown: bool = False  # a colour attribute we cannot read: never claim a conflict
    colour_any: set[str] = field(default_factory=set)  # families named anywhere in the data
    materials: dict[str, str] = field(default_factory=dict)  # material attribute key -> value
    material_any: set[str] = field(default_factory=set)
    sizes: set[str] | None = None
    size_values: list[str] = field(default_factory=list)
    codes: dict[str, set[str]] = field(default_factory=dict)  # letter prefix -> codes, lower case
    claims: ClaimFacts | None = None  # what claims.py reads (untraced, swapped values)


def _flatten(value: Any) -> Iterable[Any]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _flatten(item)
    elif isinstance(value, (list, tuple, set)):
        for item in value:
            yield from _flatten(item)
    else:
        yield value


def _key_unit(key: str) -> str | None:
    """A unit written in an attribute key: "capacity_ml", "weight (kg)"."""
    for part in _KEY_SPLIT.split(key):
        if part and unit_info(part) is not None:
            return part
    return None


def _expand_sizes(text: str) -> set[str]:
    sizes: set[str] = set()
    for low, high in _SIZE_RANGE_RE.findall(text):
        low, high = _SIZE_ALIASES.get(low, low), _SIZE_ALIASES.get(high, high)
        if low in SIZE_ORDER and high in SIZE_ORDER:
            sizes.update(SIZE_ORDER[SIZE_ORDER.index(low) : SIZE_ORDER.index(high) + 1])
    sizes.update(_SIZE_ALIASES.get(s, s) for s in _SIZE_ANY_RE.findall(text))
    return sizes


# "40/70/100 °C", "30, 32, 34 inch", "30, 32 or 34 inch": numbers listed before a quantity.
_LISTED_NUMBERS_RE = re.compile(rf"(?:{NUMBER}\s*(?:/|,\s*(?:(?:and|or)\s+)?|\s(?:and|or)\s)\s*)+$")
_FRACTION_DENOMINATORS = {2.0, 3.0, 4.0, 8.0, 16.0, 32.0, 64.0}


def _listed_before(text: str, word: Word) -> list[Quantity]:
    """ "40/70/100 °C" states 40 °C and 70 °C as well, "inside leg 30, 32, 34 inch" 30 and 32
    inch: the numbers listed with slashes, commas, "and" or "or" before a quantity take its unit."""
    if len(word.quantities) != 1:
        return []
    listed = _LISTED_NUMBERS_RE.search(text, 0, word.start)
    number = _NUMBERS_RE.match(word.text)
    if listed is None or number is None:
        return []
    values = [parse_number(n) for n in _NUMBERS_RE.findall(listed.group())]
    last = word.quantities[0].number
    fraction = listed.group().rstrip().endswith("/")
    if fraction and len(values) == 1 and values[0].is_integer() and last in _FRACTION_DENOMINATORS and values[0] < last:
        return []  # "3/4 in" is a fraction, not 3 in and 4 in
    unit = word.text[number.end() :].strip()
    quantities = [make_quantity(value, unit) for value in values]
    return [q for q in quantities if q is not None and q.dimension == word.quantities[0].dimension]


def _add_text(facts: ProductFacts, key: str, text: str, *, is_name: bool = False) -> None:
    lowered = text.lower()
    facts.text += "\n" + lowered
    facts.words.update(_ALNUM_WORDS.findall(lowered))
    for number in _NUMBERS_RE.findall(text):
        facts.numbers.add(_number_key(parse_number(number)))
    # Quantities and codes all hold a digit.
    words = find_words(text, names=False) if _DIGIT_RE.search(text) else []
    for word in words:
        for quantity in (*word.quantities, *_listed_before(text, word)):
            facts.quantities.setdefault(dimension_of(quantity), []).append(Fact(quantity, key))
        if word.kind == "code":
            prefix = _CODE_PREFIX_RE.match(word.text)
            if prefix:
                facts.codes.setdefault(prefix.group(1).lower(), set()).add(word.text.lower())
            facts.words.add(word.text.lower())
    unit = _key_unit(key)
    plain = words[0].number if len(words) == 1 and words[0].kind == "number" else None
    if unit and not any(w.quantities for w in words) and plain is not None:
        unit_quantity = make_quantity(plain, unit)
        if unit_quantity is not None:
            facts.quantities.setdefault(dimension_of(unit_quantity), []).append(Fact(unit_quantity, key))

    colour_words = [w.lower() for w in _ANY_COLOUR_RE.findall(text)]
    families: set[str] = set()
    for word in colour_words:
        families |= COLOURS.get(word) or ATTRIBUTE_ONLY_COLOURS.get(word) or frozenset()
    facts.colour_any |= families
    if _COLOUR_KEY.search(key) or (is_name and families):
        if not families or any(w in WILDCARD_COLOURS for w in colour_words):
            facts.colour_unknown = True
        facts.colours.setdefault(key, set()).update(families)
        known = facts.colour_values.get(key)
        facts.colour_values[key] = f"{known}, {text}" if known else text

    for material in _MATERIAL_RE.findall(text):
        facts.material_any |= MATERIALS[_normal_material(material)]
    if _MATERIAL_KEY.search(key):
        known = facts.materials.get(key)
        facts.materials[key] = f"{known}, {text}" if known else text

    if _SIZE_KEY.search(key):
        sizes = _expand_sizes(text)
        if sizes:
            facts.sizes = (facts.sizes or set()) | sizes
            facts.size_values.append(text)


def _normal_material(text: str) -> str:
    return " ".join(text.lower().split())  # "Stainless  Steel" -> "stainless steel"


@functools.lru_cache(maxsize=8192)
def _text_facts(key: str, text: str, is_name: bool) -> ProductFacts:
    """What one attribute value (or the name) states, read once per process: catalogs repeat
    values ("stainless steel", "navy blue", "750 ml") across their products. Never mutated."""
    facts = ProductFacts()
    _add_text(facts, key, text, is_name=is_name)
    return facts


def _text_facts_add(facts: ProductFacts, key: str, text: str, *, is_name: bool = False) -> None:
    """_add_text(facts, key, text) from the cached reading of the value: the same changes, in
    the same order (a test compares both on many products)."""
    part = _text_facts(key, text, is_name)
    facts.text += part.text
    facts.words |= part.words
    facts.numbers |= part.numbers
    for dimension, found in part.quantities.items():
        facts.quantities.setdefault(dimension, []).extend(found)
    for prefix, codes in part.codes.items():
        facts.codes.setdefault(prefix, set()).update(codes)
    facts.colour_any |= part.colour_any
    facts.colour_unknown = facts.colour_unknown or part.colour_unknown
    for colour_key, families in part.colours.items():
        facts.colours.setdefault(colour_key, set()).update(families)
        known = facts.colour_values.get(colour_key)
        facts.colour_values[colour_key] = f"{known}, {text}" if known else text
    facts.material_any |= part.material_any
    for material_key in part.materials:
        known = facts.materials.get(material_key)
        facts.materials[material_key] = f"{known}, {text}" if known else text
    if part.sizes:
        facts.sizes = (facts.sizes or set()) | part.sizes
        facts.size_values.extend(part.size_values)


def product_facts(*, attributes: Mapping[str, Any] | None, product_name: str = "") -> ProductFacts:
    facts = ProductFacts()
    for key, value in (attributes or {}).items():
        key = str(key)
        for item in _flatten(value):
            if item is None or isinstance(item, bool):
                continue
            if isinstance(item, (int, float)):
                facts.numbers.add(_number_key(float(item)))
                unit = _key_unit(key)
                quantity = make_quantity(float(item), unit) if unit else None
                if quantity is not None:
                    facts.quantities.setdefault(dimension_of(quantity), []).append(Fact(quantity, key))
                continue
            _text_facts_add(facts, key, str(item))
    if product_name:
        _text_facts_add(facts, "product name", product_name, is_name=True)
    facts.claims = claim_facts(attributes=attributes, product_name=product_name, numbers=facts.numbers)
    return facts


@dataclass(frozen=True, slots=True)
class Finding:
    """One grounding problem in a sentence; `detail` completes "'<text>' — <detail>"."""

    kind: str  # CONTRADICTION or UNSUPPORTED
    start: int
    end: int
    text: str
    detail: str


def _facts_display(facts: list[Fact]) -> str:
    shown = []
    for fact in facts[:3]:
        item = f"{fact.quantity.display} ({fact.key})"
        if item not in shown:
            shown.append(item)
    verb = "attribute says" if len(shown) == 1 else "attributes say"
    more = ", …" if len(facts) > 3 else ""
    return f"{verb} {', '.join(shown)}{more}"


def _quantity_status(quantity: Quantity, facts: ProductFacts) -> tuple[str | None, str]:
    same_kind = facts.quantities.get(dimension_of(quantity))
    if same_kind:
        if any(same_value(quantity, fact.quantity) for fact in same_kind):
            return None, ""
        return CONTRADICTION, _facts_display(same_kind)
    if _number_key(abs(quantity.number)) in facts.numbers:
        return None, ""
    kind = dimension_of(quantity)
    return UNSUPPORTED, f"no attribute states {DIMENSION_NAMES.get(kind, kind)}"


def _negated(text: str, start: int, end: int) -> bool:
    before = text[max(0, start - 14) : start]
    return bool(_NEGATED_BEFORE.search(before) or _NEGATED_AFTER.match(text[end : end + 30]))


@dataclass(frozen=True, slots=True)
class Grounding:
    findings: list[Finding]
    grounded: frozenset[int]  # start offsets of critical words found in the product data


def ground_sentence(text: str, words: Iterable[Word], facts: ProductFacts) -> Grounding:
    findings: list[Finding] = []
    grounded: set[int] = set()
    for word in words:
        status: str | None = None
        detail = ""
        if word.quantities:
            for quantity in word.quantities:
                q_status, q_detail = _quantity_status(quantity, facts)
                if q_status == CONTRADICTION or (q_status and status is None):
                    status, detail = q_status, q_detail
        elif word.kind == "number":
            if word.number is not None and _number_key(word.number) in facts.numbers:
                grounded.add(word.start)
            continue
        elif word.kind in ("url", "email"):
            if word.text.lower() in facts.text:
                grounded.add(word.start)
                continue
            status, detail = UNSUPPORTED, "not in the product data"
        else:  # code, name
            lowered = word.text.lower()
            parts = _ALNUM_WORDS.findall(lowered)
            if lowered in facts.words or (parts and all(p in facts.words for p in parts)):
                grounded.add(word.start)
                continue
            prefix = _CODE_PREFIX_RE.match(word.text) if word.kind == "code" else None
            known = facts.codes.get(prefix.group(1).lower()) if prefix else None
            if known:
                status, detail = CONTRADICTION, f"product data says {', '.join(sorted(known))}"
            else:
                continue  # an unknown name: critical (its logprob counts) but no finding
        if status is None:
            grounded.add(word.start)
        else:
            findings.append(Finding(status, word.start, word.end, word.text, detail))

    for match in _COLOUR_RE.finditer(text) if may_hold(text, _COLOUR_FIRST) else ():
        if _negated(text, match.start(), match.end()):
            continue
        families = COLOURS[match.group(1).lower()]
        if families & facts.colour_any:
            continue
        if facts.colours and not facts.colour_unknown:
            shown = "; ".join(f"{key} says {value}" for key, value in facts.colour_values.items())
            findings.append(Finding(CONTRADICTION, *match.span(), match.group(1), f"attribute {shown}"))
        elif not facts.colours:
            findings.append(Finding(UNSUPPORTED, *match.span(), match.group(1), "no attribute states a colour"))

    for match in _MATERIAL_RE.finditer(text) if may_hold(text, _MATERIAL_FIRST) else ():
        if _negated(text, match.start(), match.end()):
            continue
        families = MATERIALS[_normal_material(match.group(1))]
        if families & facts.material_any:
            continue
        if facts.materials:
            shown = "; ".join(f"{key} says {value}" for key, value in facts.materials.items())
            findings.append(Finding(CONTRADICTION, *match.span(), match.group(1), f"attribute {shown}"))
        else:
            findings.append(Finding(UNSUPPORTED, *match.span(), match.group(1), "no attribute states this material"))

    for match in _SIZE_CLAIM_RE.finditer(text):
        size = _SIZE_ALIASES.get(match.group(1), match.group(1))
        if facts.sizes is None:
            findings.append(Finding(UNSUPPORTED, *match.span(1), match.group(0), "no attribute states a size"))
        elif size not in facts.sizes:
            detail = f"attribute says {'; '.join(facts.size_values)}"
            findings.append(Finding(CONTRADICTION, *match.span(1), match.group(0), detail))
    findings.sort(key=lambda f: (f.kind != CONTRADICTION, f.start))
    return Grounding(findings, frozenset(grounded))


__all__ = [
    "CONTRADICTION",
    "UNSUPPORTED",
    "Fact",
    "Finding",
    "Grounding",
    "ProductFacts",
    "ground_sentence",
    "product_facts",
]

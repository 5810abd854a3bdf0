"""Words grounding knows: colours and their families, materials, metals, and the matcher built from them."""

import functools
import re
from collections.abc import Iterable

from reviewq.gating.units import (
    alternation_pattern,
)

# Colour words -> colour families; two colours agree when their families intersect.
COLOURS: dict[str, frozenset[str]] = {
    name: frozenset(families.split())
    for name, families in {
        "black": "black",
        "white": "white",
        "red": "red",
        "blue": "blue",
        "green": "green",
        "yellow": "yellow",
        "orange": "orange",
        "purple": "purple",
        "violet": "purple",
        "pink": "pink",
        "brown": "brown",
        "grey": "grey",
        "gray": "grey",
        "silver": "silver grey",
        "gold": "gold yellow",
        "golden": "gold yellow",
        "beige": "beige brown",
        "navy": "blue",
        "turquoise": "turquoise blue green",
        "teal": "turquoise blue green",
        "cyan": "turquoise blue",
        "burgundy": "red purple",
        "maroon": "red brown",
        "crimson": "red",
        "scarlet": "red",
        "charcoal": "grey black",
        "anthracite": "grey black",
        "graphite": "grey black",
        "ivory": "white beige",
        "khaki": "beige green brown",
        "lilac": "purple pink",
        "magenta": "pink purple",
        "bronze": "brown gold",
    }.items()
}
# Recognised in colour attributes only: in running text these are usually not colours.
ATTRIBUTE_ONLY_COLOURS: dict[str, frozenset[str]] = {
    name: frozenset(families.split())
    for name, families in {
        "cream": "white beige",
        "sage": "green",
        "olive": "green",
        "mint": "green",
        "rust": "orange red brown",
        "sand": "beige",
        "stone": "grey beige",
        "slate": "grey blue",
        "natural": "beige white",
        "transparent": "transparent",
        "clear": "transparent",
        "amber": "orange brown yellow",
        "copper": "orange brown",
        "petrol": "turquoise blue",
        "mustard": "yellow",
        "coral": "orange pink",
        "lavender": "purple",
        "plum": "purple",
        "wine": "red",
        "ecru": "beige white",
        "taupe": "beige grey",
    }.items()
}
WILDCARD_COLOURS = frozenset({"multicolour", "multicolor", "multi", "assorted", "various", "mixed", "rainbow"})

METALS = "steel iron aluminium copper brass titanium metal"
MATERIALS: dict[str, frozenset[str]] = {
    name: frozenset(families.split())
    for name, families in {
        "stainless steel": "steel",
        "carbon steel": "steel",
        "steel": "steel",
        "cast iron": "iron",
        "iron": "iron",
        "aluminium": "aluminium",
        "aluminum": "aluminium",
        "copper": "copper",
        "brass": "brass",
        "titanium": "titanium",
        "metal": METALS,
        "plastic": "plastic",
        "polypropylene": "plastic",
        "polyethylene": "plastic",
        "polycarbonate": "plastic",
        "tritan": "plastic",
        "acrylic": "plastic",
        "pvc": "plastic",
        "silicone": "silicone",
        "rubber": "rubber",
        "glass": "glass",
        "borosilicate": "glass",
        "ceramic": "ceramic",
        "porcelain": "ceramic",
        "stoneware": "ceramic",
        "wood": "wood",
        "wooden": "wood",
        "bamboo": "bamboo wood",
        "oak": "wood",
        "walnut": "wood",
        "beech": "wood",
        "acacia": "wood",
        "cotton": "cotton",
        "denim": "cotton",
        "polyester": "polyester",
        "nylon": "nylon",
        "wool": "wool",
        "merino": "wool",
        "cashmere": "cashmere wool",
        "linen": "linen",
        "silk": "silk",
        "leather": "leather",
        "suede": "leather",
        "fleece": "fleece polyester",
        "elastane": "elastane",
        "spandex": "elastane",
        "neoprene": "neoprene",
        "cork": "cork",
        "marble": "marble",
        "concrete": "concrete",
        "carbon fibre": "carbon",
        "carbon fiber": "carbon",
        "foam": "foam",
        "velvet": "velvet",
        "jute": "jute",
        "hemp": "hemp",
        "felt": "felt",
    }.items()
}
# A metal family member also grounds "metal".
for _name, _families in list(MATERIALS.items()):
    if _families & set(METALS.split()) and _name != "metal":
        MATERIALS[_name] = _families | {"metal"}


def vocabulary_re(words: Iterable[str]) -> re.Pattern:
    """Whole-word, case-insensitive match of any of `words` (a space matches any whitespace)."""
    pattern = alternation_pattern({w.lower() for w in words}, whitespace_required=True)
    return re.compile(rf"(?<![\w-])({pattern})(?!\w)", re.I)


def is_word_char(ch: str) -> bool:
    """What the regex \\w matches in a str pattern."""
    return ch.isalnum() or ch == "_"


# The ASCII characters \w does not match, as spaces: the \w runs of an ASCII text are its split().
_ASCII_NON_WORD = str.maketrans({chr(i): " " for i in range(128) if not is_word_char(chr(i))})
_FIRST_WORD = re.compile(r"\w+")


@functools.lru_cache(maxsize=64)
def ascii_words(text: str) -> frozenset[str] | None:
    """The \\w runs of `text`, lower case, when it is ASCII; None otherwise (re.I matches an
    ASCII letter with "ſ", "ı" or "İ", which lower() does not give). Read once per sentence by
    every check that asks `may_hold`."""
    if not text.isascii():
        return None
    return frozenset(text.lower().translate(_ASCII_NON_WORD).split())


def first_words(terms: Iterable[str]) -> frozenset[str]:
    """The first \\w run of each term, lower case (every term starts with a letter)."""
    found = set()
    for term in terms:
        match = _FIRST_WORD.match(term.lower())
        assert match is not None, term
        found.add(match.group())
    return frozenset(found)


def may_hold(text: str, first: frozenset[str]) -> bool:
    """False only when no term with these `first` words can match `text` as a whole word (case
    insensitive): a match of such a term starts with its first word as a whole \\w run of the text.
    Lets a check skip its regex (a few µs a sentence) on most sentences."""
    words = ascii_words(text)
    return words is None or not words.isdisjoint(first)

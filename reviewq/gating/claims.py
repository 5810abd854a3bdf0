"""Claims a sentence makes that the product facts do not carry: signals for the fitted gate.

Pure (no Django). Three counts, read by features.py; none of them changes a band on its own:

- `n_untraced`: checkable property terms ("waterproof", "eco-friendly", "lightweight",
  "warranty", ...) and plain numbers that neither the attributes nor the name contain. The
  grounding module already judges numbers with units, colours and materials; these are the
  benefits and uses a model invents.
- `novel_share`: the share of a sentence's content words (4+ letters, not function words or
  stock marketing words) whose stem (first 5 letters) appears nowhere in the facts.
- `n_swapped`: an attribute's value stated for another attribute: a value found in the facts
  under key A whose nearest attribute-key word in the sentence (within 4 words) belongs only
  to another key B ("1-hour run time" when 1 hour is the charge time; "the 6000 K battery"
  when 6000 K is a colour temperature).
"""

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reviewq.gating.units import Quantity, alternation_pattern, dimension_of, same_value
from reviewq.gating.vocabulary import first_words, is_word_char, may_hold
from reviewq.gating.words import Word

CLAIM_TERMS = (
    "waterproof",
    "water-resistant",
    "water resistant",
    "leakproof",
    "leak-proof",
    "spill-proof",
    "dishwasher",
    "microwave",
    "oven-safe",
    "freezer",
    "bpa-free",
    "bpa free",
    "non-stick",
    "nonstick",
    "non-slip",
    "anti-slip",
    "slip-resistant",
    "eco-friendly",
    "environmentally friendly",
    "sustainable",
    "recyclable",
    "recycled",
    "biodegradable",
    "compostable",
    "organic",
    "natural",
    "vegan",
    "cruelty-free",
    "hypoallergenic",
    "antibacterial",
    "antimicrobial",
    "anti-inflammatory",
    "antioxidant",
    "breathable",
    "lightweight",
    "heavy-duty",
    "adjustable",
    "foldable",
    "collapsible",
    "portable",
    "rechargeable",
    "wireless",
    "bluetooth",
    "cordless",
    "warranty",
    "guarantee",
    "certified",
    "approved",
    "award-winning",
    "handmade",
    "hand-made",
    "customizable",
    "customisable",
    "personalised",
    "personalized",
    "insulated",
    "odour-resistant",
    "odor-resistant",
    "quick-dry",
    "quick-drying",
    "stain-resistant",
    "scratch-resistant",
    "shatterproof",
    "unbreakable",
    "ergonomic",
    "absorbent",
    "windproof",
    "uv",
    "spf",
    "touchscreen",
    "machine washable",
    "washable",
    "easy to clean",
    "indoor",
    "outdoor",
    "all sizes",
    "range of sizes",
    "variety of sizes",
    "international",
    "professional",
    "clinically",
    "dermatologist",
    "tested",
)
# Any claim term as a whole word (a space in a term matches any whitespace): group 1, or an
# empty group 1 for a run of word characters and hyphens that starts none, skipped whole
# (no term can start inside one). The terms as a trie, longer first: matching as the flat
# list longest first did (the same matches, tests/reviewq/gating/test_claims.py), 3x cheaper.
_CLAIM_RE = re.compile(
    rf"(?<![\w-])(?:({alternation_pattern(CLAIM_TERMS, whitespace_required=True)})(?![\w-])|[\w-]++)", re.I
)
_WORD_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_CLAIM_FIRST = first_words(CLAIM_TERMS)
STEM = 5
# Function words and stock marketing words: neither is a claim about this product.
COMMON_WORDS = frozenset(
    [
        "about",
        "above",
        "after",
        "again",
        "against",
        "also",
        "although",
        "always",
        "among",
        "another",
        "anyone",
        "anything",
        "around",
        "away",
        "back",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "bring",
        "brings",
        "built",
        "came",
        "come",
        "comes",
        "could",
        "daily",
        "designed",
        "does",
        "doing",
        "done",
        "down",
        "during",
        "each",
        "easily",
        "easy",
        "either",
        "else",
        "enough",
        "ensure",
        "ensures",
        "ensuring",
        "even",
        "ever",
        "every",
        "everyday",
        "everything",
        "excellent",
        "exceptional",
        "experience",
        "experiences",
        "extra",
        "fantastic",
        "feature",
        "features",
        "featuring",
        "feel",
        "feels",
        "find",
        "first",
        "from",
        "full",
        "further",
        "give",
        "gives",
        "giving",
        "good",
        "great",
        "have",
        "having",
        "help",
        "helps",
        "here",
        "high",
        "highly",
        "ideal",
        "into",
        "itself",
        "just",
        "keep",
        "keeps",
        "know",
        "last",
        "like",
        "little",
        "long",
        "look",
        "looking",
        "looks",
        "made",
        "make",
        "makes",
        "making",
        "many",
        "more",
        "most",
        "much",
        "must",
        "need",
        "needs",
        "never",
        "only",
        "other",
        "others",
        "over",
        "own",
        "perfect",
        "perfectly",
        "plus",
        "premium",
        "provide",
        "provides",
        "providing",
        "quality",
        "quite",
        "rather",
        "really",
        "right",
        "same",
        "should",
        "simple",
        "since",
        "some",
        "something",
        "stay",
        "still",
        "such",
        "sure",
        "take",
        "takes",
        "than",
        "that",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "thing",
        "things",
        "this",
        "those",
        "though",
        "through",
        "time",
        "times",
        "today",
        "together",
        "truly",
        "under",
        "unique",
        "until",
        "upon",
        "used",
        "user",
        "users",
        "uses",
        "using",
        "very",
        "want",
        "well",
        "were",
        "what",
        "when",
        "where",
        "whether",
        "which",
        "while",
        "will",
        "with",
        "within",
        "without",
        "would",
        "year",
        "years",
        "your",
        "yours",
        "yourself",
        "stylish",
        "sleek",
        "modern",
        "classic",
        "versatile",
        "durable",
        "comfortable",
        "convenient",
        "reliable",
        "practical",
        "functional",
        "elegant",
        "beautiful",
        "luxurious",
        "amazing",
        "wonderful",
        "lovely",
        "nice",
        "best",
        "better",
        "choice",
        "addition",
        "option",
        "enjoy",
        "enjoying",
        "allows",
        "allow",
        "allowing",
        "offers",
        "offer",
        "offering",
        "product",
        "products",
        "design",
        "item",
        "items",
        "great",
        "ultimate",
        "essential",
        "perfect",
        "everyday",
        "lasting",
        "long-lasting",
        "people",
        "anyone",
        "someone",
        "whole",
    ]
)


@dataclass(frozen=True, slots=True)
class ClaimFacts:
    """What claims.py reads of the facts; build once per product (`claim_facts`)."""

    text: str  # all keys, values and the name, lower case
    stems: frozenset[str]
    numbers: frozenset[float]
    key_words: Mapping[str, frozenset[str]]  # attribute key -> stems of its key's words
    value_keys: Mapping[str, frozenset[str]]  # lower-case short text value -> keys stating it
    key_of_stem: Mapping[str, frozenset[str]]  # a key word's stem -> the keys holding it
    values: tuple[str, ...]  # value_keys' values, longest first


def stated_values(lowered: str, values: Sequence[str]) -> list[tuple[int, int, str]]:
    """(start, end, value) of each of `values` in `lowered` as a whole word, scanning left to
    right without overlaps and, at one position, taking the first of `values` that fits: what
    re.finditer of (?<!\\w)(?:v1|v2|...)(?!\\w) finds, without compiling a pattern per product
    (~0.1-1 ms each; test_claims checks both agree)."""
    found = []
    for rank, value in enumerate(values):
        at = lowered.find(value)
        while at >= 0:
            end = at + len(value)
            if (at == 0 or not is_word_char(lowered[at - 1])) and (
                end == len(lowered) or not is_word_char(lowered[end])
            ):
                found.append((at, rank, end))
            at = lowered.find(value, at + 1)
    if not found:
        return []
    found.sort()
    matches, resume = [], 0
    for at, rank, end in found:
        if at >= resume:  # the first value (by rank) at the leftmost free position
            matches.append((at, end, values[rank]))
            resume = end
    return matches


def word_stems(text: str) -> set[str]:
    """Stems (first STEM letters, lower case) of the words of 3+ letters."""
    return {w.lower()[:STEM] for w in _WORD_RE.findall(text) if len(w) >= 3}


@functools.lru_cache(maxsize=8192)
def _stems_of(text: str) -> frozenset[str]:
    """word_stems of an attribute key, value or name, read once per process (catalogs repeat them)."""
    return frozenset(word_stems(text))


def content_words(text: str) -> list[str]:
    """Content words, lower case, in order: 4+ letters, not function or stock marketing words."""
    return [w.lower() for w in _WORD_RE.findall(text) if len(w) >= 4 and w.lower() not in COMMON_WORDS]


def _flat(value: Any) -> Iterable[str]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _flat(item)
    elif isinstance(value, (list, tuple, set)):
        for item in value:
            yield from _flat(item)
    elif value is not None and not isinstance(value, bool):
        yield str(value)


_VALUE_SEPARATORS = re.compile(r"[,;()]")


@functools.lru_cache(maxsize=8192)
def _value_pieces(text: str) -> tuple[str, ...]:
    """The short text values one attribute value states, lower case, in order."""
    pieces = []
    for piece in _VALUE_SEPARATORS.split(text):
        piece = piece.strip().lower()
        if piece and len(piece.split()) <= 3 and _WORD_RE.search(piece) and not piece.isdigit():
            pieces.append(piece)
    return tuple(pieces)


def claim_facts(*, attributes: Mapping[str, Any] | None, product_name: str, numbers: Iterable[float]) -> ClaimFacts:
    """`numbers`: ProductFacts.numbers (the grounding module's reading of every number)."""
    parts = [product_name]
    key_words: dict[str, frozenset[str]] = {}
    value_keys: dict[str, set[str]] = {}
    for key, value in (attributes or {}).items():
        key = str(key)
        values = list(_flat(value))
        parts += [key, *values]
        key_words[key] = _stems_of(key)
        for text in values:
            for piece in _value_pieces(text):
                value_keys.setdefault(piece, set()).add(key)
    lowered = [part.lower() for part in parts]
    key_of_stem: dict[str, set[str]] = {}
    for key, stems in key_words.items():
        for stem in stems:
            key_of_stem.setdefault(stem, set()).add(key)
    return ClaimFacts(
        text="\n".join(lowered),
        # the stems of the joined text: no word runs across the line breaks joining the parts
        stems=frozenset().union(*map(_stems_of, lowered)),
        numbers=frozenset(numbers),
        key_words=key_words,
        value_keys={value: frozenset(keys) for value, keys in value_keys.items()},
        key_of_stem={stem: frozenset(keys) for stem, keys in key_of_stem.items()},
        values=tuple(sorted(value_keys, key=len, reverse=True)),
    )


def _traced(term: str, facts: ClaimFacts) -> bool:
    lowered = " ".join(term.lower().split())
    if lowered in facts.text:
        return True
    stems = word_stems(lowered)
    return bool(stems) and stems <= facts.stems


def untraced_claims(text: str, words: Iterable[Word], facts: ClaimFacts) -> list[str]:
    """Claim terms and plain numbers of the sentence the facts do not contain."""
    terms = _CLAIM_RE.findall(text) if may_hold(text, _CLAIM_FIRST) else ()
    found = [term for term in terms if term and not _traced(term, facts)]
    for word in words:
        if word.kind == "number" and word.number is not None and round(word.number, 6) not in facts.numbers:
            found.append(word.text)
    return found


def novel_share(text: str, facts: ClaimFacts) -> float | None:
    """Share of content words whose stem the facts never use; None without content words."""
    content = content_words(text)
    if not content:
        return None
    return sum(1 for w in content if w[:STEM] not in facts.stems) / len(content)


WINDOW = 4  # words either side of a stated value searched for an attribute's key word


def swapped_values(
    text: str, words: Iterable[Word], facts: ClaimFacts, quantity_keys: Callable[[Quantity], Iterable[str]]
) -> list[str]:
    """Values stated next to another attribute's key word (see the module docstring).
    `quantity_keys(quantity)` gives the attribute keys whose value equals a quantity."""
    tokens = [(m.start(), m.group().lower()[:STEM]) for m in _WORD_RE.finditer(text)]
    key_of_stem = facts.key_of_stem
    if not any(stem in key_of_stem for _, stem in tokens):
        return []  # no attribute's key word in the sentence: nothing can be swapped
    stated: list[tuple[int, int, str, frozenset[str]]] = []
    for word in words:
        word_keys: set[str] = set()
        for quantity in word.quantities:
            word_keys |= set(quantity_keys(quantity))
        if word_keys:
            stated.append((word.start, word.end, word.text, frozenset(word_keys)))
    if facts.values:
        for start, end, value in stated_values(text.lower(), facts.values):
            stated.append((start, end, text[start:end], facts.value_keys[value]))
    swapped = []
    for start, end, shown, keys in stated:
        own = set().union(*(facts.key_words.get(k, frozenset()) for k in keys))
        value_stems = word_stems(shown)
        before = [t for t in tokens if t[0] < start][-WINDOW:]
        after = [t for t in tokens if t[0] >= end][:WINDOW]
        by_distance = sorted(
            [(len(before) - i, stem) for i, (_, stem) in enumerate(before)]
            + [(i + 1, stem) for i, (_, stem) in enumerate(after)]
        )
        for _, stem in by_distance:
            if stem in value_stems or stem not in key_of_stem:
                continue
            if stem not in own and not key_of_stem[stem] & keys:
                swapped.append(shown)
            break
    return swapped


def quantity_keys_of(facts_quantities: Mapping[str, list[Any]]) -> Callable[[Quantity], frozenset[str]]:
    """quantity -> keys of the grounding facts (ProductFacts.quantities) stating that value."""

    def keys(quantity: Quantity) -> frozenset[str]:
        return frozenset(
            fact.key for fact in facts_quantities.get(dimension_of(quantity), []) if same_value(quantity, fact.quantity)
        )

    return keys

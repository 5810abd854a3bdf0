"""Critical words: the parts of a sentence where a wrong token is a wrong fact.

Numbers, measurements ("24 h", "30 x 20 x 10 cm"), prices, percentages, model codes ("XR-200"),
brand-like names (capitalised mid-sentence, camelCase, ALL CAPS), URLs and e-mail addresses.
Detection works on characters, so a word the tokenizer split ("2", "4", " h") is one word;
signals.py maps each word back to the tokens that overlap it.
"""

import re
from typing import NamedTuple

from reviewq.gating.units import (
    ATTACHED_UNITS,
    CURRENCY_AFTER,
    CURRENCY_BEFORE,
    NUMBER,
    UNIT,
    Quantity,
    make_price,
    parse_measurement,
    parse_number,
)

_UPPER = "A-ZÀ-ÖØ-Þ"
_LOWER = "a-zß-öø-ÿ"
_SEP = r"[ \u00a0\u202f]?"
_SIGNED = rf"(?:(?<![\w.,])[-−])?{NUMBER}"
_TIMES = rf"{_SEP}[x×X*]{_SEP}"
_RANGE = rf"(?:{_SEP}[-–]{_SEP}|\s+to\s+)"
_UNIT_SEP = r"(?:[ \u00a0\u202f]?-?[ \u00a0\u202f]?)"
_ATTACHED = "[" + "".join(ATTACHED_UNITS) + "]"

# Alternatives in priority order: at one position the first that matches wins, and a matched
# span is never re-scanned, so "XR-200" is a code, not the number 200.
# The lookahead skips, in one possessive scan, words that cannot start any alternative (most
# lower-case words); EMAIL_* parts are left out when the text has no "@".
_EMAIL_START = r"|[\w.+-]++@"
_EMAIL = r"| (?P<email>[\w.+-]++@[\w-]+(?:\.[\w-]+)+)"
_WORD_PATTERN = rf"""
(?<![^\W_])
(?=[-−]?[\d$€£¥{_UPPER}]|[{_LOWER}]++[{_UPPER}\d/-]|https?:|www\.EMAIL_START)
(?:
  (?P<url>(?:https?://|www\.)[^\s<>"'()]+)
EMAIL
| (?P<price>{CURRENCY_BEFORE}{_SEP}{NUMBER}|{NUMBER}{_SEP}{CURRENCY_AFTER})
| (?P<measurement>
     {_SIGNED}(?:{_UNIT_SEP}{UNIT})?(?:{_TIMES}{NUMBER}(?:{_UNIT_SEP}{UNIT})?){{1,2}}{_UNIT_SEP}{UNIT}
    |{_SIGNED}{_RANGE}{_SIGNED}{_UNIT_SEP}{UNIT}
    |{_SIGNED}{_UNIT_SEP}{UNIT}
    |{NUMBER}{_ATTACHED}(?!\w))
| (?P<ordinal>\d+(?:st|nd|rd|th)(?![^\W_]))
| (?P<code>(?:SPF|UPF){_SEP}\d+
    |[A-Za-z]++[-/]?\d+(?:\.\d+)*[\w-]*(?<!-)
    |\d+[A-Za-z][\w-]*(?<!-))
| (?P<number>{NUMBER})
| (?P<camel>[{_UPPER}{_LOWER}]*[{_LOWER}][{_UPPER}][\w'’-]*(?<![-'’]))
| (?P<caps>[{_UPPER}]{{2,}}(?:[-&][{_UPPER}\d]+)*(?![^\W_]))
| (?P<capitalised>[{_UPPER}][{_LOWER}]+(?:[-'’][{_UPPER}{_LOWER}]+)*(?![^\W_]))
)
"""
WORD_RE = re.compile(_WORD_PATTERN.replace("EMAIL_START", _EMAIL_START).replace("EMAIL", _EMAIL), re.VERBOSE)
_WORD_RE_NO_EMAIL = re.compile(_WORD_PATTERN.replace("EMAIL_START", "").replace("EMAIL", ""), re.VERBOSE)
_TRAILING_PUNCT = ".,;:!?)]}'\"”’"
# A capitalised word after one of these (or at the start) is an ordinary sentence start.
_SENTENCE_STARTERS = set(".!?:;\n•–—-|")
_OPENERS = set(" \t\r\"'“‘(*_#>[")

KIND_LABELS = {
    "number": "number",
    "measurement": "measurement",
    "percentage": "percentage",
    "price": "price",
    "code": "model code",
    "name": "name",
    "url": "URL",
    "email": "e-mail address",
}


class Word(NamedTuple):
    start: int
    end: int
    text: str
    kind: str  # a key of KIND_LABELS
    quantities: tuple[Quantity, ...] = ()
    number: float | None = None  # the value of a plain number


def _is_sentence_start(text: str, start: int) -> bool:
    i = start - 1
    while i >= 0 and text[i] in _OPENERS:
        i -= 1
    if i < 0 or text[i] in _SENTENCE_STARTERS:
        return True
    # A numbered list item: "1. Great ..." / "2) Great ...".
    return text[i] in ".)" and i > 0 and text[i - 1].isdigit()


def _price(word_text: str) -> tuple[Quantity, ...]:
    number = re.search(NUMBER, word_text)
    if number is None:
        return ()
    currency = (word_text[: number.start()] + word_text[number.end() :]).strip(" \u00a0\u202f")
    return (make_price(parse_number(number.group()), currency),)


def find_words(text: str, *, names: bool = True) -> list[Word]:
    """Critical words of `text`, in order. `names=False` skips brand-like name detection."""
    words: list[Word] = []
    for match in (WORD_RE if "@" in text else _WORD_RE_NO_EMAIL).finditer(text):
        kind = match.lastgroup
        start, end = match.span()
        word = match.group()
        if kind in ("url", "email"):
            stripped = word.rstrip(_TRAILING_PUNCT)
            end -= len(word) - len(stripped)
            words.append(Word(start, end, stripped, kind))
        elif kind == "price":
            words.append(Word(start, end, word, "price", _price(word)))
        elif kind == "measurement":
            quantities = parse_measurement(word)
            if not quantities:
                continue
            is_percent = all(q.dimension == "percent" for q in quantities)
            words.append(Word(start, end, word, "percentage" if is_percent else "measurement", quantities))
        elif kind == "number":
            words.append(Word(start, end, word, "number", number=parse_number(word)))
        elif kind == "ordinal":
            words.append(Word(start, end, word, "number", number=float(re.match(r"\d+", word).group())))
        elif kind == "code":
            words.append(Word(start, end, word, "code"))
        elif names:
            if kind == "capitalised" and _is_sentence_start(text, start):
                continue
            words.append(Word(start, end, word, "name"))
    return words

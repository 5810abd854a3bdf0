"""Sentence splitting and token -> sentence alignment (pure: no Django, no DB).

Splitting
---------
Sentence boundaries inside a line come from pysbd 0.3.4 (rule-based, maintained Golden-Rules
splitter, gives character spans). pysbd is used as a source of *candidate* boundaries only,
because it has known quirks that we guard against here:

* its char spans are found by re-searching each sentence string in the original text, so a
  sentence it rewrote internally (reserved placeholder chars, "..", "\\r", ...) is silently
  dropped or mis-located -> a span is used only if ``text[start:end] == span.sent`` and it
  does not go backwards; spans that fail are ignored (their text joins a neighbour);
* it is super-linear on long input (a 14,500-char paragraph takes ~100 ms, "a. " * 6000
  ~5 s) -> it runs per line, and a line over ``_PYSBD_CHUNK`` chars is fed to it in chunks
  cut preferably at "word. Next" points (then any ". ", then any space); a cut is a
  candidate boundary like pysbd's own and must pass the same guards. Cost is then linear,
  about 2 us/char for prose (0.6 ms for a 3-sentence description, 16 ms for 9,000 chars);
* its English rules miss other scripts' full stops ("؟", "۔", "।", "։", "።", "။"), so a line
  holding Arabic, Devanagari, Armenian, Ethiopic or Myanmar letters is also run through
  pysbd's model for that language and the candidates are pooled;
* it keeps a quotation whole, so a paragraph written inside quote marks would be one
  "sentence" -> inside a span holding a double quote mark every stop followed by whitespace
  is a candidate boundary as well;
* it splits list markers and a few abbreviations badly ("Item a. Item b." -> "Item " |
  "a. Item ", "approx. 5 cm" -> "approx." | "5 cm", "Wait .. what" -> "Wait ." | ". ") ->
  a candidate boundary inside a line is kept only if
    - the text before it ends with sentence-final punctuation (. ! ? … 。 ！ ？ ؟ । and
      friends), optionally followed by closing quotes/brackets or emoji/symbols, and then
      whitespace (not needed after CJK full-width stops): "a.b", "?x=1", "glass.The" never
      split; emoji that pysbd left at the start of the next sentence are moved back,
    - the text before it is not a known non-final abbreviation ("e.g.", "approx.", "Dr.",
      ...; "etc.", "no.", "max.", ... only when the next piece starts lower-case or a digit),
    - both the piece before and the piece after contain a letter (so "1." / "-" / "..." /
      an emoji alone never become sentences: they join their neighbour).
  pysbd is constructed per call (``Segmenter.segment`` stores the text on the instance, so a
  shared instance is not thread-safe; construction costs under a microsecond).

Line breaks (``str.splitlines`` characters: \\n, \\r, \\v, \\f, \\x1c-\\x1e, \\x85,
\\u2028, \\u2029) are hard boundaries: every line that holds non-whitespace starts a new
sentence, so each bullet item ("- ", "* ", "• ", "1. ") or line is at least one sentence.

Whitespace rule (splitting): a sentence starts at its first non-whitespace character and runs
up to the start of the next sentence, so trailing spaces, line breaks and blank lines belong
to the sentence before them; whitespace at the very start of the text belongs to the first
sentence. Spans are therefore contiguous, cover the text exactly and none is whitespace-only.
Empty text gives no sentence; whitespace-only text gives exactly one sentence (the whole
text), so its tokens still have a sentence to belong to.

Alignment rule (tokens)
-----------------------
A token belongs to the sentence that contains its first non-whitespace character; an empty or
whitespace-only token belongs to the sentence of the token before it (the first sentence if
there is none). A token whose non-whitespace text reaches across a boundary (one token
"Hi. Yo") merges every sentence it reaches into the one it started in, and the tokens after
it continue that merged sentence. Put as one test: a token opens a new sentence iff its first
non-whitespace character lies in a later split sentence than the last non-whitespace
character of every token before it.

Sentence boundaries are then moved to token boundaries: a sentence starts where its first
token starts, so its text is exactly the concatenation of its tokens (a BPE token " The"
carries its leading space into the sentence it opens; a token ".\n" stays with the sentence
it ends). Split sentences left without a token are thereby merged into the one before them,
and sentences are numbered 0..n-1. Each sentence starts with a token holding non-whitespace,
so none is empty or whitespace-only (except the one sentence of whitespace-only text). With
no tokens (provider returned no logprobs) the split sentences are returned unchanged; tokens
that do not concatenate to the text, or tokens for an empty text, raise ValueError.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

import pysbd
import pysbd.exclamation_words
import pysbd.lang.english

__all__ = ["Alignment", "SentenceSpan", "align", "split_sentences"]

_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_LINE = re.compile(f"[^{_LINE_BREAKS}]+")
_SENTENCE_FINAL = frozenset(".!?…‼‽⁇⁈⁉。！？．｡؟۔।॥։።፧။᙮᠃᠉⸮︒﹒﹖﹗")
# Scripts written without a space after the full stop; elsewhere "x.y" is never a boundary.
_FINAL_WITHOUT_SPACE = frozenset("。！？．｡︒﹒﹖﹗")
# Closing quotes/brackets and emoji or symbols may follow the final punctuation: "Great!" 🎉
_TRAILING_CATEGORIES = frozenset({"Pe", "Pf", "So", "Sk", "Mn", "Cf"})
_TRAILING_CHARS = frozenset("\"'")
_ABBREVIATION_TAIL = re.compile(r"(?:^|[^\w.])((?:[^\W\d_]\.)*[^\W\d_]+)\.$")
# Never sentence-final in product copy: always join the next piece.
_ABBREVIATIONS_JOIN = frozenset(
    {"e.g", "i.e", "approx", "appr", "ca", "cf", "vs", "incl", "excl", "resp", "viz", "dr", "mr", "mrs", "ms", "prof"}
)
# Sometimes sentence-final: join only when the next piece starts lower-case or with a digit.
_ABBREVIATIONS_JOIN_BEFORE_LOWER = frozenset(
    {
        "etc",
        "no",
        "nr",
        "max",
        "min",
        "fig",
        "vol",
        "pp",
        "art",
        "ref",
        "esp",
        "est",
        "avg",
        "dia",
        "tel",
        "qty",
        "pcs",
        "pc",
        "wt",
        "dim",
        "sq",
        "cu",
        "oz",
        "lb",
        "lbs",
        "ft",
        "in",
        "yd",
        "mi",
        "hr",
        "hrs",
        "sec",
        "mos",
        "yr",
        "yrs",
        "st",
        "ave",
        "rd",
        "jr",
        "sr",
        "co",
        "corp",
        "inc",
        "ltd",
        "dept",
        "gen",
        "gov",
        "univ",
        "mt",
    }
)
_PYSBD_CHUNK = 1000
# Preferred chunk cuts for long lines: "word. Next", then "x. next"/"。", then any space.
_CUT_STRONG = re.compile(r"[^\W\d_]{2}[.!?]['\"”’)\]]*\s+(?=[A-Z])|[。！？](?=\S)")
_CUT_WEAK = re.compile(r"[.!?…]\S*\s+")
_SPACE = re.compile(r"\s+")
# pysbd keeps a quotation as one sentence, so a paragraph that opens with a quote mark (and
# closes it at its end, or never) comes back whole: inside a span holding a double quote mark,
# every "stop + whitespace" is a candidate boundary too (the usual guards still apply).
_QUOTE_MARKS = frozenset('"“”«»„')
_STOP_THEN_SPACE = re.compile(r"[.!?…][\"'”’)\]]*\s+")
_NON_SPACE = re.compile(r"\S")
# pysbd's English rules miss the sentence punctuation of these scripts ("؟", "।", "։", ...):
# a line holding their letters is also split with pysbd's model for that language.
_SCRIPT_LANGUAGES = (
    (re.compile("[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]"), "ar"),
    (re.compile("[\u0900-\u097f]"), "hi"),
    (re.compile("[\u0530-\u058f]"), "hy"),
    (re.compile("[\u1200-\u137f]"), "am"),
    (re.compile("[\u1000-\u109f]"), "my"),
)
_URDU_FULL_STOP = "\u06d4"
# The plain lines that skip pysbd (_plain_line_starts): Latin letters, ASCII digits and
# punctuation, emoji (no joiners or variation selectors).
_LATIN = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f"
_PLAIN_CHARS = re.compile(f"[{_LATIN}0-9 ,;:%&/+'.!?\\-\u2600-\u27bf\U0001f300-\U0001faff]+")
_NOT_PLAIN = re.compile(f"  |(?<![{_LATIN}])'|'(?![{_LATIN}])|(?<![{_LATIN}0-9])-|-(?![{_LATIN}0-9])|[.!?][.!?]")
_PLAIN_STOP = re.compile(r"[.!?]")
_PLAIN_WORD_BEFORE = re.compile(f"(?<![{_LATIN}0-9'-])((?:[{_LATIN}0-9]+-)*)([{_LATIN}]+)$")
_PLAIN_NEXT = re.compile(r" [A-Z]")
# pysbd's alphabetical and roman-numeral list items: a lone lower-case letter before a period.
# One on a line is never taken for a list ("1.7 l. It"); with two or more the line goes to pysbd.
_PLAIN_LIST_LETTER = re.compile(r"(?<!\S)[a-z](?=\.)")
_PYSBD_NON_FINAL = frozenset(
    word.lower()
    for word in (
        *pysbd.lang.english.English.Abbreviation.ABBREVIATIONS,
        *pysbd.lang.english.English.Abbreviation.PREPOSITIVE_ABBREVIATIONS,
        *pysbd.lang.english.English.Abbreviation.NUMBER_ABBREVIATIONS,
        *(w.strip("!") for w in pysbd.exclamation_words.ExclamationWords.EXCLAMATION_WORDS),
    )
)


@dataclass(frozen=True, slots=True)
class SentenceSpan:
    index: int
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Alignment:
    sentences: list[SentenceSpan]
    token_sentence: list[int]
    token_start: list[int]


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Contiguous (start, end) spans covering `text` exactly, one per sentence."""
    if not text:
        return []
    starts: list[int] = []
    for line in _LINE.finditer(text):
        body = line.group()
        stripped = body.strip()
        if not stripped:
            continue
        first = line.start() + len(body) - len(body.lstrip())
        starts.extend(_line_sentence_starts(text, first, first + len(stripped)))
    if not starts:
        return [(0, len(text))]
    starts[0] = 0
    ends = [*starts[1:], len(text)]
    return list(zip(starts, ends, strict=True))


def align(text: str, token_texts: Sequence[str]) -> Alignment:
    """Split `text` into sentences and assign every token to exactly one of them.

    With no tokens (the provider returned no logprobs) the sentences come from the text alone.
    """
    spans = split_sentences(text)
    if not token_texts:
        sentences = [SentenceSpan(i, s, e, text[s:e]) for i, (s, e) in enumerate(spans)]
        return Alignment(sentences=sentences, token_sentence=[], token_start=[])
    _check_tokens(text, token_texts)
    if not text:
        raise ValueError(
            f"cannot align {len(token_texts)} empty token(s) to an empty text: "
            "an empty completion has no sentence to hold them"
        )

    split_starts = [s for s, _ in spans]
    token_start: list[int] = []
    token_sentence: list[int] = []
    sentence_starts: list[int] = []
    pos = 0
    reached_split = -1  # split sentence of the last non-whitespace char seen so far
    for token in token_texts:
        token_start.append(pos)
        content = token.strip()
        if content:
            first_char = pos + len(token) - len(token.lstrip())
            if bisect_right(split_starts, first_char) - 1 > reached_split:
                sentence_starts.append(pos)
            # Split sentences this token reaches into merge into the one it started in.
            reached_split = bisect_right(split_starts, first_char + len(content) - 1) - 1
        elif reached_split == -1:
            # Leading empty/whitespace tokens belong to the first sentence.
            sentence_starts.append(pos)
            reached_split = 0
        token_sentence.append(len(sentence_starts) - 1)
        pos += len(token)

    sentence_starts[0] = 0
    sentence_ends = [*sentence_starts[1:], len(text)]
    sentences = [
        SentenceSpan(i, s, e, text[s:e]) for i, (s, e) in enumerate(zip(sentence_starts, sentence_ends, strict=True))
    ]
    return Alignment(sentences=sentences, token_sentence=token_sentence, token_start=token_start)


def _check_tokens(text: str, token_texts: Sequence[str]) -> None:
    joined = "".join(token_texts)
    if joined == text:
        return
    at = next((i for i, (a, b) in enumerate(zip(joined, text, strict=False)) if a != b), min(len(joined), len(text)))
    raise ValueError(
        f"token texts do not concatenate to the completion text: they give {len(joined)} chars "
        f"for a {len(text)}-char text and differ from char {at} "
        f"(tokens {joined[at : at + 20]!r}, text {text[at : at + 20]!r})"
    )


def _line_sentence_starts(text: str, first: int, last: int) -> list[int]:
    """Sentence starts within one line's non-whitespace extent text[first:last]."""
    candidates: list[int] = []
    if _may_split(text, first, last):
        plain = _plain_line_starts(text, first, last)
        if plain is not None:
            candidates = plain
        else:
            languages = _pysbd_languages(text[first:last])
            for chunk_start, chunk_end in _chunks(text, first, last):
                if chunk_start != first:
                    candidates.append(chunk_start)
                for language in languages:
                    candidates.extend(_pysbd_starts(text, chunk_start, chunk_end, language))
    # A sentence starts on its first non-whitespace char.
    starts = {_skip_space(text, c) for c in candidates}
    candidates = sorted(c for c in starts if first < c < last)
    candidates.append(last)

    kept = [first]
    piece_start = first
    sentence_has_letter = False
    for boundary, next_boundary in itertools.pairwise(candidates):
        sentence_has_letter = sentence_has_letter or _has_letter(text, piece_start, boundary)
        piece_start = boundary
        if (
            sentence_has_letter
            and _has_letter(text, boundary, next_boundary)
            and _ends_sentence(text, kept[-1], boundary, text[boundary:next_boundary])
        ):
            kept.append(_after_trailing_symbols(text, boundary, next_boundary))
            sentence_has_letter = False
            piece_start = kept[-1]
    return kept


def _plain_line_starts(text: str, first: int, last: int) -> list[int] | None:
    """pysbd's candidate boundaries for a plain line, without running pysbd; None unless the
    line is plain: Latin words, digits and decimals, inner hyphens and apostrophes, commas and
    the like, emoji, single spaces, and every stop (. ! ?) but the line's last char ending a
    word of two or more letters (lower-case or capitalised, not one of pysbd's abbreviations
    or exclamation words) or a lone lower-case letter (a unit: "1.7 l.", the line's only one),
    and followed by one space and a capital; a lone capital's period ("2200 W. It") is no stop. pysbd splits such a line after every
    stop and nowhere else (a property test compares the two on generated lines), and that is
    most product copy: pysbd costs ~0.3 ms a line, this a few microseconds."""
    line = text[first:last]
    if len(line) > _PYSBD_CHUNK or not _PLAIN_CHARS.fullmatch(line) or _NOT_PLAIN.search(line):
        return None
    starts = []
    list_letters = None
    for stop in _PLAIN_STOP.finditer(line, 0, len(line) - 1):  # the line's last char splits nothing
        at = stop.start()
        if line[at] == "." and at > 0 and line[at - 1].isdigit() and line[at + 1].isdigit():
            continue  # a decimal point
        word = _PLAIN_WORD_BEFORE.search(line, 0, at)
        if word is None or not _PLAIN_NEXT.match(line, at + 1):
            return None
        tail = word.group(2)
        if len(tail) == 1:
            # A unit after a number, a lone letter after a space: pysbd splits after "1.7 l." (the
            # line's only lower-case one: two may be a list, "a. ... b."), not after "2200 W."
            # (an initial to it; "I." and the abbreviations "p."/"v." go by other rules).
            if line[at - 2 : at - 1] != " " or tail.lower() in _PYSBD_NON_FINAL or tail == "I":
                return None
            if "A" <= tail <= "Z" and line[at] == "." and _PLAIN_NEXT.match(line, at + 1):
                continue
            if not "a" <= tail <= "z":
                return None
            if list_letters is None:
                list_letters = len(_PLAIN_LIST_LETTER.findall(line))
            if list_letters != 1:
                return None
        elif not (tail.islower() or tail.istitle()):
            return None
        if not _PYSBD_NON_FINAL.isdisjoint((word.group().lower(), tail.lower())):
            return None
        starts.append(first + at + 2)
    return starts


def _pysbd_languages(line: str) -> list[str]:
    languages = ["en"]
    for pattern, language in _SCRIPT_LANGUAGES:
        if pattern.search(line):
            languages.append("ur" if language == "ar" and _URDU_FULL_STOP in line else language)
    return languages


def _after_trailing_symbols(text: str, boundary: int, next_boundary: int) -> int:
    """Move a boundary past emoji/closing marks that pysbd left at the next sentence's start."""
    index = boundary
    while index < next_boundary and _is_trailing_mark(text[index]):
        index += 1
    if index in (boundary, next_boundary) or not text[index].isspace():
        return boundary
    moved = _skip_space(text, index)
    return moved if _has_letter(text, moved, next_boundary) else boundary


def _may_split(text: str, first: int, last: int) -> bool:
    # Without final punctuation before the last char no boundary can pass _ends_sentence.
    return any(ch in _SENTENCE_FINAL for ch in text[first : last - 1])


def _chunks(text: str, first: int, last: int) -> list[tuple[int, int]]:
    chunks = []
    start = first
    while last - start > _PYSBD_CHUNK:
        cut = _chunk_cut(text, start, last)
        chunks.append((start, cut))
        start = cut
    chunks.append((start, last))
    return chunks


def _chunk_cut(text: str, start: int, last: int) -> int:
    """A cut in (start + CHUNK/2, start + CHUNK] landing on a non-space char, best kind first."""
    low, high = start + _PYSBD_CHUNK // 2, start + _PYSBD_CHUNK
    for pattern in (_CUT_STRONG, _CUT_WEAK, _SPACE):
        cut = None
        for match in pattern.finditer(text, low, high):
            cut = match.end()
        if cut is not None and low < cut <= high and cut < last:
            return cut
    return high


def _pysbd_starts(text: str, chunk_start: int, chunk_end: int, language: str) -> list[int]:
    chunk = text[chunk_start:chunk_end]
    segmenter = pysbd.Segmenter(language=language, clean=False, char_span=True)
    starts: list[int] = []
    floor = 0
    for span in segmenter.segment(chunk):
        start, end = span.start, span.end
        if start < floor or chunk[start:end] != span.sent:
            continue  # pysbd mis-located or rewrote this sentence: trust nothing from it
        floor = end
        # Both ends mark a boundary (the next span may be the one that failed the check).
        starts += (chunk_start + start, chunk_start + end)
        if not _QUOTE_MARKS.isdisjoint(span.sent):
            starts += (chunk_start + m.end() for m in _STOP_THEN_SPACE.finditer(chunk, start, end))
    return starts


def _skip_space(text: str, index: int) -> int:
    match = _NON_SPACE.search(text, index)
    return match.start() if match else len(text)


def _has_letter(text: str, start: int, end: int) -> bool:
    return any(ch.isalpha() for ch in text[start:end])


def _ends_sentence(text: str, start: int, end: int, after: str) -> bool:
    """Whether text[start:end] can end a sentence that `after` follows."""
    # Looking at a bounded tail keeps long unsplittable runs linear.
    tail = text[max(start, end - 80) : end].rstrip()
    if not tail:
        tail = text[start:end].rstrip()
    final = _final_punctuation(tail)
    if final is None:
        return False
    if not text[end - 1].isspace() and final not in _FINAL_WITHOUT_SPACE:
        return False  # "a.b", "?x=1", "glass.This": no space after the stop
    abbreviation = _ABBREVIATION_TAIL.search(tail)
    if abbreviation:
        word = abbreviation.group(1).lower()
        if word in _ABBREVIATIONS_JOIN:
            return False
        first = after.lstrip()[:1]
        if word in _ABBREVIATIONS_JOIN_BEFORE_LOWER and (first.islower() or first.isdigit()):
            return False
    return True


def _final_punctuation(piece: str) -> str | None:
    for ch in reversed(piece):
        if ch in _SENTENCE_FINAL:
            return ch
        if not _is_trailing_mark(ch):
            return None
    return None


def _is_trailing_mark(ch: str) -> bool:
    return ch in _TRAILING_CHARS or unicodedata.category(ch) in _TRAILING_CATEGORIES

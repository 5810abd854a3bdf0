"""Is the sentence usable copy at all? Meta text, prompt echoes, cut-off, repeated and garbled text.

These need no logprobs: they read the text (and, for repetition, the earlier sentences).
"""

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any

from reviewq.gating.vocabulary import may_hold

# At the start of the sentence: "Title:", "**Description:**", "## Features", "Sure!".
_META_START_RE = re.compile(
    r"""
    [\s*#>"'_\-–•]*(?:product\s+|seo\s+|meta\s+|short\s+|long\s+)?
        (?:title|description|name|tagline|headline|summary|output|answer|response)\s*[*_]*\s*:
    | \s*\#{1,6}\s
    | [\s*"'“]*(?:sure|certainly|absolutely|of\s+course|okay|ok)\s*[!,.:]
    """,
    re.I | re.X,
)
# Anywhere; the lookahead lets the engine skip most positions on their first character.
_META_ANYWHERE_RE = re.compile(
    r"""
    (?=[hailfwt(<\[])(?:
      \bhere(?:'s|’s|\s+is|\s+are)\s+(?:a|an|the|your|some|my)\s+(?:[\w-]+\s+){0,4}?
        (?:descriptions?|copy|text|versions?|drafts?|rewrites?|summary|paragraphs?|listing)\b
    | \bas\s+an\s+ai\b | \b(?:ai|large)\s+language\s+model\b
    | \bi\s+(?:hope\s+this|can(?:not|'t|’t)|am\s+unable|apologi[sz]e)\b | \bi['’]m\s+sorry\b
    | \blet\s+me\s+know\b | \bfeel\s+free\s+to\s+(?:ask|adjust|modify|edit|let)\b
    | \bword\s+count\b | \(\s*\d+\s+words?\s*\)
    | \b(?:this|the)\s+description\s+(?:highlights|emphasi[sz]es)\b
    | <\|?/?(?:im_start|im_end|s|eos|endoftext|assistant|user)\|?> | \[/?INST\]
    )""",
    re.I | re.X,
)
_TERMINAL_RE = re.compile(r"[.!?…。！？][\"'”’)\]*_]*\s*$")
_WORDS_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")
_FILLER_REPEATS = frozenset({"very", "so", "that", "had", "really", "much", "bye", "ha"})
# Characters that are neither letters, digits, whitespace nor ordinary copy punctuation.
_ORDINARY = set(".,;:!?'\"()[]-–—/&%€$£¥°+×*’‘“”…#@_~=<>|•·®™©")
_OTHER_RE = re.compile("[^\\w\\s" + re.escape("".join(sorted(_ORDINARY))) + "]")
_BROKEN_RE = re.compile(
    r"\ufffd|Ã[\x80-\xbf]|â€|Ġ|▁|<0x[0-9A-F]{2}>"  # replacement char, mojibake, tokenizer artefacts
    r"|(?:\b[^\W\d_]\s){4,}\b[^\W\d_]\b"  # s p a c e d letters
    r"|([^\W\d_])\1{3,}"  # aaaa
    r"|[!?.,;:]{4,}"
    r"|(?<![^\W\d_])[^\W\d_]{31,}",  # an absurdly long "word"
)


# Every match of _META_ANYWHERE_RE holds one of these words (as a whole word) or "<" or "[".
_META_WORDS = frozenset({"here", "ai", "language", "i", "let", "feel", "word", "words", "description"})


def has_meta(text: str) -> bool:
    """Meta text about the task rather than about the product ("Title:", "Sure!", "As an AI")."""
    if _META_START_RE.match(text) is not None:
        return True
    if "<" not in text and "[" not in text and not may_hold(text, _META_WORDS):
        return False  # what the regex below would say, without its scan
    return _META_ANYWHERE_RE.search(text) is not None


def is_cut_off(text: str, *, is_last: bool, truncated: bool) -> bool:
    """The last sentence of a description cut by the length limit, or one with no end mark."""
    if not is_last or not text.strip():
        return False
    return truncated or _TERMINAL_RE.search(text) is None


def _words(text: str) -> list[str]:
    return _WORDS_RE.findall(text.lower())


@functools.lru_cache(maxsize=2048)
def _reading(text: str) -> tuple[tuple[str, ...], frozenset]:
    """Words and trigrams of a sentence, read once: repetition and prompt_echo read the
    sentence, and repetition reads it again as an earlier sentence of every later one."""
    words = _words(text)
    return tuple(words), frozenset(_trigrams(words))


def _trigrams(words: Sequence[str]) -> list[tuple[str, str, str]]:
    return list(zip(words, words[1:], words[2:], strict=False))  # n-2 trigrams: the shorter slices end it


def repetition(text: str, previous: Sequence[str] = ()) -> str | None:
    """Why the sentence is repeated text, or None: it restates an earlier sentence, repeats
    a phrase right after itself, or holds the same three-word sequence twice."""
    words, own = _reading(text)
    if not words:
        return None
    n_trigrams = len(words) - 2  # with duplicates; own holds the distinct ones
    for earlier in previous:
        earlier_words, earlier_trigrams = _reading(earlier)
        if len(words) >= 2 and earlier_words == words:
            return "repeats an earlier sentence"
        if n_trigrams >= 3 and earlier_trigrams and len(own & earlier_trigrams) / len(own) >= 0.7:
            return "repeats an earlier sentence"
    if len(own) < n_trigrams:
        return "repeats a phrase within the sentence"
    for n in (1, 2, 3, 4):
        for i in range(len(words) - 2 * n + 1):
            # the first word's test alone rules out almost every position without slicing
            if words[i] == words[i + n] and words[i : i + n] == words[i + n : i + 2 * n]:
                if n == 1 and (len(words[i]) < 3 or words[i] in _FILLER_REPEATS or words[i].isdigit()):
                    continue
                return f"repeats '{' '.join(words[i : i + n])}'"
    return None


ECHO_WORDS = 6  # a run of this many words shared with the prompt's instructions is an echo


@functools.lru_cache(maxsize=8192)
def _fact_text_words(text: str) -> frozenset[str]:
    """The words of an attribute value, key list or name, read once per process."""
    return frozenset(_words(text))


def _fact_words(attributes: Mapping[str, Any], product_name: str) -> set[str]:
    words = set(_fact_text_words(product_name))
    stack: list[Any] = [attributes]
    while stack:
        value = stack.pop()
        if isinstance(value, Mapping):
            words.update(_fact_text_words(" ".join(map(str, value.keys()))))
            stack.extend(value.values())
        elif isinstance(value, (list, tuple, set)):
            stack.extend(value)
        else:
            words.update(_fact_text_words(str(value)))
    return words


def prompt_echo_runs(prompt: str, *, attributes: Mapping[str, Any], product_name: str) -> frozenset:
    """The prompt's word runs that belong to its instructions: every run of ECHO_WORDS words
    of which at most two are product facts (words of the name, attribute keys and values, any
    word with a digit, such as a SKU, and the label "sku"), so copy that names the product or
    states its facts in the prompt's order is not taken for an echo. Build once per description."""
    if not prompt:
        return frozenset()
    facts = _fact_words(attributes, product_name) | {"sku"}
    words = _words(prompt)
    # 1 for an instruction word; each word is judged once, not once per run holding it (a
    # letter is never a digit: only words with other characters are searched for one).
    judged = {w: 0 if w in facts or (not w.isalpha() and any(map(str.isdigit, w))) else 1 for w in set(words)}
    instruction = [judged[w] for w in words]
    runs = set()
    count = sum(instruction[:ECHO_WORDS])  # instruction words in the run at i, kept as i moves on
    for i in range(len(words) - ECHO_WORDS + 1):
        if i:
            count += instruction[i + ECHO_WORDS - 1] - instruction[i - 1]
        if count >= ECHO_WORDS - 2:
            runs.add(tuple(words[i : i + ECHO_WORDS]))
    return frozenset(runs)


def prompt_echo(text: str, runs: frozenset) -> str | None:
    """The first run of the prompt's instructions the sentence repeats ("never invent
    measurements materials or numbers"), or None."""
    if not runs:
        return None
    words = _reading(text)[0]
    for i in range(len(words) - ECHO_WORDS + 1):
        run = tuple(words[i : i + ECHO_WORDS])
        if run in runs:
            return " ".join(run)
    return None


# Necessary conditions of a _BROKEN_RE match, cheap to test (Unicode letter classes are what
# make that regex cost ~15 µs a sentence): an artefact or a punctuation run; any character
# four times in a row (aaaa); three one-character words between spaces (spaced letters);
# 31 characters without a space (an absurdly long word).
_BROKEN_QUICK_RE = re.compile(r"\ufffd|Ã[\x80-\xbf]|â€|Ġ|▁|<0x[0-9A-F]{2}>|[!?.,;:]{4}")
_FOUR_IN_A_ROW_RE = re.compile(r"(.)\1\1\1", re.S)
_SPACED_RE = re.compile(r"\s\S\s\S\s\S\s")


def _may_be_broken(text: str, parts: list[str]) -> bool:
    """False only where _BROKEN_RE cannot match (`parts`: text.split(), not empty)."""
    return (
        _BROKEN_QUICK_RE.search(text) is not None
        or _FOUR_IN_A_ROW_RE.search(text) is not None
        or _SPACED_RE.search(text) is not None
        or max(map(len, parts)) >= 31
    )


def garbled(text: str) -> str | None:
    """Why the sentence looks garbled (not language), or None."""
    parts = text.split()
    if not parts:
        return None
    stripped = "".join(parts)
    if _may_be_broken(text, parts) and _BROKEN_RE.search(text):
        return "broken characters or words"
    letters = sum(map(str.isalpha, stripped))
    others = len(_OTHER_RE.findall(stripped))
    non_digits = len(stripped) - sum(map(str.isdigit, stripped))
    if others / len(stripped) > 0.15 and others >= 3:
        return "unusual symbols"
    if non_digits >= 10 and letters / non_digits < 0.3:
        return "mostly non-letters"
    return None

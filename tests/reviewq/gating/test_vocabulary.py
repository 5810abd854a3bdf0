"""may_hold: the cheap word test that lets grounding and claims skip their vocabulary regexes."""

import random

import pytest

from reviewq.gating.claims import _CLAIM_FIRST, _CLAIM_RE, CLAIM_TERMS
from reviewq.gating.grounding import _COLOUR_FIRST, _COLOUR_RE, _MATERIAL_FIRST, _MATERIAL_RE
from reviewq.gating.vocabulary import COLOURS, MATERIALS, ascii_words, may_hold

CHECKS = [
    (_COLOUR_RE, _COLOUR_FIRST, sorted(COLOURS)),
    (_MATERIAL_RE, _MATERIAL_FIRST, sorted(MATERIALS)),
    (_CLAIM_RE, _CLAIM_FIRST, sorted(CLAIM_TERMS)),
]
GLUE = [" ", "  ", "\n", "-", "_", ".", ",", "x", "(", "'", "’", "é", "2", ""]


def _matches(pattern, text):
    return [m.group(1) for m in pattern.finditer(text) if m.group(1)]


@pytest.mark.parametrize(("pattern", "first", "terms"), CHECKS)
def test_may_hold_wherever_the_regex_matches(pattern, first, terms):
    rng = random.Random(16)
    matched = 0
    for _ in range(4000):
        pieces = []
        for _ in range(rng.randint(1, 4)):
            term = rng.choice(terms)
            term = rng.choice([term, term.upper(), term.title(), term.replace(" ", "\n"), term[:-1], "non" + term])
            pieces += [rng.choice(GLUE), term, rng.choice(GLUE)]
        text = "".join(pieces)
        if _matches(pattern, text):
            matched += 1
            assert may_hold(text, first), text
        elif not may_hold(text, first):
            assert ascii_words(text) is not None
    assert matched > 1000


def test_letters_re_i_matches_with_ascii_ones_make_no_shortcut():
    # "ſ" (long s) matches "s" under re.I, though lower() keeps it: only ASCII text is read by words.
    assert _matches(_COLOUR_RE, "a ſilver lid") == ["ſilver"]
    assert ascii_words("a ſilver lid") is None
    assert may_hold("a ſilver lid", _COLOUR_FIRST)
    assert not may_hold("a plain lid, BPA_free", _COLOUR_FIRST)
    assert ascii_words("Stainless-Steel, 2x_y!") == frozenset({"stainless", "steel", "2x_y"})

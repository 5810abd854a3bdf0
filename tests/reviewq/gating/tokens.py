"""Build GateTokens for a sentence the way a BPE tokenizer would split it (digits one by one)."""

import re

from reviewq.gating import GateToken

_PIECES = re.compile(r" ?[^\W\d_]+| ?\d| ?[^\w\s]|\s+|_")


def make_tokens(text, default=-0.05, overrides=None, alternatives=None):
    """`overrides` maps a token's stripped text to its logprob, or to (logprob, alternatives),
    applied to the first token with that text; other tokens get `default` and `alternatives`."""
    overrides = dict(overrides or {})
    tokens = []
    offset = 0
    for piece in _PIECES.findall(text):
        assert text.startswith(piece, offset)
        logprob, alts = default, alternatives if alternatives is not None else [(piece, default)]
        key = piece.strip()
        if key in overrides:
            value = overrides.pop(key)
            logprob, alts = value if isinstance(value, tuple) else (value, [(piece, value)])
        tokens.append(GateToken(piece, logprob, alts, offset))
        offset += len(piece)
    assert offset == len(text), "tokenizer lost characters"
    assert not overrides, f"no token for {overrides}"
    return tokens

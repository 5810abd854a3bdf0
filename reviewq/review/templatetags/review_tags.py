"""Rendering helpers for the review page. Tokens are built in Python because a template loop
over ~120 tokens with their alternatives costs more than the rest of the page; every piece of
model output is escaped (quote=True, so it is safe in text and in quoted attributes alike)."""

import json
import math
from html import escape as _escape

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from reviewq.review.detail import SentenceView

register = template.Library()

# Probability buckets, most certain first: class b0 (no highlight) .. b5 (least likely).
BUCKET_FLOORS = (0.9, 0.7, 0.5, 0.3, 0.1)
FOCUSABLE_FROM_BUCKET = 2  # tokens below 70 % are tab stops; the others are reached with arrow keys
MAX_ALTERNATIVES = 5


def probability_bucket(probability: float | None) -> str:
    if probability is None:
        return "na"
    for bucket, floor in enumerate(BUCKET_FLOORS):
        if probability >= floor:
            return str(bucket)
    return str(len(BUCKET_FLOORS))


def _percent(probability: float | None) -> str:
    if probability is None:
        return "no score"
    if probability >= 0.995:
        return ">99 %"
    if probability < 0.005:
        return "<1 %"
    return f"{probability * 100:.0f} %"


@register.filter
def percent(probability: float | None) -> str:
    return _percent(probability)


@register.simple_tag
def sentence_tokens(view: SentenceView) -> SafeString:
    """The sentence as token spans (leading/trailing whitespace outside the spans, so the
    underline marks only the word), or its plain text when it was edited by hand."""
    if not view.tokens:
        return escape(view.sentence.current_text)
    parts = []
    for token in view.tokens:
        text = token.text
        core = text.strip()
        if not core:
            parts.append(_escape(text))
            continue
        lead = text[: len(text) - len(text.lstrip())]
        trail = text[len(text.rstrip()) :]
        probability = token.probability
        bucket = probability_bucket(probability)
        alternatives = [
            [alt, None if lp is None else round(math.exp(lp), 4)] for alt, lp in token.alternatives[:MAX_ALTERNATIVES]
        ]
        focusable = bucket == "na" or int(bucket) >= FOCUSABLE_FROM_BUCKET or token.original is not None
        label = f"{core}: {_percent(probability)}"
        original = ""
        if token.original is not None:
            label += f", replaced {token.original.strip()}"
            original = f' data-orig="{_escape(token.original)}"'
        # stdlib html.escape: format_html costs three times as much per token.
        parts.append(
            f'{_escape(lead)}<span class="tok b{bucket}{" subst" if original else ""}" role="button" '
            f'aria-haspopup="dialog" aria-label="{_escape(label)}" tabindex="{"0" if focusable else "-1"}" '
            f'data-pos="{token.position}" data-p="{"" if probability is None else f"{probability:.4f}"}" '
            f'data-alts="{_escape(json.dumps(alternatives))}"{original}>'
            f"{_escape(core)}</span>{_escape(trail)}"
        )
    return mark_safe("".join(parts))


@register.filter
def band_label(band: str) -> str:
    return {"publish": "Confident", "review": "Review", "flag": "Flagged"}.get(band, band)


@register.filter
def mean_percent(mean_logprob: float | None) -> str:
    return _percent(None if mean_logprob is None else math.exp(mean_logprob))


@register.filter
def item_of(mapping: dict, key: object) -> object:
    """mapping[key], or () when absent: a per-row value a view computed for a whole page."""
    return mapping.get(key, ())

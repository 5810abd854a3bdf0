"""The review page: a description with its sentences, tokens, alternatives and reasons."""

import math
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from generation.regeneration_requests import sentence_regeneration_state
from reviewq.core.models import (
    Description,
    Product,
    Sentence,
    SentenceBand,
    SentenceDecision,
    SentenceRegeneration,
    Token,
)
from reviewq.core.selectors import published_text
from reviewq.gating.service import reason_text, sentence_reasons, substituted_logprob, thresholds_for_catalog
from reviewq.gating.verifier import SIGNAL_KEY as VERIFIER_KEY
from reviewq.review.claims import claim_live

# --- Review page -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenView:
    position: int
    text: str
    logprob: float | None
    alternatives: list[tuple[str, float | None]]  # most likely first, as stored
    original: str | None  # the generated text when a reviewer substituted this token

    @property
    def probability(self) -> float | None:
        return None if self.logprob is None else math.exp(self.logprob)


@dataclass(frozen=True, slots=True)
class SentenceView:
    sentence: Sentence
    tokens: list[TokenView]  # empty when the sentence is shown as plain text
    reasons: list[str]
    pending: bool  # review/flag band and undecided: blocks publishing
    hand_edited: bool  # edited by typing, so tokens no longer match the text
    regenerating: bool = False  # a reviewer asked for a new version; the worker has not answered
    regeneration_failed: str = ""  # why the last regeneration of this sentence failed

    @property
    def index(self) -> int:
        return self.sentence.index

    @property
    def verifier_p_true(self) -> float | None:
        """The verifier's P(True) that the facts support the generated text (GATE_VERIFIER)."""
        return (self.sentence.signals or {}).get(VERIFIER_KEY)

    @property
    def sample_count(self) -> int:
        """How many other samples of the same prompt the agreement was read against (0: one)."""
        return int((self.sentence.signals or {}).get("n_samples") or 0)

    @property
    def sample_support(self) -> float | None:
        """The share of the sentence's words and values the other samples also wrote; None with
        one candidate or nothing to check."""
        support = (self.sentence.signals or {}).get("sample_support")
        return float(support) if self.sample_count and support is not None else None


@dataclass(frozen=True, slots=True)
class ReviewDetail:
    description: Description
    sentences: list[SentenceView]
    attributes: list[tuple[str, str]]
    pending: list[int]
    claim_holder: str  # username of a live claim, "" when free
    claim_until: datetime | None
    claim_mine: bool
    published_text: str


def _attribute_value(value) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    return "" if value is None else str(value)


def product_attributes(*, product: Product) -> list[tuple[str, str]]:
    """A product's attributes as (name, value) lines for a page."""
    attributes = product.attributes or {}
    if not isinstance(attributes, dict):
        attributes = {"attributes": attributes}
    return [(str(k), _attribute_value(v)) for k, v in attributes.items()]


def sentence_substitutions(*, sentence: Sentence, tokens: list[tuple[int, str]] | None = None) -> dict[int, str]:
    """Token substitutions (position -> text) behind an edited sentence, or {} when its text
    was typed by hand. Trusted only if the tokens with those substitutions still give exactly
    the edited text. `tokens`: (position, text) in order, when the caller has them."""
    if sentence.decision != SentenceDecision.EDITED or not sentence.substitutions:
        return {}
    substitutions = {int(k): v for k, v in sentence.substitutions.items()}
    if tokens is None:
        tokens = list(sentence.tokens.order_by("position").values_list("position", "text"))
    rebuilt = "".join(substitutions.get(pos, text) for pos, text in tokens)
    return substitutions if rebuilt == sentence.edited_text else {}


def _sentence_view(
    sentence: Sentence,
    tokens: list[Token],
    *,
    thresholds,
    regeneration: SentenceRegeneration | None,
    failure: str,
) -> SentenceView:
    substitutions = sentence_substitutions(sentence=sentence, tokens=[(t.position, t.text) for t in tokens])
    hand_edited = sentence.decision == SentenceDecision.EDITED and not substitutions
    token_views = []
    if not hand_edited:
        token_views = [
            TokenView(
                position=t.position,
                text=substitutions.get(t.position, t.text),
                logprob=substituted_logprob(t.alternatives, substitutions[t.position])
                if t.position in substitutions
                else t.logprob,
                alternatives=[(str(a[0]), a[1] if len(a) > 1 else None) for a in (t.alternatives or []) if a],
                original=t.text if t.position in substitutions else None,
            )
            for t in tokens
        ]
    return SentenceView(
        sentence=sentence,
        tokens=token_views,
        reasons=[text for text in (reason_text(r) for r in sentence_reasons(sentence, thresholds)) if text],
        pending=sentence.decision == SentenceDecision.NONE and sentence.band != SentenceBand.PUBLISH,
        hand_edited=hand_edited,
        regenerating=regeneration is not None,
        regeneration_failed=failure,
    )


def review_detail(*, description_id: int, user) -> ReviewDetail:
    """Everything the review page shows, in a fixed number of queries whatever the length."""
    description = Description.objects.select_related("product__catalog", "review_claimed_by").get(pk=description_id)
    sentences = list(description.sentences.select_related("error_category").order_by("index"))
    tokens_by_sentence: dict[int, list[Token]] = {s.pk: [] for s in sentences}
    for token in (
        Token.objects.filter(description=description)
        .order_by("position")
        .only("sentence_id", "position", "text", "logprob", "alternatives")
    ):
        tokens_by_sentence.setdefault(token.sentence_id, []).append(token)
    thresholds = thresholds_for_catalog(catalog_id=description.product.catalog_id)
    regeneration = sentence_regeneration_state(description_id=description.pk)
    views = [
        _sentence_view(
            s,
            tokens_by_sentence[s.pk],
            thresholds=thresholds,
            regeneration=regeneration.open.get(s.index),
            failure=regeneration.failures.get(s.index, ""),
        )
        for s in sentences
    ]
    now = timezone.now()
    claimed = claim_live(
        claimed_by_id=description.review_claimed_by_id, claimed_until=description.review_claimed_until, now=now
    )
    return ReviewDetail(
        description=description,
        sentences=views,
        attributes=product_attributes(product=description.product),
        pending=[v.index for v in views if v.pending],
        claim_holder=description.review_claimed_by.get_username() if claimed else "",
        claim_until=description.review_claimed_until if claimed else None,
        claim_mine=claimed and description.review_claimed_by_id == user.pk,
        published_text=published_text(sentences),
    )

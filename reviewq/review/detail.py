"""The review page: a description with its sentences, tokens, alternatives and reasons."""

import math
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from generation.sentence_regeneration import sentence_regeneration_state
from reviewq.core.models import (
    AuditEvent,
    Description,
    Sentence,
    SentenceBand,
    SentenceDecision,
    Token,
)
from reviewq.gating.service import reason_text, sentence_reasons, thresholds_for_catalog

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


def sentence_substitutions(*, sentence, last_event: AuditEvent | None) -> dict[int, str]:
    """Token substitutions (position -> text) behind an edited sentence, or {} when its text
    was typed by hand. Read from the sentence's latest audit row and trusted only if the
    tokens with those substitutions still give exactly the edited text."""
    if sentence.decision != SentenceDecision.EDITED or last_event is None:
        return {}
    if last_event.action != "sentence_substituted":
        return {}
    raw = last_event.after.get("substitutions") or {}
    substitutions = {int(k): v for k, v in raw.items()}
    tokens = list(sentence.tokens.order_by("position").values_list("position", "text"))
    rebuilt = "".join(substitutions.get(pos, text) for pos, text in tokens)
    return substitutions if rebuilt == sentence.edited_text else {}


SENTENCE_TEXT_ACTIONS = (
    "sentence_approved",
    "sentence_edited",
    "sentence_substituted",
    "sentence_removed",
    "sentence_reset",
)


def _sentence_view(
    sentence: Sentence,
    tokens: list[Token],
    last_event: AuditEvent | None,
    *,
    thresholds,
    regeneration: AuditEvent | None,
    failure: str,
) -> SentenceView:
    substitutions = (
        sentence_substitutions(sentence=sentence, last_event=last_event)
        if sentence.decision == SentenceDecision.EDITED
        else {}
    )
    hand_edited = sentence.decision == SentenceDecision.EDITED and not substitutions
    token_views = []
    if not hand_edited:
        token_views = [
            TokenView(
                position=t.position,
                text=substitutions.get(t.position, t.text),
                logprob=t.logprob,
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


def _last_sentence_events(description_id: int, indexes: list[int]) -> dict[int, AuditEvent]:
    """The latest decision/edit event of each sentence (what its substitutions are read from)."""
    last: dict[int, AuditEvent] = {}
    if not indexes:
        return last
    events = AuditEvent.objects.filter(
        description_id=description_id, sentence_index__in=indexes, action__in=SENTENCE_TEXT_ACTIONS
    ).order_by("sentence_index", "-created_at", "-id")
    for event in events:
        last.setdefault(event.sentence_index, event)
    return last


def review_detail(*, description_id: int, user) -> ReviewDetail:
    """Everything the review page shows, in a fixed number of queries whatever the length."""
    description = Description.objects.select_related("product__catalog", "review_claimed_by").get(pk=description_id)
    sentences = list(description.sentences.order_by("index"))
    tokens_by_sentence: dict[int, list[Token]] = {s.pk: [] for s in sentences}
    for token in (
        Token.objects.filter(description=description)
        .order_by("position")
        .only("sentence_id", "position", "text", "logprob", "alternatives")
    ):
        tokens_by_sentence.setdefault(token.sentence_id, []).append(token)
    edited = [s.index for s in sentences if s.decision == SentenceDecision.EDITED]
    events = _last_sentence_events(description.pk, edited)
    thresholds = thresholds_for_catalog(catalog_id=description.product.catalog_id)
    regenerating, failures = sentence_regeneration_state(description.pk)
    views = [
        _sentence_view(
            s,
            tokens_by_sentence[s.pk],
            events.get(s.index),
            thresholds=thresholds,
            regeneration=regenerating.get(s.index),
            failure=failures.get(s.index, ""),
        )
        for s in sentences
    ]
    now = timezone.now()
    claimed = (
        description.review_claimed_by_id is not None
        and description.review_claimed_until is not None
        and description.review_claimed_until >= now
    )
    attributes = description.product.attributes or {}
    if not isinstance(attributes, dict):
        attributes = {"attributes": attributes}
    return ReviewDetail(
        description=description,
        sentences=views,
        attributes=[(str(k), _attribute_value(v)) for k, v in attributes.items()],
        pending=[v.index for v in views if v.pending],
        claim_holder=description.review_claimed_by.get_username() if claimed else "",
        claim_until=description.review_claimed_until if claimed else None,
        claim_mine=claimed and description.review_claimed_by_id == user.pk,
        published_text="".join(s.current_text for s in sentences if s.decision != SentenceDecision.REJECTED).strip(),
    )

"""Revisions of a product's copy, kept as Wagtail keeps page revisions.

Every Description row is one revision with its own sentences and tokens. A product has at most
one live revision (PUBLISHED, what exports and the API serve) and at most one working draft;
the rest are ARCHIVED. Generation writes the draft, publishing it supersedes the live one
(reviewq.core.transitions), and these services revert to an earlier revision or unpublish.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from reviewq.core.audit import AuditAction
from reviewq.core.models import DRAFT_STATUSES, Description, DescriptionStatus, Sentence, Token
from reviewq.core.transitions import InvalidTransition, description_create_draft, description_transition
from reviewq.review.history import text_diff

S = DescriptionStatus
SENTENCE_COPIED = (
    "index", "char_start", "char_end", "text", "edited_text", "band", "decision", "decided_by_id", "decided_at",
    "error_category_id",
    "mean_logprob", "min_logprob", "risk", "critical_min_logprob", "hard_flag", "has_warning", "signals", "reasons",
    "substitutions", "generated_score",
)  # fmt: skip
TOKEN_COPIED = ("position", "char_start", "text", "bytes", "logprob", "alternatives")


def revision_live(*, product_id: int) -> Description | None:
    return Description.objects.filter(product_id=product_id, status=S.PUBLISHED).first()


def revision_live_diff(*, draft: Description) -> list[tuple[str, str]] | None:
    """The draft's text against the product's live text, or None when there is nothing to compare."""
    if draft.status not in DRAFT_STATUSES:
        return None
    live = Description.objects.filter(product_id=draft.product_id, status=S.PUBLISHED).only("text").first()
    if live is None:
        return None
    return text_diff(live.text, draft.text)


@transaction.atomic
def description_revert(
    *, revision: Description, actor: AbstractBaseUser, publish: bool = False, note: str = ""
) -> Description:
    """Make an earlier (or the live) revision the product's draft again: a new revision with its
    text, sentences, decisions and tokens. The current draft, if any, is archived first; one
    being generated is refused. With publish (an admin's choice) the copy goes live at once."""
    draft = (
        Description.objects.select_for_update()
        .filter(product_id=revision.product_id, status__in=DRAFT_STATUSES)
        .first()
    )
    if draft is not None:
        if draft.pk == revision.pk:
            raise InvalidTransition("This revision is the current draft already.")
        if draft.status in (S.QUEUED, S.GENERATING):
            raise InvalidTransition("A new draft is being generated for this product; cancel it or wait.")
        description_transition(
            description=draft,
            to_status=S.ARCHIVED,
            action=AuditAction.DRAFT_DISCARDED,
            actor=actor,
            note=f"Replaced by a revert to revision {revision.pk}",
        )
    copy = description_create_draft(
        source=revision, actor=actor, action=AuditAction.REVISION_REVERTED, note=note.strip()
    )
    revision_rows_copy(source=revision, target=copy)
    if publish:
        copy = description_transition(
            description=copy,
            to_status=S.PUBLISHED,
            action=AuditAction.REVISION_PUBLISHED,
            actor=actor,
            note=note.strip(),
        )
    return copy


def revision_rows_copy(*, source: Description, target: Description) -> None:
    """Copy the sentences and tokens of one revision into another (two bulk inserts)."""
    sentences = list(source.sentences.order_by("index").values("pk", *SENTENCE_COPIED))
    created = Sentence.objects.bulk_create(
        [Sentence(description=target, **{k: row[k] for k in SENTENCE_COPIED}) for row in sentences], batch_size=500
    )
    new_sentence = {row["pk"]: new.pk for row, new in zip(sentences, created, strict=True)}
    tokens = source.tokens.order_by("position").values("sentence_id", *TOKEN_COPIED)
    Token.objects.bulk_create(
        [
            Token(description=target, sentence_id=new_sentence[row["sentence_id"]], **{k: row[k] for k in TOKEN_COPIED})
            for row in tokens
        ],
        batch_size=2000,
    )


@transaction.atomic
def description_unpublish(*, description: Description, actor: AbstractBaseUser, reason: str) -> Description:
    """Take a live revision out of exports and the API (it is archived); the reason is required."""
    reason = reason.strip()
    if not reason:
        raise InvalidTransition("Say why the description is unpublished.")
    if description.status != S.PUBLISHED:
        raise InvalidTransition("Only the live revision can be unpublished.")
    return description_transition(
        description=description,
        to_status=S.ARCHIVED,
        action=AuditAction.UNPUBLISHED,
        actor=actor,
        expected_version=description.version,
        note=reason,
    )

"""A reviewer's decisions on single sentences: approve, edit, substitute a token, remove, reset,
and why an edit or removal was needed (an ErrorCategory)."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from reviewq.core.audit import AuditAction, audit_record
from reviewq.core.models import CATEGORISED_DECISIONS, ErrorCategory, Sentence, SentenceDecision, Token
from reviewq.gating.service import sentence_regate
from reviewq.review.claims import description_review_lock
from reviewq.review.detail import sentence_substitutions


def _sentence_locked(*, sentence: Sentence, reviewer: AbstractBaseUser, expected_version: int) -> Sentence:
    """The sentence re-read after the description-level lock was taken."""
    description_review_lock(
        description_id=sentence.description_id, reviewer=reviewer, expected_version=expected_version
    )
    return Sentence.objects.select_related("description", "error_category").get(pk=sentence.pk)


def _whitespace_kept(original: str, text: str) -> str:
    """`text` with the original sentence's leading and trailing whitespace, so the sentences
    still join into well-spaced copy."""
    stripped = original.strip()
    if not stripped:
        return text
    lead = original[: len(original) - len(original.lstrip())]
    trail = original[len(original.rstrip()) :]
    return f"{lead}{text.strip()}{trail}"


def _sentence_decide(
    *,
    sentence: Sentence,
    reviewer: AbstractBaseUser,
    decision: str,
    edited_text: str,
    action: str,
    before_text: str,
    substitutions: dict[int, str] | None = None,
    category: ErrorCategory | None = None,
    extra_after: dict | None = None,
) -> Sentence:
    """Write a sentence decision; `substitutions` are the token substitutions behind an edit
    (every other decision clears them), `category` why an edit or removal was needed (other
    decisions clear it). A changed text (or token) re-gates the sentence."""
    now = timezone.now()
    if decision not in CATEGORISED_DECISIONS:
        category = None
    before = {"decision": sentence.decision, "text": before_text, "category": _category_label(sentence.error_category)}
    was = (sentence.current_text, sentence.substitutions)
    regate_before = {"band": sentence.band, "risk": sentence.risk, "reasons": sentence.reasons}
    Sentence.objects.filter(pk=sentence.pk).update(
        decision=decision,
        edited_text=edited_text,
        decided_by=reviewer if decision else None,
        decided_at=now if decision else None,
        substitutions={str(position): text for position, text in sorted((substitutions or {}).items())},
        error_category=category,
    )
    sentence.refresh_from_db()
    regated = {}
    if (sentence.current_text, sentence.substitutions) != was:
        sentence = sentence_regate(sentence=sentence)
        before |= regate_before
        regated = {"band": sentence.band, "risk": sentence.risk, "reasons": sentence.reasons}
    audit_record(
        action=action,
        actor=reviewer,
        description=sentence.description,
        sentence_index=sentence.index,
        before=before,
        after={
            "decision": decision,
            "text": sentence.current_text,
            "category": _category_label(category),
            **regated,
            **(extra_after or {}),
        },
    )
    return sentence


def _category_label(category: ErrorCategory | None) -> str:
    """As the audit row keeps it: the label at the time, so a later rename leaves history as it was."""
    return category.label if category is not None else ""


@transaction.atomic
def sentence_approve(*, sentence: Sentence, reviewer: AbstractBaseUser, expected_version: int) -> Sentence:
    """Mark a sentence approved as written (an edited sentence stays edited)."""
    sentence = _sentence_locked(sentence=sentence, reviewer=reviewer, expected_version=expected_version)
    if sentence.decision == SentenceDecision.EDITED:
        return sentence
    return _sentence_decide(
        sentence=sentence,
        reviewer=reviewer,
        decision=SentenceDecision.APPROVED,
        edited_text="",
        action=AuditAction.SENTENCE_APPROVED,
        before_text=sentence.current_text,
    )


@transaction.atomic
def sentence_remove(
    *, sentence: Sentence, reviewer: AbstractBaseUser, expected_version: int, category: ErrorCategory | None = None
) -> Sentence:
    """Leave the sentence out of the published text (decision "rejected", shown as removed)."""
    sentence = _sentence_locked(sentence=sentence, reviewer=reviewer, expected_version=expected_version)
    return _sentence_decide(
        sentence=sentence,
        reviewer=reviewer,
        decision=SentenceDecision.REJECTED,
        edited_text="",
        action=AuditAction.SENTENCE_REMOVED,
        before_text=sentence.current_text,
        category=category,
    )


@transaction.atomic
def sentence_reset(*, sentence: Sentence, reviewer: AbstractBaseUser, expected_version: int) -> Sentence:
    """Undo a decision: back to the generated text, undecided."""
    sentence = _sentence_locked(sentence=sentence, reviewer=reviewer, expected_version=expected_version)
    return _sentence_decide(
        sentence=sentence,
        reviewer=reviewer,
        decision=SentenceDecision.NONE,
        edited_text="",
        action=AuditAction.SENTENCE_RESET,
        before_text=sentence.current_text,
    )


class EditRefused(ValueError):
    """The edit is not a change (or is empty); the message says what to do instead."""


@transaction.atomic
def sentence_edit(
    *,
    sentence: Sentence,
    reviewer: AbstractBaseUser,
    text: str,
    expected_version: int,
    category: ErrorCategory | None = None,
) -> Sentence:
    """Replace a sentence's text. The generated text stays in Sentence.text and in the audit
    row; the reviewer's text goes to edited_text with decision "edited", and `category` says why."""
    if not text.strip():
        raise EditRefused("The new text is empty; remove the sentence instead.")
    sentence = _sentence_locked(sentence=sentence, reviewer=reviewer, expected_version=expected_version)
    new_text = _whitespace_kept(sentence.text, text)
    if new_text == sentence.text:
        # Typing the generated text back is an approval of it.
        return _sentence_decide(
            sentence=sentence,
            reviewer=reviewer,
            decision=SentenceDecision.APPROVED,
            edited_text="",
            action=AuditAction.SENTENCE_APPROVED,
            before_text=sentence.current_text,
        )
    if new_text == sentence.current_text:
        if sentence.decision == SentenceDecision.EDITED and category != sentence.error_category:
            return _sentence_categorise(sentence=sentence, reviewer=reviewer, category=category)
        raise EditRefused("The text is unchanged.")
    return _sentence_decide(
        sentence=sentence,
        reviewer=reviewer,
        decision=SentenceDecision.EDITED,
        edited_text=new_text,
        action=AuditAction.SENTENCE_EDITED,
        before_text=sentence.current_text,
        category=category,
    )


@transaction.atomic
def sentence_categorise(
    *, sentence: Sentence, reviewer: AbstractBaseUser, category: ErrorCategory | None, expected_version: int
) -> Sentence:
    """Say why an edited or removed sentence was wrong (None: no reason given). Its text and
    decision stay as they are."""
    sentence = _sentence_locked(sentence=sentence, reviewer=reviewer, expected_version=expected_version)
    if sentence.decision not in CATEGORISED_DECISIONS:
        raise EditRefused("Only an edited or removed sentence has an error category; edit or remove it first.")
    return _sentence_categorise(sentence=sentence, reviewer=reviewer, category=category)


def _sentence_categorise(*, sentence: Sentence, reviewer: AbstractBaseUser, category: ErrorCategory | None) -> Sentence:
    before = {"category": _category_label(sentence.error_category)}
    Sentence.objects.filter(pk=sentence.pk).update(error_category=category)
    sentence.refresh_from_db()
    audit_record(
        action=AuditAction.SENTENCE_CATEGORISED,
        actor=reviewer,
        description=sentence.description,
        sentence_index=sentence.index,
        before=before,
        after={
            "category": _category_label(category),
            "counts_as_error": category.counts_as_error if category else None,
        },
    )
    return sentence


@transaction.atomic
def sentence_substitute(
    *, sentence: Sentence, reviewer: AbstractBaseUser, position: int, alternative: str, expected_version: int
) -> Sentence:
    """Replace one token of the sentence by one of its alternatives. Stored as an edit
    (edited_text) with the substitutions in force (Sentence.substitutions), so the page can
    still show the tokens; the original stays in Sentence.text, and the audit row records the
    position and both texts.
    Choosing a token's original text again undoes its substitution."""
    sentence = _sentence_locked(sentence=sentence, reviewer=reviewer, expected_version=expected_version)
    token = Token.objects.filter(sentence=sentence, position=position).first()
    if token is None:
        raise EditRefused("That word is not part of this sentence.")
    choices = {alt[0] for alt in token.alternatives if alt} | {token.text}
    if alternative not in choices:
        raise EditRefused("That alternative was not offered for this word.")
    if sentence.decision == SentenceDecision.EDITED:
        substitutions = sentence_substitutions(sentence=sentence)
        if not substitutions:
            raise EditRefused("This sentence was edited by hand; edit its text instead.")
    else:
        substitutions = {}
    # Keep the token's leading space if the alternative lacks one (" blue" -> "red").
    replacement = alternative
    if token.text[:1].isspace() and not alternative[:1].isspace() and alternative.strip():
        replacement = token.text[: len(token.text) - len(token.text.lstrip())] + alternative
    previous = substitutions.get(position, token.text)
    if replacement == token.text:
        substitutions.pop(position, None)
    else:
        substitutions[position] = replacement
    tokens = list(sentence.tokens.order_by("position").values_list("position", "text"))
    new_text = "".join(substitutions.get(pos, text) for pos, text in tokens)
    decision = SentenceDecision.EDITED if substitutions else SentenceDecision.NONE
    return _sentence_decide(
        sentence=sentence,
        reviewer=reviewer,
        decision=decision,
        edited_text=new_text if substitutions else "",
        action=AuditAction.SENTENCE_SUBSTITUTED,
        before_text=sentence.current_text,
        substitutions=substitutions,
        category=sentence.error_category,  # a substitution keeps the reason the sentence had
        extra_after={
            "position": position,
            "from": previous,
            "to": replacement,
            "original": token.text,
            "substitutions": {str(k): v for k, v in sorted(substitutions.items())},
        },
    )

"""Error categories on sentence decisions and rejections: stored, cleared, audited, constrained."""

import pytest
from django.db import IntegrityError, transaction

from reviewq.core.audit import AuditAction
from reviewq.core.models import AuditEvent, DescriptionStatus, ErrorCategory, Sentence
from reviewq.review.decisions import description_approve, description_reject
from reviewq.review.history import description_history
from reviewq.review.revisions import description_revert
from reviewq.review.sentences import (
    EditRefused,
    sentence_approve,
    sentence_categorise,
    sentence_edit,
    sentence_remove,
    sentence_reset,
    sentence_substitute,
)
from tests.factories import UserFactory
from tests.reviewq.review_data import ERROR_CATEGORIES, make_review_description

pytestmark = pytest.mark.django_db


@pytest.fixture
def invented():
    return ErrorCategory.objects.get(key="1")


@pytest.fixture
def style():
    return ErrorCategory.objects.get(key="5")


def test_the_migration_seeds_the_five_categories():
    assert list(ErrorCategory.objects.values_list("key", "label", "counts_as_error")) == ERROR_CATEGORIES


def test_edit_and_remove_store_the_category_and_their_audit_rows_carry_it(invented, style):
    description = make_review_description()
    reviewer = UserFactory()
    edited = sentence_edit(
        sentence=description.sentences.get(index=1),
        reviewer=reviewer,
        text="It holds 750 ml.",
        expected_version=1,
        category=invented,
    )
    removed = sentence_remove(
        sentence=description.sentences.get(index=2), reviewer=reviewer, expected_version=2, category=style
    )
    assert (edited.decision, edited.error_category) == ("edited", invented)
    assert (removed.decision, removed.error_category) == ("rejected", style)
    rows = AuditEvent.objects.filter(description=description).order_by("id")
    assert [(e.action, e.sentence_index, e.after["category"]) for e in rows] == [
        (AuditAction.SENTENCE_EDITED, 1, "Invented fact"),
        (AuditAction.SENTENCE_REMOVED, 2, "Style only"),
    ]


def test_approve_and_reset_clear_the_category_and_a_substitution_keeps_it(invented):
    description = make_review_description()
    reviewer = UserFactory()
    sentence = description.sentences.get(index=1)
    token = sentence.tokens.get(text=" 900")
    sentence = sentence_substitute(
        sentence=sentence, reviewer=reviewer, position=token.position, alternative=" 750", expected_version=1
    )
    sentence = sentence_categorise(sentence=sentence, reviewer=reviewer, category=invented, expected_version=2)
    assert sentence.error_category == invented
    ml = sentence.tokens.get(text=" ml")
    sentence = sentence_substitute(  # a second word changed: still the same reason
        sentence=sentence, reviewer=reviewer, position=ml.position, alternative=" ml", expected_version=3
    )
    assert (sentence.decision, sentence.error_category) == ("edited", invented)
    sentence = sentence_reset(sentence=sentence, reviewer=reviewer, expected_version=4)
    assert (sentence.decision, sentence.error_category) == ("", None)
    sentence = sentence_remove(sentence=sentence, reviewer=reviewer, expected_version=5, category=invented)
    sentence = sentence_reset(sentence=sentence, reviewer=reviewer, expected_version=6)
    sentence = sentence_approve(sentence=sentence, reviewer=reviewer, expected_version=7)
    assert (sentence.decision, sentence.error_category) == ("approved", None)


def test_categorise_tags_a_changed_sentence_and_is_audited(invented, style):
    description = make_review_description()
    reviewer = UserFactory()
    sentence = sentence_edit(
        sentence=description.sentences.get(index=1), reviewer=reviewer, text="It holds 750 ml.", expected_version=1
    )
    assert sentence.error_category is None
    sentence = sentence_categorise(sentence=sentence, reviewer=reviewer, category=style, expected_version=2)
    sentence = sentence_categorise(sentence=sentence, reviewer=reviewer, category=invented, expected_version=3)
    assert sentence.error_category == invented and sentence.edited_text.strip() == "It holds 750 ml."
    rows = AuditEvent.objects.filter(action=AuditAction.SENTENCE_CATEGORISED).order_by("id")
    assert [(e.before["category"], e.after["category"], e.after["counts_as_error"]) for e in rows] == [
        ("", "Style only", False),
        ("Style only", "Invented fact", True),
    ]
    # Saving the edit form again with the same text and another reason changes only the reason.
    sentence = sentence_edit(
        sentence=sentence, reviewer=reviewer, text="It holds 750 ml.", expected_version=4, category=style
    )
    assert sentence.error_category == style
    assert AuditEvent.objects.filter(action=AuditAction.SENTENCE_CATEGORISED).count() == 3


def test_categorise_refuses_an_undecided_or_approved_sentence(invented):
    description = make_review_description()
    reviewer = UserFactory()
    sentence = description.sentences.get(index=1)
    with pytest.raises(EditRefused):
        sentence_categorise(sentence=sentence, reviewer=reviewer, category=invented, expected_version=1)
    sentence.refresh_from_db()
    assert sentence.error_category is None
    assert not AuditEvent.objects.filter(description=description).exists()
    # Typing the generated text back approves it: an approval has no error category.
    sentence = sentence_edit(
        sentence=sentence, reviewer=reviewer, text=sentence.text, expected_version=1, category=invented
    )
    assert (sentence.decision, sentence.error_category) == ("approved", None)
    with pytest.raises(EditRefused):
        sentence_categorise(sentence=sentence, reviewer=reviewer, category=invented, expected_version=2)


def test_the_database_refuses_a_category_on_an_unchanged_sentence(invented):
    description = make_review_description()
    with pytest.raises(IntegrityError), transaction.atomic():
        Sentence.objects.filter(description=description, index=0).update(error_category=invented)
    with pytest.raises(IntegrityError), transaction.atomic():
        ErrorCategory.objects.create(key="a", label="Letters clash with the page's shortcuts")


def test_reject_stores_the_category_and_history_names_it(invented):
    description = make_review_description()
    reviewer = UserFactory()
    description_reject(
        description=description, reviewer=reviewer, expected_version=1, reason="Made up a lid", category=invented
    )
    description.refresh_from_db()
    assert (description.status, description.rejection_category) == (DescriptionStatus.REJECTED, invented)
    event = AuditEvent.objects.get(action=AuditAction.REVIEW_REJECTED)
    assert event.after["rejection_category"] == invented.pk and event.note == "Made up a lid"
    entry = description_history(description=description)[0]
    assert (entry.label, entry.category, entry.note) == ("Rejected", "Invented fact", "Made up a lid")
    # History keeps the name the category had: a later rename does not rewrite sentence rows.
    sentence_row = AuditEvent.objects.create(
        action=AuditAction.SENTENCE_REMOVED, description=description, sentence_index=0, after={"category": "Old name"}
    )
    assert description_history(description=description)[0].category == "Old name" and sentence_row.pk


def test_a_reverted_revision_keeps_its_sentences_categories(invented):
    description = make_review_description()
    reviewer = UserFactory()
    sentence_remove(
        sentence=description.sentences.get(index=1), reviewer=reviewer, expected_version=1, category=invented
    )
    description_approve(description=description, reviewer=reviewer, expected_version=2, approve_remaining=True)
    description.refresh_from_db()
    copy = description_revert(revision=description, actor=reviewer)
    assert copy.pk != description.pk
    assert copy.sentences.get(index=1).error_category == invented
    assert copy.sentences.get(index=2).error_category is None

"""Comments on a description: stored, audited, shown in History among the audit events."""

from itertools import pairwise

import pytest
from django.utils import timezone

from reviewq.core.audit import AuditAction
from reviewq.core.models import AuditEvent, Comment
from reviewq.review.comments import comment_add
from reviewq.review.history import description_history
from reviewq.review.sentences import EditRefused, sentence_approve
from tests.factories import UserFactory
from tests.reviewq.review_data import make_review_description

pytestmark = pytest.mark.django_db


def test_a_comment_is_stored_audited_and_leaves_the_description_alone():
    description = make_review_description()
    rita = UserFactory(username="rita")
    comment = comment_add(description=description, author=rita, text="  Check the lid size with the buyer.\n")
    assert (comment.text, comment.author, comment.description) == (
        "Check the lid size with the buyer.",
        rita,
        description,
    )
    event = AuditEvent.objects.get(action=AuditAction.COMMENT_ADDED)
    assert (event.actor, event.description, event.after, event.note) == (
        rita,
        description,
        {"comment": comment.pk},
        "Check the lid size with the buyer.",
    )
    description.refresh_from_db()
    assert description.version == 1 and description.review_claimed_by is None  # no lock, no claim


def test_an_empty_comment_is_refused_and_nothing_is_written():
    description = make_review_description()
    with pytest.raises(EditRefused):
        comment_add(description=description, author=UserFactory(), text=" \n ")
    assert not Comment.objects.exists() and not AuditEvent.objects.exists()


def test_history_shows_comments_in_time_order_among_the_audit_events(django_assert_max_num_queries):
    description = make_review_description()
    rita, sam = UserFactory(username="rita"), UserFactory(username="sam")
    comment_add(description=description, author=rita, text="First look: the volume is wrong.")
    sentence_approve(sentence=description.sentences.get(index=0), reviewer=sam, expected_version=1)
    comment_add(description=description, author=sam, text="Agreed.\nFixing it.")
    with django_assert_max_num_queries(3):
        history = description_history(description=description)
    assert [(e.label, e.actor, e.note, e.is_comment) for e in history] == [
        ("Comment", "sam", "Agreed.\nFixing it.", True),
        ("Sentence approved", "sam", "", False),
        ("Comment", "rita", "First look: the volume is wrong.", True),
    ]
    assert all(a.created_at >= b.created_at for a, b in pairwise(history))
    assert history[0].created_at <= timezone.now()

"""Bulk approval keeps the claim check in its UPDATE, not only in Python."""

from unittest import mock

import pytest

from reviewq.core.models import AuditEvent, Description, DescriptionStatus
from reviewq.review.claims import description_review_claim
from reviewq.review.decisions import descriptions_bulk_approve
from tests.factories import UserFactory
from tests.reviewq.review_data import make_review_description

pytestmark = pytest.mark.django_db
S = DescriptionStatus


def test_bulk_approve_leaves_a_description_claimed_after_the_check_alone():
    reviewer, other = UserFactory(), UserFactory()
    mine = make_review_description(sentences=[("publish", [("Mine", -0.1), (".", -0.1)])])
    taken = make_review_description(sentences=[("publish", [("Taken", -0.1), (".", -0.1)])])
    description_review_claim(description=taken, reviewer=other)  # a claim does not bump the version
    before = Description.objects.get(pk=taken.pk)
    # As if the rows were read just before `other` claimed it: the Python check sees it free.
    with mock.patch("reviewq.review.decisions.claim_live", return_value=False):
        result = descriptions_bulk_approve(versions={mine.pk: 1, taken.pk: 1}, reviewer=reviewer)
    assert result.approved == [mine.pk]
    assert "claimed" in result.skipped[taken.pk]
    after = Description.objects.get(pk=taken.pk)
    assert (after.status, after.version, after.text, after.review_claimed_by_id) == (
        before.status,
        before.version,
        before.text,
        other.pk,
    )
    assert not AuditEvent.objects.filter(description=taken, action="review_approved").exists()
    assert Description.objects.get(pk=mine.pk).text == "Mine."

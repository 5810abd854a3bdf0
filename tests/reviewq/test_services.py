from datetime import timedelta

import pytest
from django.utils import timezone

from reviewq.models import AuditEvent, Description, DescriptionStatus
from reviewq.services import (
    TRANSITIONS,
    ConflictError,
    InvalidTransition,
    description_claim_for_generation,
    description_transition,
    descriptions_queue,
)
from tests.factories import DescriptionFactory, ProductFactory, UserFactory

pytestmark = pytest.mark.django_db
S = DescriptionStatus
ALL_PAIRS = [(a, b) for a in S.values for b in S.values]


def _description(status):
    fields = {"status": status}
    if status == S.PUBLISHED:
        fields["published_at"] = timezone.now()
    if status == S.FAILED:
        fields["error"] = "boom"
    return DescriptionFactory(**fields)


@pytest.mark.parametrize(("source", "target"), ALL_PAIRS)
def test_transition_is_allowed_only_from_listed_states_and_always_audited(source, target):
    description = _description(source)
    reviewer = UserFactory()
    if target in TRANSITIONS[source]:
        fields = {"error": "provider said no"} if target == S.FAILED else {}
        moved = description_transition(
            description=description, to_status=target, action="test", actor=reviewer, fields=fields
        )
        assert moved.status == target
        assert moved.version == 2
        event = AuditEvent.objects.get(description=description)
        assert (event.actor, event.before["status"], event.after["status"]) == (reviewer, source, target)
        assert (moved.published_at is not None) == (target == S.PUBLISHED)
    else:
        with pytest.raises(InvalidTransition):
            description_transition(description=description, to_status=target, action="test")
        description.refresh_from_db()
        assert description.status == source and description.version == 1
        assert not AuditEvent.objects.exists()


def test_stale_version_is_a_conflict_and_changes_nothing():
    description = _description(S.REVIEW)
    stale = Description.objects.get(pk=description.pk)
    description_transition(description=description, to_status=S.PUBLISHED, action="approve")
    with pytest.raises(ConflictError) as err:
        description_transition(
            description=stale, to_status=S.REJECTED, action="reject", expected_version=stale.version
        )
    assert err.value.current.status == S.PUBLISHED
    assert Description.objects.get(pk=description.pk).status == S.PUBLISHED
    assert AuditEvent.objects.filter(action="reject").count() == 0


def test_queue_creates_missing_requeues_failed_and_leaves_active_alone():
    missing = ProductFactory()
    failed = _description(S.FAILED)
    generating = _description(S.GENERATING)
    published = _description(S.PUBLISHED)
    ids = [missing.pk, failed.product_id, generating.product_id, published.product_id]

    assert descriptions_queue(product_ids=ids, only_missing=True) == [missing.pk]
    assert descriptions_queue(product_ids=ids, only_failed=True) == [failed.product_id]
    assert descriptions_queue(product_ids=ids) == [published.product_id]  # the rest are already queued
    assert Description.objects.get(pk=generating.pk).status == S.GENERATING
    assert Description.objects.get(pk=published.pk).published_at is None
    assert AuditEvent.objects.filter(action="generation_queued").count() == 3


def test_claim_is_won_once_and_a_second_delivery_is_a_no_op():
    description = _description(S.QUEUED)
    claimed = description_claim_for_generation(product_id=description.product_id, lease_seconds=60)
    assert claimed.status == S.GENERATING and claimed.attempts == 1
    assert description_claim_for_generation(product_id=description.product_id, lease_seconds=60) is None
    assert AuditEvent.objects.filter(action="generation_claimed").count() == 1


def test_claim_takes_over_an_expired_lease_of_a_dead_worker():
    description = _description(S.GENERATING)
    Description.objects.filter(pk=description.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    claimed = description_claim_for_generation(product_id=description.product_id, lease_seconds=60)
    assert claimed is not None and claimed.lease_until > timezone.now()


def test_claim_ignores_finished_descriptions():
    for status in (S.REVIEW, S.PUBLISHED, S.REJECTED, S.FAILED):
        description = _description(status)
        assert description_claim_for_generation(product_id=description.product_id, lease_seconds=60) is None


def test_failing_without_an_error_message_is_refused_by_the_database():
    from django.db import IntegrityError

    description = _description(S.GENERATING)
    with pytest.raises(IntegrityError):
        description_transition(description=description, to_status=S.FAILED, action="test")
    description.refresh_from_db()
    assert description.status == S.GENERATING
    assert not AuditEvent.objects.exists()

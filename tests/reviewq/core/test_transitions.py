from datetime import timedelta

import pytest
from django.utils import timezone

from generation.queueing import description_claim_for_generation, descriptions_queue
from reviewq.core.audit import AuditAction, UnknownAuditAction
from reviewq.core.models import AuditEvent, Description, DescriptionStatus
from reviewq.core.transitions import (
    CREATED,
    TRANSITIONS,
    ConflictError,
    InvalidTransition,
    TransitionRequest,
    description_transition,
    descriptions_create_queued,
    descriptions_transition,
    descriptions_transition_where,
    transition_allowed,
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
            description=description, to_status=target, action=AuditAction.GENERATED, actor=reviewer, fields=fields
        )
        assert moved.status == target
        assert moved.version == 2
        event = AuditEvent.objects.get(description=description)
        assert (event.actor, event.before["status"], event.after["status"]) == (reviewer, source, target)
        # An archived revision keeps the time it went live.
        assert (moved.published_at is not None) == (
            target == S.PUBLISHED or (source, target) == (S.PUBLISHED, S.ARCHIVED)
        )
    else:
        with pytest.raises(InvalidTransition):
            description_transition(description=description, to_status=target, action=AuditAction.GENERATED)
        description.refresh_from_db()
        assert description.status == source and description.version == 1
        assert not AuditEvent.objects.exists()


def test_stale_version_is_a_conflict_and_changes_nothing():
    description = _description(S.REVIEW)
    stale = Description.objects.get(pk=description.pk)
    description_transition(description=description, to_status=S.PUBLISHED, action=AuditAction.REVIEW_APPROVED)
    with pytest.raises(ConflictError) as err:
        description_transition(
            description=stale, to_status=S.REJECTED, action=AuditAction.REVIEW_REJECTED, expected_version=stale.version
        )
    assert err.value.current.status == S.PUBLISHED
    assert Description.objects.get(pk=description.pk).status == S.PUBLISHED
    assert AuditEvent.objects.filter(action=AuditAction.REVIEW_REJECTED).count() == 0


def test_many_transitions_write_the_current_rows_and_report_the_changed_one():
    first, changed, third = (_description(S.REVIEW) for _ in range(3))
    Description.objects.filter(pk=changed.pk).update(version=7)
    reviewer = UserFactory()
    results = descriptions_transition(
        [
            TransitionRequest(
                description=d,
                to_status=S.PUBLISHED,
                action=AuditAction.REVIEW_APPROVED,
                expected_version=1,
                note="batch",
                fields={"text": f"text {d.pk}"},
            )
            for d in (first, changed, third)
        ],
        actor=reviewer,
    )
    assert results[0] is first and results[2] is third
    assert isinstance(results[1], ConflictError)
    for description in (first, third):
        row = Description.objects.get(pk=description.pk)
        assert (row.status, row.version, row.text) == (S.PUBLISHED, 2, f"text {description.pk}")
        assert row.published_at is not None and row.published_at == description.published_at
        assert (description.status, description.version) == (S.PUBLISHED, 2)  # the caller's copy follows
        event = AuditEvent.objects.get(description=description)
        assert (event.actor, event.action, event.note) == (reviewer, AuditAction.REVIEW_APPROVED, "batch")
        assert event.before == {"status": S.REVIEW, "version": 1}
        assert event.after["status"] == S.PUBLISHED and event.after["text"] == f"text {description.pk}"
    assert Description.objects.get(pk=changed.pk).status == S.REVIEW
    assert not AuditEvent.objects.filter(description=changed).exists()


def test_many_transitions_refuse_an_illegal_move_before_writing_anything():
    review, queued = _description(S.REVIEW), _description(S.QUEUED)
    with pytest.raises(InvalidTransition):
        descriptions_transition(
            [
                TransitionRequest(
                    description=review, to_status=S.PUBLISHED, action=AuditAction.REVIEW_APPROVED, expected_version=1
                ),
                TransitionRequest(
                    description=queued, to_status=S.PUBLISHED, action=AuditAction.REVIEW_APPROVED, expected_version=1
                ),
            ]
        )
    assert Description.objects.get(pk=review.pk).status == S.REVIEW
    assert not AuditEvent.objects.exists()


def test_many_transitions_take_plain_values_only():
    from django.db.models import F

    with pytest.raises(ValueError, match="plain field values"):
        descriptions_transition(
            [
                TransitionRequest(
                    description=_description(S.REVIEW),
                    to_status=S.PUBLISHED,
                    action=AuditAction.REVIEW_APPROVED,
                    expected_version=1,
                    fields={"attempts": F("attempts") + 1},
                )
            ]
        )


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
    # The live copy stays live; the new draft is a row beside it.
    assert Description.objects.get(pk=published.pk).status == S.PUBLISHED
    assert Description.objects.get(product_id=published.product_id, status=S.QUEUED).pk != published.pk
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
        description_transition(description=description, to_status=S.FAILED, action=AuditAction.GENERATED)
    description.refresh_from_db()
    assert description.status == S.GENERATING
    assert not AuditEvent.objects.exists()


# --- set-based: descriptions_transition_where, descriptions_create_queued, conditions ---------


def test_set_based_transition_moves_matching_rows_and_audits_each_with_computed_values():
    from django.db.models import F, Q

    queued, failed, review, other = (_description(s) for s in (S.QUEUED, S.FAILED, S.REVIEW, S.FAILED))
    Description.objects.filter(pk=other.pk).update(error_code="keep")
    reviewer = UserFactory()
    moved = descriptions_transition_where(
        descriptions=Description.objects.all(),
        from_statuses=[S.FAILED, S.REVIEW],
        to_status=S.QUEUED,
        condition=~Q(error_code="keep"),
        action=AuditAction.GENERATION_QUEUED,
        actor=reviewer,
        fields={"attempts": F("attempts") + 2},
        note="again",
    )
    assert moved == sorted([failed.pk, review.pk])
    for description, source in ((failed, S.FAILED), (review, S.REVIEW)):
        row = Description.objects.get(pk=description.pk)
        assert (row.status, row.version, row.attempts, row.lease_until) == (S.QUEUED, 2, 2, None)
        event = AuditEvent.objects.get(description=description)
        assert (event.action, event.actor, event.note) == (AuditAction.GENERATION_QUEUED, reviewer, "again")
        assert event.before == {"status": source, "version": 1}
        assert event.after["status"] == S.QUEUED and event.after["attempts"] == 2
    for untouched, status in ((queued, S.QUEUED), (other, S.FAILED)):
        assert Description.objects.filter(pk=untouched.pk, status=status, version=1).exists()
        assert not AuditEvent.objects.filter(description=untouched).exists()


def test_set_based_transition_refuses_an_illegal_source_and_writes_nothing():
    published = _description(S.PUBLISHED)
    with pytest.raises(InvalidTransition):
        descriptions_transition_where(
            descriptions=Description.objects.all(),
            from_statuses=[S.PUBLISHED],
            to_status=S.FAILED,
            action=AuditAction.GENERATION_FAILED,
            fields={"error": "no"},
        )
    assert Description.objects.filter(pk=published.pk, status=S.PUBLISHED, version=1).exists()
    assert not AuditEvent.objects.exists()


def test_set_based_transition_refuses_an_action_outside_the_registry():
    review = _description(S.REVIEW)
    with pytest.raises(UnknownAuditAction):
        descriptions_transition_where(
            descriptions=Description.objects.all(), from_statuses=[S.REVIEW], to_status=S.REJECTED, action="rejected"
        )
    assert Description.objects.filter(pk=review.pk, status=S.REVIEW, version=1).exists()
    assert not AuditEvent.objects.exists()


def test_creating_descriptions_is_a_created_to_queued_transition():
    first, second = ProductFactory(), ProductFactory()
    existing = _description(S.REVIEW)
    # A revert creates its draft in review; nothing is created live.
    assert transition_allowed(CREATED, S.QUEUED) and transition_allowed(CREATED, S.REVIEW)
    assert not transition_allowed(CREATED, S.PUBLISHED)
    queued = descriptions_create_queued(product_ids=[first.pk, second.pk, existing.product_id])
    assert queued == sorted([first.pk, second.pk])
    assert Description.objects.get(pk=existing.pk).status == S.REVIEW
    events = AuditEvent.objects.filter(action=AuditAction.GENERATION_QUEUED)
    assert sorted(e.description.product_id for e in events) == queued
    assert all(e.before == {"status": ""} and e.after["status"] == S.QUEUED for e in events)


def test_many_transitions_honour_a_condition_for_every_row():
    from django.db.models import Q

    first, second = _description(S.REVIEW), _description(S.REVIEW)
    Description.objects.filter(pk=second.pk).update(rejection_reason="held")
    results = descriptions_transition(
        [
            TransitionRequest(
                description=d, to_status=S.PUBLISHED, action=AuditAction.REVIEW_APPROVED, expected_version=1
            )
            for d in (first, second)
        ],
        condition=Q(rejection_reason=""),
    )
    assert results[0] is first and isinstance(results[1], ConflictError)
    assert Description.objects.get(pk=second.pk).status == S.REVIEW
    assert not AuditEvent.objects.filter(description=second).exists()


def test_a_set_based_publish_archives_the_live_revision_first_and_audits_it():
    live = _description(S.PUBLISHED)
    draft = DescriptionFactory(product=live.product, status=S.REVIEW)
    other = _description(S.REVIEW)
    published = descriptions_transition_where(
        descriptions=Description.objects.filter(pk__in=[draft.pk, other.pk]),
        from_statuses=[S.REVIEW],
        to_status=S.PUBLISHED,
        action=AuditAction.REVIEW_APPROVED,
    )
    assert published == sorted([draft.pk, other.pk])
    assert Description.objects.get(pk=live.pk).status == S.ARCHIVED
    superseded = AuditEvent.objects.get(action=AuditAction.REVISION_SUPERSEDED)
    assert superseded.description_id == live.pk and superseded.before["status"] == S.PUBLISHED


def test_cancelling_queued_drafts_restores_what_each_was_queued_from():
    from reviewq.core.transitions import descriptions_cancel_queued

    was_review = _description(S.QUEUED)
    Description.objects.filter(pk=was_review.pk).update(queued_from=S.REVIEW)
    new = _description(S.QUEUED)
    dropped = descriptions_cancel_queued(
        descriptions=Description.objects.filter(pk__in=[was_review.pk, new.pk]), actor=None, note="run cancelled"
    )
    assert dropped == sorted([was_review.pk, new.pk])
    assert Description.objects.get(pk=was_review.pk).status == S.REVIEW
    assert Description.objects.get(pk=new.pk).status == S.CANCELLED
    assert Description.objects.get(pk=new.pk).queued_from == ""
    events = AuditEvent.objects.filter(action=AuditAction.GENERATION_CANCELLED)
    assert {e.after["status"] for e in events} == {S.REVIEW, S.CANCELLED}

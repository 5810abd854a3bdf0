from collections import Counter

import pytest
from django.contrib.auth.models import Group

from reviewq.core.audit import AuditAction
from reviewq.core.models import Assignment, AuditEvent, Description, DescriptionStatus
from reviewq.core.roles import REVIEWER, roles_ensure
from reviewq.review import assignments
from reviewq.review.assignments import (
    TooManyItems,
    assignable_reviewers,
    assignment_scope,
    description_assignees,
    descriptions_assign,
    descriptions_unassign,
    round_robin,
)
from reviewq.review.claims import description_review_claim, description_review_next
from reviewq.review.queue import QueueFilters, queue_descriptions, queue_next_candidates, queue_page
from tests.factories import CatalogFactory, ProductFactory, UserFactory
from tests.reviewq.review_data import make_review_description

pytestmark = pytest.mark.django_db


def _pairs():
    return set(Assignment.objects.values_list("description_id", "reviewer__username"))


@pytest.fixture
def people():
    return [UserFactory(username=name) for name in ("ann", "bob", "cat")]


@pytest.fixture
def editor():
    return UserFactory(username="eddie")


def test_round_robin_gives_each_item_k_distinct_reviewers_and_even_loads():
    pairs = round_robin(description_ids=list(range(10)), reviewer_ids=[1, 2, 3], per_item=2)
    per_item: dict[int, list[int]] = {}
    for item, reviewer in pairs:
        per_item.setdefault(item, []).append(reviewer)
    assert all(len(set(r)) == 2 for r in per_item.values()) and len(per_item) == 10
    loads = Counter(reviewer for _, reviewer in pairs)
    assert max(loads.values()) - min(loads.values()) <= 1
    with pytest.raises(ValueError):
        round_robin(description_ids=[1], reviewer_ids=[1, 2], per_item=3)


def test_assign_a_batch_round_robin_riskiest_first_and_audit_one_row_per_item(people, editor):
    low, high, mid = (make_review_description(risk=r) for r in (0.2, 0.9, 0.5))
    published = make_review_description(status=DescriptionStatus.PUBLISHED)
    result = descriptions_assign(
        scope=assignment_scope(description_ids=[low.pk, high.pk, mid.pk, published.pk]),
        reviewers=people[:2],
        assigned_by=editor,
    )
    assert (result.items, result.created) == (3, 3)
    assert _pairs() == {(high.pk, "ann"), (mid.pk, "bob"), (low.pk, "ann")}
    events = AuditEvent.objects.filter(action=AuditAction.REVIEW_ASSIGNED)
    assert sorted(events.values_list("description_id", flat=True)) == sorted([low.pk, high.pk, mid.pk])
    assert {e.actor_id for e in events} == {editor.pk}
    assert events.get(description=high).after == {"assigned": ["ann"]}


def test_assigning_again_keeps_existing_pairs_and_audits_only_new_ones(people, editor):
    description = make_review_description()
    scope = assignment_scope(description_ids=[description.pk])
    descriptions_assign(scope=scope, reviewers=people[:1], assigned_by=editor)
    result = descriptions_assign(scope=scope, reviewers=people[:2], per_item=2, assigned_by=editor)
    assert result.created == 1
    assert _pairs() == {(description.pk, "ann"), (description.pk, "bob")}
    assert AuditEvent.objects.filter(action=AuditAction.REVIEW_ASSIGNED).count() == 2


def test_k_overlap_gives_each_item_k_distinct_reviewers(people, editor):
    items = [make_review_description(risk=i / 10) for i in range(7)]
    descriptions_assign(
        scope=assignment_scope(description_ids=[d.pk for d in items]), reviewers=people, per_item=2, assigned_by=editor
    )
    per_item = Counter(Assignment.objects.values_list("description_id", flat=True))
    assert set(per_item) == {d.pk for d in items} and set(per_item.values()) == {2}
    loads = Counter(Assignment.objects.values_list("reviewer_id", flat=True))
    assert sorted(loads.values()) == [4, 5, 5]


def test_assign_everything_a_filter_matches(people, editor):
    catalog = CatalogFactory()
    inside = [make_review_description(product=ProductFactory(catalog=catalog)) for _ in range(2)]
    make_review_description()  # another catalog
    scope = assignment_scope(rows=queue_descriptions(user=editor, filters=QueueFilters(catalog_id=catalog.pk)))
    assert descriptions_assign(scope=scope, reviewers=people[:1], assigned_by=editor).items == 2
    assert set(Assignment.objects.values_list("description_id", flat=True)) == {d.pk for d in inside}


def test_assign_a_whole_catalog_only_takes_items_in_review(people, editor):
    catalog = CatalogFactory()
    in_review = make_review_description(product=ProductFactory(catalog=catalog))
    make_review_description(product=ProductFactory(catalog=catalog), status=DescriptionStatus.PUBLISHED)
    scope = assignment_scope(rows=Description.objects.filter(product__catalog=catalog))
    descriptions_assign(scope=scope, reviewers=people[:1], assigned_by=editor)
    assert list(Assignment.objects.values_list("description_id", flat=True)) == [in_review.pk]


def test_too_many_items_writes_nothing(people, editor, monkeypatch):
    monkeypatch.setattr(assignments, "ASSIGN_MAX_ITEMS", 2)
    items = [make_review_description() for _ in range(3)]
    with pytest.raises(TooManyItems):
        descriptions_assign(
            scope=assignment_scope(description_ids=[d.pk for d in items]), reviewers=people, assigned_by=editor
        )
    assert not Assignment.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.REVIEW_ASSIGNED).exists()


def test_unassign_from_one_reviewer_or_everyone_and_audit_it(people, editor):
    first, second = make_review_description(), make_review_description()
    scope = assignment_scope(description_ids=[first.pk, second.pk])
    descriptions_assign(scope=scope, reviewers=people[:2], per_item=2, assigned_by=editor)
    removed = descriptions_unassign(
        scope=assignment_scope(description_ids=[first.pk]), reviewers=people[:1], unassigned_by=editor
    )
    assert removed == 1
    assert _pairs() == {(first.pk, "bob"), (second.pk, "ann"), (second.pk, "bob")}
    assert descriptions_unassign(scope=scope, unassigned_by=editor) == 3
    assert not Assignment.objects.exists()
    events = AuditEvent.objects.filter(action=AuditAction.REVIEW_UNASSIGNED).order_by("id")
    assert [e.before for e in events][:1] == [{"assigned": ["ann"]}]
    assert events.count() == 3  # first (ann), then first (bob) and second


def test_assignees_per_description(people, editor):
    description = make_review_description()
    descriptions_assign(
        scope=assignment_scope(description_ids=[description.pk]), reviewers=people[1:], per_item=2, assigned_by=editor
    )
    assert description_assignees(description_ids=[description.pk]) == {description.pk: ["bob", "cat"]}


def test_assignable_reviewers_are_active_users_with_a_role():
    roles_ensure()
    rita, gone = UserFactory(username="rita"), UserFactory(username="gone", is_active=False)
    UserFactory(username="nobody")
    for user in (rita, gone):
        user.groups.add(Group.objects.get(name=REVIEWER))
    assert list(assignable_reviewers()) == [rita]


# --- The queue: "assigned to me" and Next ----------------------------------------------------


def test_assigned_filter_shows_only_what_is_assigned_to_the_reviewer(people, editor):
    mine, theirs = make_review_description(risk=0.3), make_review_description(risk=0.9)
    make_review_description(risk=0.5)
    descriptions_assign(scope=assignment_scope(description_ids=[mine.pk]), reviewers=people[:1], assigned_by=editor)
    descriptions_assign(scope=assignment_scope(description_ids=[theirs.pk]), reviewers=people[1:2], assigned_by=editor)
    page = queue_page(user=people[0], filters=QueueFilters(assigned=True))
    assert [item.id for item in page.items] == [mine.pk]
    assert len(queue_page(user=people[0], filters=QueueFilters()).items) == 3


def test_next_prefers_assigned_items_then_the_rest(people, editor):
    ann = people[0]
    riskiest, assigned_low, middle = (make_review_description(risk=r) for r in (0.9, 0.1, 0.5))
    descriptions_assign(scope=assignment_scope(description_ids=[assigned_low.pk]), reviewers=[ann], assigned_by=editor)
    assert queue_next_candidates(user=ann, filters=QueueFilters()) == [assigned_low.pk, riskiest.pk, middle.pk]
    assert queue_next_candidates(user=ann, filters=QueueFilters(assigned=True)) == [assigned_low.pk]
    # Someone else's claim on the assigned item: Next falls back to the riskiest of the rest.
    description_review_claim(description=assigned_low, reviewer=people[1])
    got = description_review_next(reviewer=ann, candidates=queue_next_candidates(user=ann, filters=QueueFilters()))
    assert got.pk == riskiest.pk
    assert queue_next_candidates(user=ann, filters=QueueFilters(assigned=True)) == []


def test_an_item_assigned_to_two_reviewers_is_claimable_by_each_in_turn(people, editor):
    ann, bob = people[:2]
    description = make_review_description()
    descriptions_assign(
        scope=assignment_scope(description_ids=[description.pk]), reviewers=[ann, bob], per_item=2, assigned_by=editor
    )
    filters = QueueFilters(assigned=True)
    assert description_review_next(reviewer=ann, candidates=queue_next_candidates(user=ann, filters=filters)).pk == (
        description.pk
    )
    assert queue_next_candidates(user=bob, filters=filters) == []  # ann holds it
    Description.objects.filter(pk=description.pk).update(review_claimed_by=None, review_claimed_until=None)
    assert queue_next_candidates(user=bob, filters=filters) == [description.pk]

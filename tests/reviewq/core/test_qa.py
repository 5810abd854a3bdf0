"""QA samples are drawn at publish time, through the one door, at each catalog's rates."""

import math

import pytest
from django.utils import timezone

from reviewq.core.audit import AuditAction
from reviewq.core.models import AuditEvent, Description, DescriptionStatus, Product, QASample
from reviewq.core.qa import qa_draw
from reviewq.core.transitions import descriptions_transition_where
from tests.factories import UserFactory
from tests.reviewq.qa_data import published_by_gate, published_by_review, sampled_catalog

pytestmark = pytest.mark.django_db
S = DescriptionStatus
N = 1000


def _in_review(catalog, n: int) -> list[int]:
    products = Product.objects.bulk_create(
        [Product(catalog=catalog, sku=f"QA-{i:05d}", name=f"P {i}") for i in range(n)]
    )
    rows = Description.objects.bulk_create([Description(product=p, status=S.REVIEW) for p in products])
    return [row.pk for row in rows]


def _publish(ids: list[int], action: str, actor=None) -> None:
    descriptions_transition_where(
        descriptions=Description.objects.filter(pk__in=ids),
        from_statuses=[S.REVIEW],
        to_status=S.PUBLISHED,
        action=action,
        actor=actor,
    )


def _binomial_bounds(n: int, p: float, sds: float = 4.0) -> tuple[float, float]:
    sd = math.sqrt(n * p * (1 - p))
    return n * p - sds * sd, n * p + sds * sd


@pytest.mark.parametrize(
    ("action", "reason", "auto", "approved"),
    [(AuditAction.REGATED, "auto", 0.1, 0.0), (AuditAction.REVIEW_APPROVED, "approved", 0.0, 0.3)],
)
def test_sampling_rate_is_respected_on_1000_publishes(action, reason, auto, approved):
    catalog = sampled_catalog(auto=auto, approved=approved)
    rate = auto or approved
    ids = _in_review(catalog, N)
    actor = UserFactory() if reason == "approved" else None
    _publish(ids, action, actor)
    samples = QASample.objects.filter(description_id__in=ids)
    low, high = _binomial_bounds(N, rate)
    assert low <= samples.count() <= high
    # Exactly the publishes whose seeded draw is under the rate, with the draw and rate recorded.
    expected = {pk for pk in ids if qa_draw(description_id=pk) < rate}
    assert set(samples.values_list("description_id", flat=True)) == expected
    assert set(samples.values_list("reason", "rate").distinct()) == {(reason, rate)}
    assert all(row.draw == qa_draw(description_id=row.description_id) for row in samples)
    assert set(samples.values_list("first_reviewer_id", flat=True)) == {actor.pk if actor else None}
    assert AuditEvent.objects.filter(action=AuditAction.QA_SAMPLED).count() == len(expected)


def test_draws_are_reproducible_and_uniform():
    draws = [qa_draw(description_id=pk) for pk in range(1, 5001)]
    assert draws == [qa_draw(description_id=pk) for pk in range(1, 5001)]
    assert all(0 <= d < 1 for d in draws)
    # Mean of 5000 uniforms: sd 0.0041; deciles within 4 binomial sds of 500.
    assert abs(sum(draws) / len(draws) - 0.5) < 0.02
    low, high = _binomial_bounds(5000, 0.1)
    assert all(low <= sum(k / 10 <= d < (k + 1) / 10 for d in draws) <= high for k in range(10))


def test_rate_zero_and_other_publishes_draw_nothing():
    catalog = sampled_catalog(auto=0.0, approved=0.0)
    _publish(_in_review(catalog, 50), AuditAction.REGATED)
    # An admin publishing a reverted revision is neither population.
    _publish(_in_review(sampled_catalog(), 20), AuditAction.REVISION_PUBLISHED)
    assert not QASample.objects.exists()


def test_approval_and_gate_publishing_are_sampled_with_their_reason():
    catalog = sampled_catalog()
    reviewer = UserFactory()
    approved = published_by_review(reviewer=reviewer, catalog=catalog)
    auto = published_by_gate(catalog=catalog)
    assert (approved.reason, approved.first_reviewer_id, approved.status) == ("approved", reviewer.pk, "open")
    assert (auto.reason, auto.first_reviewer_id) == ("auto", None)
    assert auto.created_at <= timezone.now()

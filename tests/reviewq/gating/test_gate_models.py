"""Fitting, adopting and reverting gate models: cross-validated figures, the fallback to all
catalogs, audit rows, and one adopted model per scope (held by the database)."""

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from reviewq.core.models import AuditEvent, GateModel
from reviewq.gating.gate_models import (
    GateModelError,
    GateScope,
    adopted_gate_model,
    calibration_cutoff,
    calibration_flag_cutoff,
    gate_model_adopt,
    gate_model_fit,
    gate_model_revert,
)
from reviewq.gating.inference import check_model
from tests.factories import CatalogFactory, UserFactory
from tests.reviewq.gating.gate_model_data import make_labelled

pytestmark = pytest.mark.django_db


def _fit(**kwargs):
    kwargs.setdefault("model_name", "m1")
    kwargs.setdefault("target_escape", 0.3)
    kwargs.setdefault("confidence", 0.9)
    kwargs.setdefault("actor", None)
    return gate_model_fit(**kwargs)


def test_fit_is_cross_validated_by_product_and_audited():
    make_labelled(products=8, sentences=15)
    make_labelled(model="other", products=3)
    admin = UserFactory()
    fitted = _fit(actor=admin)
    check_model(fitted.weights)
    m = fitted.metrics
    assert m["n_labels"] == 120 and m["n_products"] == 8 and m["cv_folds"] == 4
    assert m["roc_auc"]["fitted"] > 0.7 and m["roc_auc"]["mean_logprob"] > 0.7
    assert set(m["roc_auc"]) == set(m["pr_auc"]) == {"fitted", "gate", "mean_logprob"}
    assert sum(b["sentences"] for b in m["reliability"]) == 120
    for fold in m["folds"]:
        assert not set(fold["train_groups"]) & set(fold["test_groups"])
    assert (fitted.version, fitted.adopted, fitted.fell_back, fitted.created_by) == (1, False, False, admin)
    cut = calibration_cutoff(fitted.calibration, target_escape=0.3, confidence=0.9)
    assert (cut.cutoff, cut.labels_needed) == (fitted.publish_cutoff, fitted.labels_needed)
    event = AuditEvent.objects.get(action="gate_model_fitted")
    assert event.actor == admin and event.after["version"] == 1 and event.after["n_labels"] == 120
    assert _fit().version == 2


def test_a_catalog_with_too_few_labels_falls_back_to_all_catalogs():
    small, big = CatalogFactory(), CatalogFactory()
    make_labelled(catalog=small, products=2, sentences=5)
    make_labelled(catalog=big, products=6, sentences=10, seed=1)
    fitted = _fit(catalog=small, min_labels=50)
    assert fitted.fell_back and fitted.catalog == small and fitted.metrics["n_labels"] == 70
    assert "too few" in AuditEvent.objects.get(action="gate_model_fitted").note
    own = _fit(catalog=big, min_labels=50)
    assert not own.fell_back and own.metrics["n_labels"] == 60


def test_too_few_labels_publishes_nothing_and_says_how_many_more():
    make_labelled(products=3, sentences=6)
    fitted = _fit(target_escape=0.02, confidence=0.95)
    assert fitted.publish_cutoff is None and fitted.labels_needed != 0


def test_fit_refused_without_two_products():
    make_labelled(products=1)
    with pytest.raises(GateModelError, match="two products"):
        _fit()
    assert not GateModel.objects.exists() and not AuditEvent.objects.exists()


def test_adopt_and_revert_are_audited_and_revert_re_adopts_what_was_replaced():
    make_labelled(products=5)
    admin = UserFactory()
    first, second, third = _fit(), _fit(), _fit()
    scope = GateScope(model_name="m1")
    gate_model_adopt(gate_model=first, actor=admin)
    gate_model_adopt(gate_model=third, actor=admin)
    assert adopted_gate_model(model_name="m1") == third
    assert list(GateModel.objects.filter(adopted=True)) == [third]
    assert gate_model_revert(scope=scope, actor=admin) == first
    assert adopted_gate_model(model_name="m1") == first
    assert gate_model_revert(scope=scope, actor=admin) is None
    assert adopted_gate_model(model_name="m1") is None
    with pytest.raises(GateModelError):
        gate_model_revert(scope=scope, actor=admin)
    actions = list(
        AuditEvent.objects.filter(action__startswith="gate_model_")
        .order_by("id")
        .values_list("action", "before__version", "after__version")
    )
    assert actions[3:] == [
        ("gate_model_adopted", None, 1),
        ("gate_model_adopted", 1, 3),
        ("gate_model_reverted", 3, 1),
        ("gate_model_reverted", 1, None),
    ]
    assert second.adopted_at is None


def test_the_adopted_model_is_read_in_one_query_the_catalogs_own_first(django_assert_num_queries):
    make_labelled(products=4)
    catalog, other = CatalogFactory(), CatalogFactory()
    weights = _fit().weights
    # The catalog's own model gets the lower primary key: it must win by scope, not by order.
    own = GateModel.objects.create(
        model_name="m1", catalog=catalog, version=1, weights=weights, target_escape=0.1, confidence=0.9
    )
    for_all = GateModel.objects.create(
        model_name="m1", catalog=None, version=9, weights=weights, target_escape=0.1, confidence=0.9
    )
    GateModel.objects.filter(pk__in=[own.pk, for_all.pk]).update(adopted=True, adopted_at=timezone.now())
    with django_assert_num_queries(1):
        assert adopted_gate_model(model_name="m1", catalog_id=catalog.pk) == own
    with django_assert_num_queries(1):
        assert adopted_gate_model(model_name="m1", catalog_id=other.pk) == for_all
    with django_assert_num_queries(1):
        assert adopted_gate_model(model_name="m1") == for_all
    with django_assert_num_queries(1):
        assert adopted_gate_model(model_name="m2", catalog_id=catalog.pk) is None
    GateModel.objects.filter(pk=for_all.pk).update(adopted=False)
    assert adopted_gate_model(model_name="m1", catalog_id=other.pk) is None
    assert adopted_gate_model(model_name="m1", catalog_id=catalog.pk).weights == weights


def test_the_database_holds_one_adopted_model_per_scope():
    make_labelled(products=4)
    catalog = CatalogFactory()
    first, second = _fit(), _fit()
    in_catalog = GateModel.objects.create(
        model_name="m1", catalog=catalog, version=1, weights=first.weights, target_escape=0.1, confidence=0.9
    )
    gate_model_adopt(gate_model=first, actor=None)
    gate_model_adopt(gate_model=in_catalog, actor=None)  # another scope: allowed
    assert adopted_gate_model(model_name="m1", catalog_id=catalog.pk) == in_catalog
    assert adopted_gate_model(model_name="m1", catalog_id=catalog.pk + 1) == first
    with pytest.raises(IntegrityError), transaction.atomic():
        GateModel.objects.filter(pk=second.pk).update(adopted=True, adopted_at=first.adopted_at)


def test_fit_certifies_a_flag_cut_off_at_a_target_catch_rate_and_adopt_audits_it():
    make_labelled(products=8, sentences=15)
    fitted = _fit(target_catch=0.5)
    flag = calibration_flag_cutoff(fitted.calibration, target_catch=0.5, confidence=0.9)
    assert flag.cutoff is not None and flag.lower_bound >= 0.5
    assert (fitted.target_catch, fitted.flag_cutoff, fitted.flag_labels_needed) == (0.5, flag.cutoff, 0)
    m = fitted.metrics
    assert (m["flagged"], m["flag_caught"], m["flag_lower_bound"]) == (flag.flagged, flag.caught, flag.lower_bound)
    gate_model_adopt(gate_model=fitted, actor=None)
    after = AuditEvent.objects.get(action="gate_model_adopted").after
    assert (after["target_catch"], after["flag_cutoff"]) == (0.5, flag.cutoff)
    # Without a catch target nothing is flagged by the fitted risk.
    assert _fit().flag_cutoff is None
    with pytest.raises(GateModelError):
        _fit(target_catch=1.0)

import itertools

import pytest
from django.utils import timezone

from reviewq.core.models import AuditEvent, Description, DescriptionStatus, GateModel, Sentence, Thresholds
from reviewq.gating.gate import GateThresholds, band_for
from reviewq.gating.service import (
    adopted_gate_model,
    band_expression,
    gate_config,
    sentence_reasons,
    sentences_regate,
    thresholds_for_catalog,
    thresholds_update,
)
from tests.factories import CatalogFactory, DescriptionFactory, SentenceFactory, UserFactory

pytestmark = pytest.mark.django_db
S = DescriptionStatus


def _description(catalog, status=S.REVIEW):
    return DescriptionFactory(
        product__catalog=catalog, status=status, published_at=timezone.now() if status == S.PUBLISHED else None
    )


def test_thresholds_catalog_override_then_global_then_defaults():
    catalog = CatalogFactory()
    assert thresholds_for_catalog(catalog_id=catalog.pk) == GateThresholds()
    Thresholds.objects.create(publish_above=-0.7, flag_below=-2.0)
    assert thresholds_for_catalog(catalog_id=catalog.pk).publish_above == -0.7
    Thresholds.objects.create(catalog=catalog, publish_above=-0.2, flag_below=-1.0, critical_floor=-3.0)
    assert thresholds_for_catalog(catalog_id=catalog.pk) == GateThresholds(-0.2, -1.0, -3.0)
    assert thresholds_for_catalog(catalog_id=CatalogFactory().pk).publish_above == -0.7


def _gate_model(model_name, catalog, version, intercept):
    weights = {"features": ["neg_mean_logprob"], "mean": [0.0], "scale": [1.0], "coef": [1.0], "intercept": intercept}
    return GateModel.objects.create(
        model_name=model_name,
        catalog=catalog,
        version=version,
        weights=weights,
        target_escape=0.1,
        confidence=0.95,
        publish_cutoff=0.3,
    )


def test_gate_config_reads_what_the_two_orm_reads_read_through_every_change():
    """The one statement storage reads (gate_config) against thresholds_for_catalog and
    adopted_gate_model, for every scope, after each change an admin can make; the process's
    cached model row must follow adoptions and reverts."""
    own, other = CatalogFactory(), CatalogFactory()

    def same():
        for catalog_id in (own.pk, other.pk, None):
            for model_name in ("m", "n"):
                thresholds, model = gate_config(catalog_id=catalog_id, model_name=model_name)
                assert thresholds == thresholds_for_catalog(catalog_id=catalog_id)
                expected = adopted_gate_model(model_name=model_name, catalog_id=catalog_id)
                assert (model and (model.pk, model.weights, model.publish_cutoff)) == (
                    expected and (expected.pk, expected.weights, expected.publish_cutoff)
                )

    same()
    Thresholds.objects.create(publish_above=-0.7, flag_below=-2.0)
    same()
    Thresholds.objects.create(catalog=own, publish_above=-0.2, flag_below=-1.0, critical_floor=-3.0)
    same()
    everywhere = _gate_model("m", None, 1, 0.5)
    mine = _gate_model("m", own, 1, -0.5)
    same()
    GateModel.objects.filter(pk=everywhere.pk).update(adopted=True, adopted_at=timezone.now())
    same()
    GateModel.objects.filter(pk=mine.pk).update(adopted=True, adopted_at=timezone.now())
    same()
    assert gate_config(catalog_id=own.pk, model_name="m")[1].pk == mine.pk
    GateModel.objects.filter(pk=mine.pk).update(adopted=False)
    replacement = _gate_model("m", own, 2, 1.5)
    GateModel.objects.filter(pk=replacement.pk).update(adopted=True, adopted_at=timezone.now())
    same()
    Thresholds.objects.filter(catalog=own).update(publish_above=-0.4)
    same()
    Thresholds.objects.filter(catalog=own).delete()
    GateModel.objects.filter(pk=everywhere.pk).delete()
    same()


def test_sql_band_matches_the_python_band_for_every_combination():
    description = DescriptionFactory()
    thresholds = GateThresholds(publish_above=-0.5, flag_below=-1.5, critical_floor=-2.3)
    combos = itertools.product(
        [None, -0.1, -0.5, -1.0, -1.5, -3.0], [None, -1.0, -2.3, -4.0], [False, True], [False, True]
    )
    expected = {}
    for index, (mean, critical, hard, warning) in enumerate(combos):
        SentenceFactory(
            description=description,
            index=index,
            mean_logprob=mean,
            critical_min_logprob=critical,
            hard_flag=hard,
            has_warning=warning,
            band="review",
        )
        expected[index] = band_for(
            {
                "hard_flag": hard,
                "has_logprobs": mean is not None,
                "mean_logprob": mean,
                "critical_min_logprob": critical,
                "has_warning": warning,
            },
            thresholds,
        )
    got = dict(
        Sentence.objects.filter(description=description)
        .annotate(sql_band=band_expression(thresholds))
        .values_list("index", "sql_band")
    )
    assert got == expected


def test_regate_moves_undecided_sentences_and_descriptions_but_not_reviewer_decisions():
    catalog = CatalogFactory()
    admin = UserFactory()
    waiting = _description(catalog)
    SentenceFactory(description=waiting, index=0, mean_logprob=-0.8, band="review")
    SentenceFactory(description=waiting, index=1, mean_logprob=-0.1, band="publish")
    decided = _description(catalog)
    SentenceFactory(
        description=decided,
        index=0,
        mean_logprob=-0.8,
        band="review",
        decision="approved",
        decided_at=timezone.now(),
    )
    SentenceFactory(description=decided, index=1, mean_logprob=-3.0, band="flag")
    auto_published = _description(catalog, S.PUBLISHED)
    SentenceFactory(description=auto_published, index=0, mean_logprob=-0.4, band="publish")
    rejected = _description(catalog, S.REJECTED)
    SentenceFactory(description=rejected, index=0, mean_logprob=-0.8, band="review")

    # Looser publish threshold: -0.8 now publishes.
    result = thresholds_update(catalog=catalog, publish_above=-1.0, flag_below=-2.0, critical_floor=-2.3, actor=admin)
    assert result.published == 1 and result.back_to_review == 0
    waiting.refresh_from_db()
    assert waiting.status == S.PUBLISHED and waiting.published_at is not None
    assert Sentence.objects.get(description=decided, index=0).band == "review"  # decided: untouched
    assert Description.objects.get(pk=decided.pk).status == S.REVIEW  # its -3.0 sentence still flags
    assert Description.objects.get(pk=rejected.pk).status == S.REJECTED
    assert Sentence.objects.get(description=rejected).band == "review"

    # Stricter: live copies stay live (demoting one would drop it from exports).
    result = thresholds_update(catalog=catalog, publish_above=-0.3, flag_below=-2.0, critical_floor=-2.3, actor=admin)
    assert result.back_to_review == 0
    assert Description.objects.get(pk=auto_published.pk).status == S.PUBLISHED
    assert Description.objects.get(pk=waiting.pk).status == S.PUBLISHED
    events = AuditEvent.objects.filter(action="regated")
    assert events.count() == 1 and all(e.actor == admin for e in events)
    change = AuditEvent.objects.filter(action="thresholds_changed").first()
    assert change.before["publish_above"] == -1.0 and change.after["publish_above"] == -0.3


def test_global_thresholds_do_not_regate_a_catalog_with_its_own():
    own = CatalogFactory()
    Thresholds.objects.create(catalog=own, publish_above=-0.5, flag_below=-1.5)
    description = _description(own)
    SentenceFactory(description=description, index=0, mean_logprob=-0.8, band="review")
    thresholds_update(catalog=None, publish_above=-1.0, flag_below=-2.0, critical_floor=-2.3)
    assert Sentence.objects.get(description=description).band == "review"
    assert sentences_regate(catalog=own).sentences_changed == 0


def test_publish_confident_now_policy_publishes_with_one_confident_sentence():
    catalog = CatalogFactory(publish_confident_now=True)
    description = _description(catalog)
    SentenceFactory(description=description, index=0, mean_logprob=-0.1, band="review")
    SentenceFactory(description=description, index=1, mean_logprob=-1.0, band="review")
    sentences_regate(catalog=catalog)
    assert Description.objects.get(pk=description.pk).status == S.PUBLISHED


@pytest.mark.parametrize(
    "values",
    [
        {"publish_above": -2.0, "flag_below": -1.0, "critical_floor": -2.3},
        {"publish_above": 0.5, "flag_below": -1.0, "critical_floor": -2.3},
    ],
)
def test_bad_thresholds_are_refused_and_nothing_changes(values):
    with pytest.raises(ValueError):
        thresholds_update(catalog=None, **values)
    assert not Thresholds.objects.exists() and not AuditEvent.objects.exists()


def test_threshold_reasons_are_derived_for_display():
    sentence = SentenceFactory(mean_logprob=-1.9, reasons=["meta text, not product copy"])
    reasons = sentence_reasons(sentence, GateThresholds())
    assert reasons[0] == "meta text, not product copy"
    assert reasons[1] == "mean logprob -1.9 below flag threshold -1.5"


def test_a_regate_leaves_a_draft_beside_a_live_copy_for_a_reviewer():
    catalog = CatalogFactory()
    live = _description(catalog, status=S.PUBLISHED)
    draft = DescriptionFactory(product=live.product, status=S.REVIEW)
    SentenceFactory(description=draft, index=0, mean_logprob=-0.8, band="review")
    alone = _description(catalog)
    SentenceFactory(description=alone, index=0, mean_logprob=-0.8, band="review")
    result = thresholds_update(catalog=catalog, publish_above=-1.0, flag_below=-2.0, critical_floor=-2.3)
    assert result.published == 1
    assert Description.objects.get(pk=alone.pk).status == S.PUBLISHED
    assert Description.objects.get(pk=draft.pk).status == S.REVIEW
    assert Description.objects.get(pk=live.pk).status == S.PUBLISHED
    assert not AuditEvent.objects.filter(action="revision_superseded").exists()

"""Reviewer decisions as labels: each decision kind, regenerations, auto-published ones left out."""

import pytest
from django.utils import timezone

from reviewq.core.models import (
    Description,
    DescriptionStatus,
    ErrorCategory,
    QASample,
    QAVerdict,
    Sentence,
    SentenceRegeneration,
)
from reviewq.gating.labels import labelled_model_names, sentence_labels_list
from reviewq.review.revisions import description_revert
from tests.factories import CatalogFactory, ProductFactory, UserFactory
from tests.reviewq.gating.gate_model_data import signals_for

pytestmark = pytest.mark.django_db


def _description(model="m1", catalog=None, status=DescriptionStatus.REVIEW):
    product = ProductFactory(**({"catalog": catalog} if catalog else {}))
    published = timezone.now() if status == DescriptionStatus.PUBLISHED else None
    return Description.objects.create(product=product, status=status, model=model, published_at=published)


def _sentence(description, index, *, decision="", band="review", substitutions=None, mean=-0.5, category=None):
    return Sentence.objects.create(
        description=description,
        index=index,
        char_start=index,
        char_end=index + 1,
        text="x",
        band=band,
        decision=decision,
        edited_text="y" if decision == "edited" else "",
        decided_at=timezone.now() if decision else None,
        substitutions=substitutions or {},
        error_category=category,
        mean_logprob=mean,
        signals=signals_for(mean),
    )


def test_each_decision_kind_becomes_its_label(django_assert_num_queries):
    description = _description()
    _sentence(description, 0, decision="approved", mean=-0.1)
    _sentence(description, 1, decision="edited", mean=-1.1)
    _sentence(description, 2, decision="edited", substitutions={"3": "steel"}, mean=-1.2)
    _sentence(description, 3, decision="rejected", mean=-1.3)
    _sentence(description, 4)  # undecided: no label
    _sentence(description, 5, band="publish")  # would auto-publish: nobody checked it
    SentenceRegeneration.objects.create(
        description=description,
        sentence_index=4,
        status="done",
        result_version=2,
        finished_at=timezone.now(),
        original_text="old",
        original_signals=signals_for(-2.0),
    )
    # an open request and one without stored signals (made before 0007) are no labels
    SentenceRegeneration.objects.create(description=description, sentence_index=1, original_text="x")
    SentenceRegeneration.objects.create(
        description=description,
        sentence_index=0,
        status="done",
        result_version=3,
        finished_at=timezone.now(),
        original_text="x",
    )
    with django_assert_num_queries(2):
        labels = sentence_labels_list(model_name="m1")
    assert [(label.kind, label.error, label.signals["mean_logprob"]) for label in labels] == [
        ("approved", False, -0.1),
        ("edited", True, -1.1),
        ("substituted", True, -1.2),
        ("removed", True, -1.3),
        ("regenerated", True, -2.0),
    ]
    assert {label.group for label in labels} == {str(description.product_id)}
    assert {label.model_name for label in labels} == {"m1"}


def test_auto_published_descriptions_give_no_labels():
    published = _description(status=DescriptionStatus.PUBLISHED)
    _sentence(published, 0, band="publish")
    _sentence(published, 1, band="publish")
    assert sentence_labels_list(model_name="m1") == []


def test_labels_are_scoped_by_model_name_and_catalog():
    catalog = CatalogFactory()
    _sentence(_description("m1", catalog), 0, decision="approved")
    _sentence(_description("m1"), 0, decision="rejected")
    _sentence(_description("m2"), 0, decision="approved")
    assert len(sentence_labels_list(model_name="m1")) == 2
    assert [label.kind for label in sentence_labels_list(model_name="m1", catalog_id=catalog.pk)] == ["approved"]
    assert len(sentence_labels_list()) == 3
    assert labelled_model_names() == ["m1", "m2"]


def test_a_change_tagged_style_only_is_an_ok_label(django_assert_num_queries):
    """Categories come from the seeding migration: "Style only" does not count as an error."""
    style = ErrorCategory.objects.get(label="Style only")
    invented = ErrorCategory.objects.get(label="Invented fact")
    assert not style.counts_as_error and invented.counts_as_error
    description = _description()
    _sentence(description, 0, decision="edited", category=style, mean=-0.1)
    _sentence(description, 1, decision="edited", substitutions={"3": "steel"}, category=style, mean=-0.2)
    _sentence(description, 2, decision="rejected", category=style, mean=-0.3)
    _sentence(description, 3, decision="edited", category=invented, mean=-1.1)
    _sentence(description, 4, decision="rejected", category=invented, mean=-1.2)
    _sentence(description, 5, decision="edited", mean=-1.3)  # no reason given: still an error
    with django_assert_num_queries(2):
        labels = sentence_labels_list(model_name="m1")
    assert [(label.kind, label.error) for label in labels] == [
        ("edited", False),
        ("substituted", False),
        ("removed", False),
        ("edited", True),
        ("removed", True),
        ("edited", True),
    ]
    # An admin turning a category into an error re-labels its sentences, set-based.
    ErrorCategory.objects.filter(pk=style.pk).update(counts_as_error=True)
    assert all(label.error for label in sentence_labels_list(model_name="m1"))


def _qa_verdict(description, sentence, verdict, *, resolved=""):
    sample, _ = QASample.objects.get_or_create(
        description=description, defaults={"reason": "auto", "draw": 0.1, "rate": 0.5}
    )
    return QAVerdict.objects.create(
        sample=sample,
        sentence=sentence,
        verdict=verdict,
        decided_at=timezone.now(),
        resolved=resolved,
        resolved_at=timezone.now() if resolved else None,
    )


def test_a_qa_verdict_overrides_the_first_decision_and_a_resolution_overrides_both(django_assert_num_queries):
    description = _description(status=DescriptionStatus.PUBLISHED)
    approved = _sentence(description, 0, decision="approved", mean=-0.1)
    edited = _sentence(description, 1, decision="edited", mean=-1.1)
    agreed = _sentence(description, 2, decision="approved", mean=-0.2)
    auto = _sentence(description, 3, band="publish", mean=-0.3)
    _sentence(description, 4, band="publish", mean=-0.4)  # auto-published, not checked: no label
    _qa_verdict(description, approved, "wrong")
    _qa_verdict(description, edited, "wrong", resolved="ok")
    _qa_verdict(description, agreed, "ok")
    _qa_verdict(description, auto, "wrong")
    with django_assert_num_queries(2):
        labels = sentence_labels_list()
    assert sorted((label.signals["mean_logprob"], label.kind, label.error) for label in labels) == [
        (-1.1, "qa", False),
        (-0.3, "qa", True),
        (-0.2, "approved", False),
        (-0.1, "qa", True),
    ]


def test_decisions_copied_into_a_new_revision_are_not_labels_twice():
    live = _description(status=DescriptionStatus.PUBLISHED)
    _sentence(live, 0, decision="approved", mean=-0.1)
    _sentence(live, 1, decision="rejected", mean=-1.5)
    draft = description_revert(revision=live, actor=UserFactory())
    assert draft.sentences.exclude(decision="").count() == 2
    assert sorted(label.kind for label in sentence_labels_list()) == ["approved", "removed"]

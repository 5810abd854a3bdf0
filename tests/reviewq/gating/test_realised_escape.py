"""The realised escape rate of an adopted gate model: reviewed sentences it publishes by its
fitted risk (as generated), decided after the adoption, counted in SQL like the pure inference."""

from datetime import timedelta

import pytest
from django.utils import timezone

from reviewq.core.models import ErrorCategory, GateModel, Sentence, SentenceRegeneration
from reviewq.gating.cutoffs import clopper_pearson_lower, clopper_pearson_upper
from reviewq.gating.gate_models import realised_escape
from reviewq.gating.inference import fitted_band, fitted_risk
from reviewq.gating.labels import sentence_labels_list
from tests.reviewq.gating.gate_model_data import make_labelled, signals_for

pytestmark = pytest.mark.django_db

WEIGHTS = {"features": ["neg_mean_logprob"], "mean": [0.0], "scale": [1.0], "coef": [2.0], "intercept": -2.0}


def _adopted(*, cutoff: float | None = 0.3, target: float = 0.1, **kwargs) -> GateModel:
    return GateModel.objects.create(
        model_name="m1",
        version=1,
        weights=WEIGHTS,
        target_escape=target,
        confidence=0.9,
        publish_cutoff=cutoff,
        adopted=True,
        adopted_at=timezone.now() - timedelta(hours=1),
        **kwargs,
    )


def _expected(gate_model: GateModel) -> tuple[int, int]:
    """The same count, sentence by sentence through inference.fitted_band."""
    n = k = 0
    rows = Sentence.objects.filter(description__model="m1", decided_at__gt=gate_model.adopted_at).exclude(decision="")
    for sentence in rows:
        signals = sentence.signals if sentence.generated_score is None else sentence.generated_score["signals"]
        risk = fitted_risk(signals, WEIGHTS)
        band = fitted_band(
            hand_band="review",
            signals=signals,
            risk=risk,
            cutoff=gate_model.publish_cutoff,
            flag_cutoff=gate_model.flag_cutoff,
        )
        if band == "publish":
            n, k = n + 1, k + (sentence.decision != "approved")
    for regeneration in SentenceRegeneration.objects.filter(created_at__gt=gate_model.adopted_at, status="done"):
        signals = regeneration.original_signals
        risk = fitted_risk(signals, WEIGHTS)
        band = fitted_band(
            hand_band="review",
            signals=signals,
            risk=risk,
            cutoff=gate_model.publish_cutoff,
            flag_cutoff=gate_model.flag_cutoff,
        )
        if band == "publish":
            n, k = n + 1, k + 1
    return n, k


# 0.15: a flag cut-off below the publish one (a high catch target) flags some sentences the
# publish cut-off alone would publish (fitted_band checks the flag cut-off first).
@pytest.mark.parametrize("flag_cutoff", [None, 0.15])
def test_realised_escape_counts_what_the_model_publishes_and_reviewers_decided_after_adoption(flag_cutoff):
    gate_model = _adopted(flag_cutoff=flag_cutoff)
    descriptions = make_labelled(products=4, sentences=12)
    make_labelled(model="other", products=2, sentences=6, seed=3)
    first = descriptions[0].sentences.order_by("index")
    # Decided before the adoption: not counted.
    Sentence.objects.filter(pk=first[0].pk).update(decided_at=gate_model.adopted_at - timedelta(minutes=5))
    # An edit re-gated the sentence: its generated text (low risk) counts, not the edited one.
    Sentence.objects.filter(pk=first[1].pk).update(
        decision="edited", signals={"has_logprobs": False}, generated_score={"signals": signals_for(-0.1)}
    )
    # Low risk but hard-flagged or warned: never published.
    Sentence.objects.filter(pk=first[2].pk).update(signals={**signals_for(-0.1), "hard_flag": True})
    Sentence.objects.filter(pk=first[3].pk).update(signals={**signals_for(-0.1), "has_warning": True})
    Sentence.objects.filter(pk=first[4].pk).update(signals={**signals_for(-0.1), "mean_logprob": None})
    for signals in (signals_for(-0.2), signals_for(-2.0), {**signals_for(-0.2), "hard_flag": True}):
        SentenceRegeneration.objects.create(
            description=descriptions[1],
            sentence_index=0,
            status="done",
            original_text="Old.",
            original_signals=signals,
            result_version=2,
            finished_at=timezone.now(),
        )
    n, k = _expected(gate_model)
    assert 0 < k < n
    realised = realised_escape(gate_model)
    assert (realised.sentences, realised.errors) == (n, k)
    assert realised.rate == pytest.approx(k / n)
    assert realised.lower == pytest.approx(clopper_pearson_lower(k, n, 0.9))
    assert realised.upper == pytest.approx(clopper_pearson_upper(k, n, 0.9))


def test_realised_escape_warns_when_its_lower_bound_exceeds_the_target():
    gate_model = _adopted(target=0.05)
    make_labelled(products=4, sentences=12)
    Sentence.objects.update(signals=signals_for(-0.1), decision="approved", edited_text="")  # all would publish
    Sentence.objects.filter(index__lt=6).update(decision="rejected")  # half of them wrong
    realised = realised_escape(gate_model)
    assert realised.sentences == 48 and realised.errors == 24
    assert realised.lower > 0.05 and realised.exceeds_target
    Sentence.objects.update(decision="approved")
    assert not realised_escape(gate_model).exceeds_target


def test_no_realised_escape_without_an_adopted_publishing_model():
    make_labelled(products=2)
    assert realised_escape(_adopted(cutoff=None)) is None
    GateModel.objects.update(adopted=False)
    assert realised_escape(GateModel.objects.get()) is None


def test_a_style_only_change_is_no_escape_as_it_is_no_error_label():
    """The realised escape counts errors as the labels do (reviewq/gating/labels.py): a sentence
    changed for style only (a category that does not count as an error) is an ok label."""
    gate_model = _adopted(target=0.05)
    make_labelled(products=4, sentences=12)
    style, _ = ErrorCategory.objects.update_or_create(key="9", defaults={"label": "Tone", "counts_as_error": False})
    wrong, _ = ErrorCategory.objects.update_or_create(key="8", defaults={"label": "Fact", "counts_as_error": True})
    Sentence.objects.update(signals=signals_for(-0.1), decision="approved", edited_text="")  # all would publish
    Sentence.objects.filter(index__lt=2).update(decision="edited", edited_text="Better.", error_category=style)
    Sentence.objects.filter(index=2).update(decision="rejected", error_category=wrong)
    Sentence.objects.filter(index=3).update(decision="rejected")  # no category: an error
    labels = sentence_labels_list(model_name="m1")
    realised = realised_escape(gate_model)
    assert realised.sentences == len(labels) == 48
    assert realised.errors == sum(label.error for label in labels) == 8

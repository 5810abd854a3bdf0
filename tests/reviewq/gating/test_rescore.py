"""Adopting a gate model re-scores undecided sentences in SQL, equal to the pure inference;
hard flags stay flagged; decided sentences and other models are left alone; revert hands back."""

import pytest
from django.utils import timezone

from reviewq.core.models import Description, DescriptionStatus, Sentence
from reviewq.gating.gate import description_risk
from reviewq.gating.gate_models import GateScope, gate_model_adopt, gate_model_fit, gate_model_revert
from reviewq.gating.inference import fitted_band, fitted_risk
from reviewq.gating.service import band_expression, queue_sentence_risk, thresholds_for_catalog
from tests.factories import ProductFactory
from tests.reviewq.gating.gate_model_data import make_labelled, signals_for

pytestmark = pytest.mark.django_db


def _setup():
    make_labelled(products=6, sentences=12)
    pending = make_labelled(products=3, sentences=8, seed=5, decided=False)
    other = make_labelled(model="other", products=2, sentences=4, seed=6, decided=False)
    hard = pending[0].sentences.get(index=0)
    hard.signals = {**signals_for(-0.05), "hard_flag": True, "n_conflicts": 1}
    hard.hard_flag, hard.mean_logprob = True, -0.05
    hard.save()
    warned = pending[0].sentences.get(index=1)
    warned.signals = {**signals_for(-0.05), "has_warning": True, "n_unsupported": 1}
    warned.has_warning, warned.mean_logprob = True, -0.05
    warned.save()
    # a big cut-off so that a good share publishes
    fitted = gate_model_fit(model_name="m1", target_escape=0.6, target_catch=0.9, confidence=0.6, actor=None)
    return fitted, pending, other, hard, warned


def test_adopt_rescores_undecided_sentences_like_the_pure_inference():
    fitted, pending, other, hard, warned = _setup()
    assert fitted.publish_cutoff is not None and fitted.flag_cutoff is not None
    decided_before = list(Sentence.objects.exclude(decision="").values_list("id", "band", "fitted_risk"))
    other_before = list(Sentence.objects.filter(description__in=other).values_list("id", "band", "fitted_risk"))
    gate_model_adopt(gate_model=fitted, actor=None)
    thresholds = thresholds_for_catalog(catalog_id=None)
    bands = set()
    for sentence in Sentence.objects.filter(description__in=pending):
        expected = fitted_risk(sentence.signals, fitted.weights)
        assert sentence.fitted_risk == pytest.approx(expected, abs=1e-9)
        hand = Sentence.objects.filter(pk=sentence.pk).annotate(hand=band_expression(thresholds)).get().hand
        assert sentence.band == fitted_band(
            hand_band=hand,
            signals=sentence.signals,
            risk=expected,
            cutoff=fitted.publish_cutoff,
            flag_cutoff=fitted.flag_cutoff,
        )
        bands.add((sentence.band, hand == "flag" or sentence.hard_flag))
    # publish, review, and flagged by the fitted risk alone
    assert {("publish", False), ("review", False), ("flag", False)} <= bands
    hard.refresh_from_db()
    warned.refresh_from_db()
    assert hard.band == "flag" and warned.band == "review"
    assert list(Sentence.objects.exclude(decision="").values_list("id", "band", "fitted_risk")) == decided_before
    assert list(Sentence.objects.filter(description__in=other).values_list("id", "band", "fitted_risk")) == other_before
    # descriptions follow their sentences: one whose sentences all publish is published
    for description in Description.objects.filter(pk__in=[d.pk for d in pending]):
        blocking = description.sentences.filter(decision="").exclude(band="publish").exists()
        assert description.status == (DescriptionStatus.REVIEW if blocking else DescriptionStatus.PUBLISHED)

    gate_model_revert(scope=GateScope(model_name="m1"), actor=None)
    assert not Sentence.objects.filter(description__in=pending, fitted_risk__isnull=False).exists()
    for sentence in Sentence.objects.filter(description__in=pending).annotate(hand=band_expression(thresholds)):
        assert sentence.band == sentence.hand


def test_fitted_band_never_publishes_a_hard_flag_or_a_warning():
    signals = signals_for(-0.01)
    assert fitted_band(hand_band="review", signals=signals, risk=0.0, cutoff=0.5) == "publish"
    assert fitted_band(hand_band="flag", signals=signals, risk=0.0, cutoff=0.5) == "flag"
    assert fitted_band(hand_band="review", signals={**signals, "hard_flag": True}, risk=0.0, cutoff=0.5) == "flag"
    assert fitted_band(hand_band="review", signals={**signals, "has_warning": True}, risk=0.0, cutoff=0.5) == "review"
    assert fitted_band(hand_band="review", signals={**signals, "mean_logprob": None}, risk=0.0, cutoff=0.5) == "review"
    assert fitted_band(hand_band="review", signals=signals, risk=0.0, cutoff=None) == "review"
    # The flag cut-off on the fitted risk only adds flags, also without logprobs.
    assert fitted_band(hand_band="review", signals=signals, risk=0.7, cutoff=0.8, flag_cutoff=0.7) == "flag"
    assert fitted_band(hand_band="review", signals=signals, risk=0.69, cutoff=0.8, flag_cutoff=0.7) == "publish"
    no_logprobs = {**signals, "mean_logprob": None, "has_logprobs": False}
    assert fitted_band(hand_band="review", signals=no_logprobs, risk=0.9, cutoff=0.5, flag_cutoff=0.7) == "flag"


def _queue_risks(descriptions, *, fitted: bool) -> dict[int, float]:
    return {
        d.pk: description_risk(
            queue_sentence_risk(r, f, fitted=fitted) for r, f in d.sentences.values_list("risk", "fitted_risk")
        )
        for d in descriptions
    }


def test_adopt_orders_the_queue_by_the_fitted_risk_and_revert_by_the_hand_set_one():
    fitted, pending, other, hard, _ = _setup()
    # Hand-set risks that disagree with the fitted ones; one sentence certain to be wrong (ln 0).
    for i, sentence in enumerate(Sentence.objects.filter(description__in=pending).order_by("id")):
        Sentence.objects.filter(pk=sentence.pk).update(risk=(i % 7) / 7)
    Sentence.objects.filter(pk=hard.pk).update(risk=1.0)
    # A sentence decided before the adoption keeps no fitted risk: its hand-set risk counts.
    decided = pending[1].sentences.get(index=2)
    Sentence.objects.filter(pk=decided.pk).update(decision="approved", decided_at=timezone.now(), risk=0.3)
    empty = Description.objects.create(product=ProductFactory(), status=DescriptionStatus.REVIEW, model="m1")
    other_before = list(Description.objects.filter(pk__in=[d.pk for d in other]).values_list("id", "risk"))
    gate_model_adopt(gate_model=fitted, actor=None)

    after = Description.objects.filter(pk__in=[d.pk for d in pending])
    expected = _queue_risks(after, fitted=True)
    assert expected != _queue_risks(after, fitted=False)
    for description in after:
        assert description.risk == pytest.approx(expected[description.pk], abs=1e-9)
    assert Description.objects.get(pk=empty.pk).risk == 0.0
    assert list(Description.objects.filter(pk__in=[d.pk for d in other]).values_list("id", "risk")) == other_before

    gate_model_revert(scope=GateScope(model_name="m1"), actor=None)
    expected = _queue_risks(after, fitted=False)
    for description in Description.objects.filter(pk__in=[d.pk for d in pending]):
        assert description.risk == pytest.approx(expected[description.pk], abs=1e-9)
    assert expected[pending[0].pk] == 1.0  # the hard-flagged sentence's risk 1: no LN(0) error


@pytest.mark.django_db
def test_the_sql_twin_reads_a_json_null_mean_logprob_as_no_logprobs():
    """An edited sentence keeps has_logprobs but its mean_logprob is a JSON null: the SQL must
    read no_logprobs = 1 as the inference does (SQLite once read the null as 0.0)."""
    from reviewq.gating.gate_models import fitted_risk_expression
    from tests.factories import SentenceFactory

    model = {
        "features": ["no_logprobs", "neg_mean_logprob"],
        "mean": [0.2, 0.5],
        "scale": [0.4, 0.3],
        "coef": [2.0, 0.7],
        "intercept": -0.3,
    }
    cases = [
        {"has_logprobs": True, "mean_logprob": None},
        {"has_logprobs": True},
        {"has_logprobs": True, "mean_logprob": -0.4},
        {"has_logprobs": False, "mean_logprob": -0.4},
    ]
    ids = [SentenceFactory(signals=signals).pk for signals in cases]
    rows = dict(Sentence.objects.filter(pk__in=ids).annotate(r=fitted_risk_expression(model)).values_list("pk", "r"))
    for pk, signals in zip(ids, cases, strict=True):
        assert rows[pk] == pytest.approx(fitted_risk(signals, model), abs=1e-9)
    assert rows[ids[0]] == pytest.approx(rows[ids[1]])

"""service.sentence_regate: one sentence re-gated as it reads after a reviewer's change."""

import math

import pytest
from django.utils import timezone

from reviewq.core.models import Description, GateModel, Sentence
from reviewq.gating.gate import EDITED_REASON, NO_LOGPROBS_REASON, description_risk, risk_from_signals
from reviewq.gating.inference import fitted_band, fitted_risk
from reviewq.gating.labels import sentence_labels_list
from reviewq.gating.service import SCORE_COLUMNS, sentence_regate
from reviewq.gating.verifier import SIGNAL_KEY
from tests.reviewq.review_data import make_bottle_description

pytestmark = pytest.mark.django_db

# Sentence 1 of the bottle: " It holds 900 ml, so it fits most cup holders." (capacity: 750 ml)
LOGPROBS = [-0.05, -0.4, -2.9, -0.1, -0.9, -0.6, -0.1, -0.3, -0.8, -0.2, -0.05, -0.01]


def _columns(sentence: Sentence) -> dict:
    sentence.refresh_from_db()
    return {column: getattr(sentence, column) for column in SCORE_COLUMNS}


def _generated(description: Description) -> Sentence:
    """Sentence 1 scored by the gate as generated (the test data stores made-up scores)."""
    return sentence_regate(sentence=description.sentences.get(index=1))


def _substitute(sentence: Sentence, **substitutions: str) -> Sentence:
    """What sentence_substitute stores: the substitutions and the text they spell."""
    by_position = {sentence.tokens.get(text=old).position: new for old, new in substitutions.items()}
    tokens = sentence.tokens.order_by("position").values_list("position", "text")
    Sentence.objects.filter(pk=sentence.pk).update(
        decision="edited",
        decided_at=timezone.now(),
        edited_text="".join(by_position.get(pos, text) for pos, text in tokens),
        substitutions={str(pos): text for pos, text in by_position.items()},
    )
    return Sentence.objects.get(pk=sentence.pk)


def test_the_generated_text_is_scored_from_its_tokens():
    sentence = _generated(make_bottle_description())
    assert sentence.mean_logprob == pytest.approx(sum(LOGPROBS) / len(LOGPROBS), abs=1e-6)
    assert sentence.band == "flag" and sentence.hard_flag  # 900 ml against 750 ml
    assert any("'900 ml'" in reason for reason in sentence.reasons)
    assert sentence.generated_score is None


def test_a_substitution_is_scored_from_the_chosen_tokens_logprob_and_undone_with_it():
    description = make_bottle_description()
    generated = _columns(_generated(description))
    sentence = sentence_regate(sentence=_substitute(description.sentences.get(index=1), **{" 900": " 750"}))

    logprobs = [-0.4 if lp == -2.9 else lp for lp in LOGPROBS]
    assert sentence.mean_logprob == pytest.approx(sum(logprobs) / len(logprobs), abs=1e-6)
    assert sentence.min_logprob == pytest.approx(-0.9)
    assert not sentence.hard_flag and sentence.band != "flag"
    assert not any("900" in reason for reason in sentence.reasons)
    assert "edited" not in sentence.signals and NO_LOGPROBS_REASON not in sentence.reasons
    assert sentence.risk == pytest.approx(risk_from_signals(sentence.signals)) and sentence.risk < generated["risk"]
    # The alternatives the model offered stay the token's choice: the generated 900 is runner-up.
    assert sentence.signals["min_margin"] is not None
    assert sentence.generated_score == generated
    description.refresh_from_db()
    assert description.risk == pytest.approx(
        1 - math.prod(1 - r for r in Sentence.objects.filter(description=description).values_list("risk", flat=True))
    )

    Sentence.objects.filter(pk=sentence.pk).update(decision="", decided_at=None, edited_text="", substitutions={})
    assert _columns(sentence_regate(sentence=sentence)) == generated
    assert Sentence.objects.get(pk=sentence.pk).generated_score is None


def test_a_substitution_to_an_improbable_alternative_flags_the_sentence():
    description = make_bottle_description()
    _generated(description)
    sentence = sentence_regate(sentence=_substitute(description.sentences.get(index=1), **{" 900": " 1"}))
    assert sentence.min_logprob == pytest.approx(-3.8)
    assert sentence.critical_min_logprob == pytest.approx(-3.8)
    assert sentence.band == "flag"


def test_typed_text_gets_the_text_checks_and_no_logprob_signals():
    description = make_bottle_description()
    generated = _columns(_generated(description))
    sentence = description.sentences.get(index=1)
    Sentence.objects.filter(pk=sentence.pk).update(
        decision="edited", decided_at=timezone.now(), edited_text=" It holds a full 900 ml and fits most cup holders."
    )
    sentence = sentence_regate(sentence=sentence)

    assert sentence.signals["edited"] is True and sentence.signals["has_logprobs"] is False
    assert sentence.mean_logprob is None and sentence.min_logprob is None and sentence.critical_min_logprob is None
    assert sentence.reasons[0] == EDITED_REASON and NO_LOGPROBS_REASON not in sentence.reasons
    # The contradiction is found again in the reviewer's words; no word gets a probability.
    assert any("'900 ml'" in reason for reason in sentence.reasons) and sentence.band == "flag"
    assert not any("low-probability" in reason for reason in sentence.reasons)
    assert sentence.generated_score == generated

    Sentence.objects.filter(pk=sentence.pk).update(edited_text=" It holds 750 ml and fits most cup holders.")
    sentence = sentence_regate(sentence=sentence)
    assert sentence.reasons == [EDITED_REASON]
    # Not published on its own, and not zero risk: scored like missing logprobs.
    assert sentence.band == "review" and not sentence.hard_flag
    assert sentence.risk == pytest.approx(risk_from_signals({"has_logprobs": False}))
    assert sentence.generated_score == generated  # still the generated text's, not the first edit's


def test_an_adopted_gate_model_scores_the_regated_sentence():
    description = make_bottle_description()
    Description.objects.filter(pk=description.pk).update(model="m1")
    weights = {
        "version": 1,
        "features": ["neg_mean_logprob", "no_logprobs"],
        "mean": [0.5, 0.0],
        "scale": [1.0, 1.0],
        "coef": [2.0, 3.0],
        "intercept": -1.0,
    }
    GateModel.objects.create(
        model_name="m1",
        version=1,
        weights=weights,
        adopted=True,
        publish_cutoff=0.9,
        target_escape=0.05,
        confidence=0.9,
        adopted_at=timezone.now(),
    )
    sentence = sentence_regate(sentence=_substitute(description.sentences.get(index=1), **{" 900": " 750"}))
    assert sentence.fitted_risk == pytest.approx(fitted_risk(sentence.signals, weights))
    hand = "review" if sentence.signals["has_warning"] else "publish"
    assert sentence.band == fitted_band(hand_band=hand, signals=sentence.signals, risk=sentence.fitted_risk, cutoff=0.9)
    # The queue sorts by the fitted risk where a sentence has one.
    rows = list(description.sentences.values_list("risk", "fitted_risk"))
    description.refresh_from_db()
    assert description.risk == pytest.approx(description_risk(r if f is None else f for r, f in rows))
    assert description.risk != pytest.approx(description_risk(r for r, _ in rows))

    Sentence.objects.filter(pk=sentence.pk).update(substitutions={}, edited_text=" It holds 750 ml.")
    sentence = sentence_regate(sentence=sentence)
    assert sentence.fitted_risk == pytest.approx(fitted_risk({"has_logprobs": False}, weights))
    assert sentence.band == "review"


def test_labels_keep_the_signals_of_the_generated_text():
    description = make_bottle_description()
    generated = _generated(description).signals
    sentence = sentence_regate(sentence=_substitute(description.sentences.get(index=1), **{" 900": " 750"}))
    assert sentence.signals != generated
    [label] = sentence_labels_list()
    assert label.signals == generated and label.kind == "substituted"


def test_the_verifiers_verdict_stays_with_the_generated_text_only():
    description = make_bottle_description()
    sentence = _generated(description)
    signals = {**sentence.signals, SIGNAL_KEY: 0.31}
    Sentence.objects.filter(pk=sentence.pk).update(signals=signals)
    sentence = sentence_regate(sentence=Sentence.objects.get(pk=sentence.pk))
    assert sentence.signals[SIGNAL_KEY] == 0.31  # the text it judged: kept
    sentence = sentence_regate(sentence=_substitute(sentence, **{" 900": " 750"}))
    assert SIGNAL_KEY not in sentence.signals  # other words: the verdict is not about them
    assert sentence.generated_score["signals"][SIGNAL_KEY] == 0.31  # labels read the generated text's
    Sentence.objects.filter(pk=sentence.pk).update(decision="", decided_at=None, edited_text="", substitutions={})
    sentence = sentence_regate(sentence=Sentence.objects.get(pk=sentence.pk))
    assert sentence.signals[SIGNAL_KEY] == 0.31 and sentence.generated_score is None  # undone: back

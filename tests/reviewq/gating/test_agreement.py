"""Agreement between samples: the pure function, its signals and reasons in score_sentence."""

import pytest

from reviewq.gating import score_description, score_sentence
from reviewq.gating.agreement import Agreement, agreement_reasons, sample_reading, sentence_agreement
from reviewq.gating.words import find_words

KEPT = "The Fennel teapot holds 900 ml of tea. Its borosilicate glass shows the leaves unfurl."
AGREEING = [
    "Brew a full pot: the Fennel teapot holds 900 ml. Borosilicate glass lets you watch the leaves.",
    "This glass teapot, made of borosilicate, holds 0.9 l of tea and shows the leaves as they unfurl.",
]


def agreement(text, others):
    return sentence_agreement(text, find_words(text), [sample_reading(o) for o in others])


def test_samples_that_say_the_same_support_the_sentence():
    result = agreement("The Fennel teapot holds 900 ml of tea.", AGREEING)
    assert result is not None and result.n_samples == 2
    assert result.values_alone == ()  # 0.9 l is 900 ml
    # fennel, teapot, holds and the value (weight 3): all in the first, "fennel" not in the second
    assert result.support == pytest.approx((6 / 6 + 5 / 6) / 2)


def test_a_number_only_one_sample_states_is_alone_and_lowers_support():
    sentence = "The Fennel teapot holds 1200 ml of tea."
    result = agreement(sentence, AGREEING)
    assert result.values_alone == ("1200 ml",)
    # the value (weight 3) is in neither sample
    assert result.support == pytest.approx((3 / 6 + 2 / 6) / 2)
    agreeing = agreement("The Fennel teapot holds 900 ml of tea.", AGREEING)
    assert result.support < agreeing.support


def test_a_claim_no_other_sample_makes_gets_low_support():
    result = agreement("It keeps tea hot for 6 hours and is dishwasher safe.", AGREEING)
    assert result.support < 0.3 and result.values_alone == ("6 hours",)
    reasons = agreement_reasons(result)
    assert reasons[0].startswith("samples disagree: the 2 other samples of this prompt share")
    assert "agreement between samples, not truth" in reasons[0]
    assert reasons[1] == "'6 hours' stated by this sample only, by none of the 2 other samples"


def test_a_bare_number_is_supported_by_the_same_number_with_a_unit():
    assert agreement("It comes in 3 sizes.", ["Three sizes: 3 l, 5 l and 8 l."]).values_alone == ()
    assert agreement("It comes in 4 sizes.", ["Three sizes: 3 l, 5 l and 8 l."]).values_alone == ("4",)


def test_one_candidate_gives_no_agreement_at_all():
    assert sentence_agreement(KEPT, find_words(KEPT), []) is None
    assert agreement_reasons(None) == []


def test_a_sentence_with_nothing_to_check_has_no_support_value():
    result = agreement("Enjoy it!", AGREEING)
    assert result == Agreement(n_samples=2, support=None, values_alone=())


def test_score_sentence_stores_the_signals_and_the_reasons():
    sentence = "The Fennel teapot holds 1200 ml of tea."
    others = [sample_reading(o) for o in AGREEING]
    score = score_sentence(text=sentence, tokens=[], samples=others)
    assert score.signals["n_samples"] == 2
    assert score.signals["sample_support"] == pytest.approx(5 / 12, abs=1e-6)
    assert (score.signals["n_values"], score.signals["n_values_alone"]) == (1, 1)
    assert "'1200 ml' stated by this sample only, by none of the 2 other samples" in score.reasons
    # agreement signals inform the fitted gate and the reviewer; the hand-set band ignores them
    alone = score_sentence(text=sentence, tokens=[])
    assert alone.band == score.band and alone.risk == score.risk


def test_without_samples_the_signals_say_so():
    signals = score_sentence(text="The Fennel teapot holds 1200 ml of tea.", tokens=[]).signals
    assert (signals["n_samples"], signals["sample_support"], signals["n_values_alone"]) == (0, None, None)
    assert signals["n_values"] == 1


def test_an_edited_sentence_has_no_samples():
    others = [sample_reading(o) for o in AGREEING]
    signals = score_sentence(text="The teapot holds 1 l.", tokens=[], samples=others, edited=True).signals
    assert (signals["n_samples"], signals["sample_support"]) == (0, None)


def test_score_description_reads_each_other_candidate_for_every_sentence():
    sentences = [(text, []) for text in ("The Fennel teapot holds 900 ml of tea.", " It plays music at 40 dB.")]
    scores = score_description(sentences=sentences, other_candidates=AGREEING)
    assert scores[0].signals["sample_support"] == pytest.approx(11 / 12, abs=1e-6)
    assert scores[1].signals["n_values_alone"] == 1 and scores[1].signals["sample_support"] < 0.3

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reviewq.gating import GateToken
from reviewq.gating.signals import (
    LOGPROB_FLOOR,
    clamp_logprob,
    entropy_and_margin,
    sentence_token_signals,
    token_distribution,
    token_stats,
    word_confidence,
    word_confidences,
)
from reviewq.gating.words import find_words
from tests.reviewq.gating.tokens import make_tokens


def lp(p):
    return math.log(p)


@pytest.mark.parametrize(
    ("raw", "clamped"),
    [
        (-0.5, -0.5),
        (-9999.0, LOGPROB_FLOOR),
        (float("-inf"), LOGPROB_FLOOR),
        (1e-7, 0.0),
        (None, None),
        (float("nan"), None),
        ("x", None),
    ],
)
def test_clamp_logprob(raw, clamped):
    assert clamp_logprob(raw) == clamped


def test_mean_min_and_share_below_floor():
    stats = [
        token_stats(t)
        for t in [
            GateToken("A", -0.1, (), 0),
            GateToken(" big", -3.0, (), 1),
            GateToken(" jug", -0.2, (), 5),
            GateToken(",", -4.0, (), 9),  # punctuation: in mean/min, not in the share
        ]
    ]
    signals = sentence_token_signals(stats)
    assert signals["mean_logprob"] == pytest.approx((-0.1 - 3.0 - 0.2 - 4.0) / 4)
    assert signals["min_logprob"] == -4.0
    assert signals["share_below_floor"] == pytest.approx(1 / 3)


def test_floor_values_do_not_swamp_the_mean():
    stats = [token_stats(GateToken("a", -9999.0, (), 0)), token_stats(GateToken("b", 0.0, (), 1))]
    assert sentence_token_signals(stats)["mean_logprob"] == pytest.approx(LOGPROB_FLOOR / 2)


def test_no_logprobs_gives_none():
    signals = sentence_token_signals([token_stats(GateToken("a", None, (), 0))])
    assert signals["mean_logprob"] is None and signals["n_logprobs"] == 0
    assert signals["share_below_floor"] is None and signals["max_entropy"] is None


def test_entropy_of_a_full_distribution():
    entropy, margin = entropy_and_margin([("a", 0.5), ("b", 0.5)])
    assert entropy == pytest.approx(math.log(2))
    assert margin == pytest.approx(0.0)


def test_entropy_counts_the_remaining_mass_as_one_bucket():
    # p = 0.4, 0.2 returned; 0.4 left over: H = h(0.6) + 0.6 * H(2/3, 1/3)
    entropy, margin = entropy_and_margin([("a", 0.4), ("b", 0.2)])
    h = -(0.6 * math.log(0.6) + 0.4 * math.log(0.4))
    renormalised = -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))
    assert entropy == pytest.approx(h + 0.6 * renormalised)
    assert entropy == pytest.approx(-(0.4 * math.log(0.4) * 2 + 0.2 * math.log(0.2)))
    assert margin == pytest.approx(0.2)


def test_rounding_above_one_is_renormalised():
    entropy, margin = entropy_and_margin([("a", 0.7), ("b", 0.35)])
    assert entropy == pytest.approx(-(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3)))
    assert margin == pytest.approx(1 / 3)


def test_single_alternative_margin_uses_the_remaining_mass():
    assert entropy_and_margin([("a", 0.9)])[1] == pytest.approx(0.8)
    assert entropy_and_margin([("a", 0.3)])[1] == pytest.approx(0.0)  # capped at p1


def test_confident_token_has_low_entropy_and_high_margin():
    sure = token_stats(GateToken(" cold", lp(0.97), [(" cold", lp(0.97)), (" cool", lp(0.02))], 0))
    unsure = token_stats(GateToken(" 2", lp(0.3), [(" 1", lp(0.35)), (" 2", lp(0.3)), (" 3", lp(0.2))], 0))
    assert sure.entropy < 0.2 < unsure.entropy
    assert sure.margin > 0.9 and unsure.margin == pytest.approx(0.05)
    assert unsure.best_other == (" 1", pytest.approx(0.35))


def test_empty_alternatives_give_no_entropy():
    stats = token_stats(GateToken(" x", -0.3, [], 0))
    assert stats.entropy is None and stats.margin is None and stats.best_other is None


def test_chosen_token_missing_from_alternatives_is_added():
    dist = token_distribution(" 24", lp(0.1), [(" 12", lp(0.6)), (" 48", lp(0.2))])
    assert [t for t, _ in dist] == [" 12", " 48", " 24"]


def test_alternatives_as_objects_or_json_lists():
    class Alt:
        def __init__(self, text, logprob):
            self.text, self.logprob = text, logprob

    a = token_stats(GateToken("x", lp(0.5), [Alt("x", lp(0.5)), Alt("y", lp(0.4))], 0))
    b = token_stats(GateToken("x", lp(0.5), [["x", lp(0.5)], ["y", lp(0.4)]], 0))
    c = token_stats(("x", lp(0.5), [("x", lp(0.5)), ("y", lp(0.4))], 0))
    assert a.entropy == b.entropy == c.entropy


def test_whitespace_and_punctuation_tokens_are_not_content():
    stats = [token_stats(t) for t in make_tokens("Hi .\n", default=-0.1, alternatives=[("?", -0.1), ("!", -0.2)])]
    assert [s.content for s in stats] == [True, False, False]
    assert sentence_token_signals(stats)["max_entropy"] == stats[0].entropy


def test_multi_token_word_takes_min_logprob_and_max_entropy():
    text = "Lasts 24 h on one charge."
    tokens = make_tokens(
        text,
        overrides={
            "2": (lp(0.05), [(" 1", lp(0.6)), (" 2", lp(0.05))]),
            "4": (lp(0.5), [("4", lp(0.5)), ("8", lp(0.45))]),
            "h": (lp(0.9), [(" h", lp(0.9))]),
        },
    )
    stats = [token_stats(t) for t in tokens]
    (word,) = find_words(text)
    confidence = word_confidence(text, word, stats)
    assert confidence.min_logprob == pytest.approx(lp(0.05))
    assert confidence.max_entropy == max(s.entropy for s in stats[1:4])
    assert confidence.weakest.text == " 2"
    # The model's other choice replaces the weak token; the word went on after it.
    assert confidence.alternative_text() == ("1…", pytest.approx(0.6))


def test_word_split_inside_a_name():
    text = "Made by Samsung today."
    tokens = make_tokens(text)
    # Re-split "Samsung" into "Sam" + "sung" with a weak second half.
    i = next(i for i, t in enumerate(tokens) if t.text == " Samsung")
    sam = GateToken(" Sam", -0.2, [(" Sam", -0.2)], tokens[i].offset)
    sung = GateToken("sung", lp(0.02), [("sonic", lp(0.5)), ("sung", lp(0.02))], tokens[i].offset + 4)
    tokens[i : i + 1] = [sam, sung]
    stats = [token_stats(t) for t in tokens]
    (word,) = find_words(text)
    confidence = word_confidence(text, word, stats)
    assert word.text == "Samsung"
    assert confidence.min_logprob == pytest.approx(lp(0.02))
    assert confidence.alternative_text()[0] == "Samsonic"


def test_leading_space_of_next_token_does_not_join_the_word():
    text = "Holds 750 ml today"
    stats = [token_stats(t) for t in make_tokens(text, overrides={"today": -5.0})]
    (word,) = find_words(text)
    assert word_confidence(text, word, stats).min_logprob == -0.05


def test_unicode_text_offsets():
    text = "Gefertigt von Müller – 1,5 kg."
    stats = [token_stats(t) for t in make_tokens(text, overrides={"5": -2.0})]
    words = find_words(text)
    assert [w.text for w in words] == ["Müller", "1,5 kg"]
    assert word_confidence(text, words[1], stats).min_logprob == -2.0


@settings(max_examples=200, deadline=None)
@given(
    chosen=st.sampled_from(["a", "b", "c", "z"]),
    chosen_logprob=st.one_of(st.none(), st.floats(min_value=-30, max_value=0)),
    alternatives=st.dictionaries(
        st.sampled_from(["a", "b", "c", "d", "e", "f"]), st.floats(min_value=-10000, max_value=0.1), max_size=6
    ),
)
def test_one_pass_token_stats_match_the_reference(chosen, chosen_logprob, alternatives):
    alts = sorted(alternatives.items(), key=lambda item: -item[1])
    stats = token_stats(GateToken(chosen, chosen_logprob, alts, 0))
    entropy, margin = entropy_and_margin(token_distribution(chosen, clamp_logprob(chosen_logprob), alts))
    assert stats.entropy == pytest.approx(entropy, abs=1e-9)
    assert stats.margin == pytest.approx(margin, abs=1e-9)
    if entropy is not None:
        assert 0.0 <= stats.entropy <= math.log(len(alts) + 2) + 1e-9
        assert 0.0 <= stats.margin <= 1.0 + 1e-9


def test_merge_pass_matches_per_word_mapping():
    text = "The AquaFlow XR-200 holds 0.75 l, costs €24.90 and lasts 24 h in blue."
    tokens = make_tokens(text, default=-0.4, alternatives=[("a", -0.4), ("b", -1.5)], overrides={"2": -3.0, "7": -2.0})
    stats = [token_stats(t) for t in tokens]
    words = find_words(text)
    assert len(words) == 5
    assert word_confidences(text, words, stats) == [word_confidence(text, w, stats) for w in words]

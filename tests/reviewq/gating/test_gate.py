import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reviewq.gating import (
    BAND_KEYS,
    NO_LOGPROBS_REASON,
    GateThresholds,
    GateToken,
    band_for,
    description_outcome,
    description_risk,
    regate,
    risk_from_signals,
    score_description,
    score_sentence,
    sentence_publishable,
    threshold_reasons,
)
from tests.reviewq.gating.tokens import make_tokens

ATTRIBUTES = {"capacity": "750 ml", "battery life": "12 h", "colour": "blue", "material": "stainless steel"}
NAME = "AquaFlow Bottle"


def lp(p):
    return math.log(p)


def score(text, default=-0.05, overrides=None, **kwargs):
    kwargs.setdefault("attributes", ATTRIBUTES)
    kwargs.setdefault("product_name", NAME)
    return score_sentence(text=text, tokens=make_tokens(text, default, overrides), **kwargs)


def test_confident_grounded_sentence_publishes():
    result = score("It holds 750 ml and runs for 12 h.")
    assert result.band == "publish"
    assert result.reasons == []
    assert result.risk < 0.1
    assert result.signals["n_grounded"] == 2


def test_grounding_contradiction_flags_with_reason():
    result = score(
        "It runs for 24 h.",
        overrides={"2": (lp(0.03), [(" 1", lp(0.41)), (" 2", lp(0.03))])},
    )
    assert result.band == "flag"
    assert result.reasons[0] == "'24 h' (p=0.03) — attribute says 12 h (battery life)"
    assert result.signals["has_conflict"] and result.signals["hard_flag"]


def test_low_probability_critical_word_flags_with_alternative():
    result = score("Made by Sigma in 2019.", overrides={"2": (lp(0.03), [(" 1", lp(0.41)), (" 2", lp(0.03))])})
    assert result.band == "flag"
    assert "low-probability number '2019' (p=0.03; model nearly wrote '1…' p=0.41)" in result.reasons
    assert "critical word logprob -3.51 (p=0.03) below critical floor -2.3" in result.reasons


def test_single_token_critical_word_alternative_text():
    text = "Made in Korea."
    tokens = make_tokens(text, overrides={"Korea": (lp(0.05), [(" Japan", lp(0.5)), (" Korea", lp(0.05))])})
    result = score_sentence(text=text, tokens=tokens, attributes=ATTRIBUTES, product_name=NAME)
    assert "low-probability name 'Korea' (p=0.05; model nearly wrote 'Japan' p=0.50)" in result.reasons


def test_critical_word_found_in_the_data_does_not_flag():
    result = score("The AquaFlow keeps your water fresh and cool all day long.", overrides={"AquaFlow": lp(0.01)})
    assert result.signals["critical_min_logprob"] is None
    assert result.signals["critical_min_logprob_all"] == pytest.approx(lp(0.01), abs=1e-6)
    assert result.band == "publish"


def test_low_mean_flags_with_reason():
    result = score("It is a nice bottle for a day out.", default=-1.9)
    assert result.band == "flag"
    assert result.reasons == ["mean logprob -1.9 below flag threshold -1.5"]


def test_middle_mean_goes_to_review_with_reason():
    result = score("It is a nice bottle for a day out.", default=-0.9)
    assert result.band == "review"
    assert result.reasons == ["mean logprob -0.9 not above publish threshold -0.5"]


def test_unsupported_claim_blocks_publishing_but_does_not_flag():
    result = score("It has a 40 W heater.")
    assert result.band == "review"
    assert result.reasons == ["unsupported: '40 W' (p=0.95) — no attribute states a power"]
    assert result.signals["has_warning"] and not result.signals["hard_flag"]


@pytest.mark.parametrize(
    ("text", "kwargs", "key", "reason"),
    [
        ("Title: AquaFlow Bottle.", {}, "has_meta", "meta text, not product copy"),
        ("It keeps water cold and", {"is_last": True}, "has_cutoff", "cut off: no closing punctuation at the end"),
        (
            "It keeps water cold.",
            {"is_last": True, "truncated": True},
            "has_cutoff",
            "cut off: the output hit the length limit",
        ),
        ("It keeps wâ€™ater cold.", {}, "has_garbled", "garbled text: broken characters or words"),
    ],
)
def test_unusable_copy_flags(text, kwargs, key, reason):
    result = score(text, **kwargs)
    assert result.band == "flag"
    assert result.signals[key] and result.signals["hard_flag"]
    assert reason in result.reasons


def test_repeated_sentence_goes_to_review():
    result = score("It keeps water cold.", previous=["It keeps water cold."])
    assert result.band == "review"
    assert "repeated text: repeats an earlier sentence" in result.reasons


def test_no_logprobs_goes_to_review():
    text = "It holds 750 ml."
    tokens = [GateToken(t.text, None, (), t.offset) for t in make_tokens(text)]
    result = score_sentence(text=text, tokens=tokens, attributes=ATTRIBUTES, product_name=NAME)
    assert result.band == "review"
    assert result.reasons == [NO_LOGPROBS_REASON]
    assert result.mean_logprob is None and result.min_logprob is None
    assert not result.signals["has_logprobs"]
    assert 0.0 < result.risk < 1.0


def test_no_tokens_at_all_goes_to_review():
    result = score_sentence(text="It holds 750 ml.", tokens=[], attributes=ATTRIBUTES)
    assert result.band == "review" and result.reasons == [NO_LOGPROBS_REASON]


def test_no_logprobs_still_flags_a_contradiction():
    result = score_sentence(text="It holds 2 l.", tokens=[], attributes=ATTRIBUTES)
    assert result.band == "flag"
    assert result.reasons == [NO_LOGPROBS_REASON, "'2 l' — attribute says 750 ml (capacity)"]


def test_floor_logprobs_and_empty_alternatives():
    text = "It is a good bottle."
    tokens = [GateToken(t.text, -9999.0 if i == 2 else -0.01, [], t.offset) for i, t in enumerate(make_tokens(text))]
    result = score_sentence(text=text, tokens=tokens, attributes={})
    assert result.min_logprob == -20.0
    assert result.signals["max_entropy"] is None
    assert result.band == "flag"  # mean (-20 + 5 * -0.01) / 6 < -1.5


def test_unicode_sentence():
    text = "Die Flasche von Müller fasst 0,75 l – ideal für Ausflüge 🚲."
    result = score(text, attributes={"Kapazität": "750 ml"}, product_name="Müller Flasche")
    assert result.band == "publish", result.reasons
    # German nouns are capitalised, so they count as names; those in the product name ground.
    assert result.signals["n_grounded"] == 3  # Flasche, Müller, 0,75 l
    assert result.signals["n_critical_ungrounded"] == 1  # Ausflüge


def test_signals_are_json_serialisable_and_hold_the_band_keys():
    result = score("It runs for 24 h.")
    assert json.loads(json.dumps(result.signals)) == result.signals
    assert set(BAND_KEYS) <= set(result.signals)
    for value in result.signals.values():
        assert value is None or isinstance(value, (bool, int, float))


@pytest.mark.parametrize("default", [-0.1, -0.7, -1.2, -2.0])
@pytest.mark.parametrize("text", ["It runs for 24 h.", "It has a 40 W heater.", "A nice bottle.", "Title: X."])
@pytest.mark.parametrize(
    "thresholds",
    [GateThresholds(), GateThresholds(publish_above=-0.8, flag_below=-1.0, critical_floor=-1.0)],
)
def test_band_is_recomputable_from_stored_signals(text, default, thresholds):
    result = score(text, default=default, thresholds=thresholds)
    stored = json.loads(json.dumps(result.signals))
    assert band_for(stored, thresholds) == result.band
    assert band_for({k: stored[k] for k in BAND_KEYS}, thresholds) == result.band


def test_regate_after_a_threshold_change():
    result = score("It is a nice bottle for a day out.", default=-0.9)
    assert result.band == "review"
    band, reasons = regate(
        signals=result.signals, reasons=result.reasons, thresholds=GateThresholds(publish_above=-1.0, flag_below=-2.0)
    )
    assert band == "publish" and reasons == []
    band, reasons = regate(signals=result.signals, reasons=result.reasons, thresholds=GateThresholds(flag_below=-0.8))
    assert band == "flag" and reasons == ["mean logprob -0.9 below flag threshold -0.8"]


def test_regate_keeps_findings():
    result = score("It runs for 24 h.")
    band, reasons = regate(signals=result.signals, reasons=result.reasons, thresholds=GateThresholds())
    assert band == "flag" and reasons == result.reasons


def test_band_rules_on_plain_signals():
    t = GateThresholds()
    base = {
        "has_logprobs": True,
        "mean_logprob": -0.2,
        "critical_min_logprob": None,
        "hard_flag": False,
        "has_warning": False,
    }
    assert band_for(base, t) == "publish"
    assert band_for({**base, "mean_logprob": -0.5}, t) == "review"  # not strictly above
    assert band_for({**base, "mean_logprob": -1.5}, t) == "review"  # not strictly below
    assert band_for({**base, "mean_logprob": -1.51}, t) == "flag"
    assert band_for({**base, "critical_min_logprob": -2.31}, t) == "flag"
    assert band_for({**base, "critical_min_logprob": -2.29}, t) == "publish"
    assert band_for({**base, "has_warning": True}, t) == "review"
    assert band_for({**base, "hard_flag": True}, t) == "flag"
    assert band_for({**base, "has_logprobs": False}, t) == "review"
    assert band_for({**base, "has_logprobs": False, "hard_flag": True}, t) == "flag"
    assert threshold_reasons(base, t) == []


def test_thresholds_of_model_like_objects_and_mappings():
    class Row:
        publish_above, flag_below, critical_floor = -0.3, -1.2, -3.0

    assert GateThresholds.of(Row()) == GateThresholds(-0.3, -1.2, -3.0)
    assert GateThresholds.of({"flag_below": -2.0}) == GateThresholds(flag_below=-2.0)
    assert GateThresholds.of(None) == GateThresholds()


def test_risk_is_monotone_in_each_signal():
    base = {
        "has_logprobs": True,
        "mean_logprob": -0.6,
        "critical_min_logprob": -1.0,
        "critical_max_entropy": 0.5,
        "share_below_floor": 0.1,
        "n_unsupported": 0,
        "has_repeat": False,
        "hard_flag": False,
    }
    r0 = risk_from_signals(base)
    for worse in [
        {"mean_logprob": -1.0},
        {"critical_min_logprob": -3.0},
        {"critical_max_entropy": 1.5},
        {"share_below_floor": 0.4},
        {"n_unsupported": 1},
        {"has_repeat": True},
        {"hard_flag": True},
    ]:
        assert risk_from_signals({**base, **worse}) > r0, worse
    assert 0.0 < r0 < 1.0
    assert risk_from_signals({**base, "hard_flag": True}) > 0.95


def test_risk_anchors():
    plain = {"has_logprobs": True}
    assert risk_from_signals({**plain, "mean_logprob": -1.5}) == pytest.approx(0.5)
    assert risk_from_signals({**plain, "mean_logprob": -0.5}) == pytest.approx(1 / (1 + math.e**2))


def test_score_description_uses_order_and_last_sentence():
    sentences = ["It holds 750 ml.", "It holds 750 ml.", "It keeps water"]
    scores = score_description(
        sentences=[(s, make_tokens(s)) for s in sentences], attributes=ATTRIBUTES, product_name=NAME
    )
    assert [s.band for s in scores] == ["publish", "review", "flag"]
    assert scores[1].signals["has_repeat"] and scores[2].signals["has_cutoff"]


def test_a_sentence_repeating_the_prompt_is_flagged_with_the_words_it_repeats():
    prompt = "You are a copywriter. Never invent measurements, materials or numbers. Use only the facts."
    sentences = ["It holds 750 ml.", "Never invent measurements, materials or numbers."]
    scores = score_description(
        sentences=[(s, make_tokens(s)) for s in sentences], attributes=ATTRIBUTES, product_name=NAME, prompt=prompt
    )
    assert [s.band for s in scores] == ["publish", "flag"]
    assert scores[1].signals["has_prompt_echo"] and scores[1].signals["hard_flag"]
    assert "repeats the prompt's instructions: 'never invent measurements materials or numbers'" in scores[1].reasons
    without = score_description(
        sentences=[(s, make_tokens(s)) for s in sentences], attributes=ATTRIBUTES, product_name=NAME
    )
    assert not without[1].signals["has_prompt_echo"]


def test_description_risk():
    assert description_risk([]) == 0.0
    assert description_risk([0.5]) == pytest.approx(0.5)
    assert description_risk([0.5, 0.5]) == pytest.approx(0.75)
    assert description_risk([0.1, 1.0]) == pytest.approx(1.0)
    assert description_risk([0.2, 0.3]) > description_risk([0.2])


def test_sentence_publishable():
    assert sentence_publishable(band="publish", decision="") is True
    assert sentence_publishable(band="flag", decision="approved") is True
    assert sentence_publishable(band="review", decision="edited") is True
    assert sentence_publishable(band="publish", decision="rejected") is None
    assert sentence_publishable(band="review", decision="") is False


@pytest.mark.parametrize(
    ("items", "confident_now", "outcome"),
    [
        ([("publish", ""), ("publish", "")], False, "published"),
        ([("publish", ""), ("review", "")], False, "review"),
        ([("publish", ""), ("flag", "approved"), ("review", "edited")], False, "published"),
        ([("publish", ""), ("flag", "rejected")], False, "published"),
        ([("flag", "rejected")], False, "review"),
        ([], False, "review"),
        ([("publish", ""), ("flag", "")], True, "published"),
        ([("review", ""), ("flag", "")], True, "review"),
        ([("review", ""), ("flag", "approved")], True, "published"),
        ([("publish", None)], False, "published"),
    ],
)
def test_description_outcome(items, confident_now, outcome):
    assert description_outcome(items, publish_confident_now=confident_now) == outcome


@settings(max_examples=150, deadline=None)
@given(
    text=st.lists(
        st.one_of(
            st.sampled_from([*list(" .,-x%€$°\"'\n@/:0123456789"), "ml", " kg", " h", "Title:", "www.", " Sam", "XR-"]),
            st.characters(codec="utf-8", exclude_categories=("Cs",)),
        ),
        max_size=40,
    ).map("".join),
    logprob=st.one_of(st.none(), st.floats(min_value=-1e4, max_value=0), st.just(float("-inf"))),
    is_last=st.booleans(),
)
def test_any_text_scores_without_error(text, logprob, is_last):
    tokens = [
        GateToken(text[i : i + 3], logprob, [(text[i : i + 3], logprob or -1.0), ("x", -2.0)], i)
        for i in range(0, len(text), 3)
    ]
    result = score_sentence(text=text, tokens=tokens, attributes=ATTRIBUTES, product_name=NAME, is_last=is_last)
    assert result.band in ("publish", "review", "flag")
    assert 0.0 < result.risk < 1.0
    assert json.loads(json.dumps(result.signals, allow_nan=False)) == result.signals
    assert band_for(result.signals, GateThresholds()) == result.band

"""The not_prose signal (list items, headings, bare lines) added after the gate evaluation."""

import pytest

from reviewq.gating import GateThresholds, risk_from_signals, score_description
from reviewq.gating.gate import not_prose
from tests.reviewq.gating.tokens import make_tokens


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("- Battery: 4000 mAh\n", "a list item, not a sentence"),
        ("* Weight: 0.5 kg\n", "a list item, not a sentence"),
        ("• Colour: red\n", "a list item, not a sentence"),
        ("3. Capacity: 20\n", "a list item, not a sentence"),
        ("12) Power: 100W\n", "a list item, not a sentence"),
        ("| Item 2 | 450\n", "a list item, not a sentence"),
        ("**SKU KIT-1006: [Bamboo Cutting Board]**\n", "a heading, not a sentence"),
        ("Product details:\n", "a heading, not a sentence"),
        (" How it works:\n\n", "a heading, not a sentence"),
        ('Here are four descriptions:"', "a heading, not a sentence"),
        ("Bluetooth Speaker, Waterproof SKU ELE-3007\n\n", "a line without sentence punctuation"),
        ("20 cm\n", "a line without sentence punctuation"),
    ],
)
def test_not_prose(text, why):
    assert not_prose(text) == why


@pytest.mark.parametrize(
    "text",
    [
        "The bottle holds 750 ml.",
        " It keeps drinks cold for 24 hours.\n\n",
        "Great for hikes!\n",
        "Key fact: it weighs 340 g.",
        '"Light, strong and quiet."\n',
        "1.5 kg of solid oak, oiled.",
        "It has 2 USB-C ports",  # the last sentence without a line break: is_cut_off's job
        "   ",
        "",
    ],
)
def test_prose_is_not_flagged(text):
    assert not_prose(text) is None


def test_list_line_is_a_warning_not_a_flag_and_raises_risk():
    text, last = "- Weight: 850 g\n", "It is solid oak."
    score, _ = score_description(
        sentences=[(text, make_tokens(text, -0.05)), (last, make_tokens(last, -0.05))],
        attributes={"weight": "850 g", "material": "oak"},
        thresholds=GateThresholds(),
    )
    assert score.signals["not_prose"] and score.signals["has_warning"] and not score.signals["hard_flag"]
    assert score.band == "review"  # confident, grounded, but never auto-published
    assert "not prose: a list item, not a sentence" in score.reasons
    assert risk_from_signals({**score.signals, "not_prose": False}) < score.risk < 0.5


def test_prose_sentence_still_publishes():
    text = "The shelf weighs 850 g.\n"
    (score,) = score_description(
        sentences=[(text, make_tokens(text, -0.05))], attributes={"weight": "850 g"}, thresholds=GateThresholds()
    )
    assert not score.signals["not_prose"]
    assert score.band == "publish"

import pytest

from reviewq.gating.copy_checks import garbled, has_meta, is_cut_off, repetition


@pytest.mark.parametrize(
    "text",
    [
        "Title: Insulated Steel Bottle",
        "**Description:** A bottle for every day.",
        "Product description: keeps drinks cold.",
        "Here is a description of the bottle.",
        "Here's a short product description for your shop:",
        "Sure! This bottle is great.",
        "Certainly, here you go.",
        "As an AI, I cannot taste water.",
        "I hope this helps!",
        "Let me know if you want changes.",
        "## Features",
        "(48 words)",
        "<|im_end|>",
    ],
)
def test_meta_text(text):
    assert has_meta(text)


@pytest.mark.parametrize(
    "text",
    [
        "Here is the perfect bottle for your hikes.",
        "Note the leak-proof lid.",
        "Surely the best bottle you will own.",
        "Capacity: 750 ml of cold water all day.",
        "Its name says it all.",
    ],
)
def test_not_meta(text):
    assert not has_meta(text)


def test_cut_off():
    assert is_cut_off("It keeps drinks cold for", is_last=True, truncated=False)
    assert is_cut_off("It keeps drinks cold.", is_last=True, truncated=True)
    assert not is_cut_off("It keeps drinks cold.", is_last=True, truncated=False)
    assert not is_cut_off('It keeps drinks "cold."\n', is_last=True, truncated=False)
    assert not is_cut_off("Cold all day!", is_last=True, truncated=False)
    assert not is_cut_off("It keeps drinks cold for", is_last=False, truncated=True)
    assert not is_cut_off("   ", is_last=True, truncated=True)


def test_repeats_an_earlier_sentence():
    earlier = ["It keeps drinks cold for 24 hours.", "The lid is leak-proof."]
    assert repetition("It keeps drinks cold for 24 hours.", earlier) == "repeats an earlier sentence"
    assert repetition(" it keeps drinks cold for 24 hours!", earlier) == "repeats an earlier sentence"
    assert repetition("It keeps your drinks cold for 24 hours.", earlier) is None  # 3 of 5 trigrams new
    assert repetition("The handle is bamboo.", earlier) is None


def test_repeats_within_the_sentence():
    assert repetition("Keeps cold, keeps cold, keeps cold all day.") == "repeats a phrase within the sentence"
    assert repetition("A lid lid that seals.") == "repeats 'lid'"
    assert repetition("Stays cold stays cold.") == "repeats 'stays cold'"
    assert repetition("It is very very light.") is None
    assert repetition("Pick one of the two sizes of the bottle.") is None


@pytest.mark.parametrize(
    "text",
    [
        "Keeps drinks c\ufffdold all day.",
        "The bottleâ€™s lid seals.",
        "ĠKeeps Ġdrinks Ġcold.",
        "It is w a t e r proof.",
        "Sooooo cold.",
        "Cold!!!!! Really.",
        "#@$ ^^ {{ ~~ }} @@ ##.",
        "Keepsdrinkscoldforhoursandhoursandhoursallday.",
    ],
)
def test_garbled(text):
    assert garbled(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "It measures 30 x 20 x 10 cm.",
        "Only €19.99 - $21.99 (EUR/USD).",
        "Rated IPX4, 2 x USB-C, 100 % soy wax.",
        "Ein Topf für Müller & Söhne – 1,5 kg.",
        "",
    ],
)
def test_not_garbled(text):
    assert garbled(text) is None

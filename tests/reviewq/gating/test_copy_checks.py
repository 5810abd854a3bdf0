import random

import pytest

from reviewq.gating.copy_checks import (
    _BROKEN_RE,
    _META_ANYWHERE_RE,
    _may_be_broken,
    garbled,
    has_meta,
    is_cut_off,
    prompt_echo,
    prompt_echo_runs,
    repetition,
)


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


PROMPT = (
    "[system]\nYou are a copywriter for an online shop. You write accurate, plain product descriptions "
    "using only the facts you are given. Never invent measurements, materials or numbers.\n\n[user]\n"
    'Write a product description for "Trail bottle" (SKU TB-1).\n\nProduct facts:\n'
    "- material: 18/8 stainless steel, double wall vacuum insulated\n- capacity: 750 ml\n\n"
    "Write exactly 3 sentences of plain copy that use these facts."
)
FACTS = {"material": "18/8 stainless steel, double wall vacuum insulated", "capacity": "750 ml"}


@pytest.mark.parametrize(
    ("text", "echo"),
    [
        ("Never invent measurements, materials or numbers.", "never invent measurements materials or numbers"),
        (
            "I write accurate, plain product descriptions using only the facts.",
            "write accurate plain product descriptions using",
        ),
        ("Write exactly 3 sentences of plain copy.", "write exactly 3 sentences of plain"),
    ],
)
def test_prompt_echo(text, echo):
    runs = prompt_echo_runs(PROMPT, attributes=FACTS, product_name="Trail bottle")
    assert prompt_echo(text, runs) == echo


@pytest.mark.parametrize(
    "text",
    [
        # the facts in the prompt's own order are copy, not an echo
        "Its 18/8 stainless steel, double wall vacuum insulated body holds 750 ml.",
        "The Trail bottle is made of 18/8 stainless steel, double wall vacuum insulated.",
        "A plain product for every shop.",
        # naming the product with its SKU, as the prompt does, is copy (a shop may want it)
        "The Trail bottle (SKU TB-1) holds 750 ml.",
    ],
)
def test_not_a_prompt_echo(text):
    runs = prompt_echo_runs(PROMPT, attributes=FACTS, product_name="Trail bottle")
    assert prompt_echo(text, runs) is None


def test_no_prompt_no_echo():
    assert prompt_echo_runs("", attributes=FACTS, product_name="x") == frozenset()
    assert prompt_echo("Never invent measurements, materials or numbers.", frozenset()) is None


def test_garbled_tries_its_costly_regex_wherever_it_could_match():
    """_may_be_broken is a necessary condition of _BROKEN_RE: garbled skips that regex only
    where it cannot match (random strings of the characters its alternatives look for)."""
    rng = random.Random(16)
    alphabet = "aAbé²½_1.!,;\n\t -Ġ▁€Ã\x80"
    matched = 0
    for _ in range(20000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
        if _BROKEN_RE.search(text):
            matched += 1
            assert _may_be_broken(text, text.split()), text
    long_word = "x" * 31
    assert _BROKEN_RE.search(long_word) and _may_be_broken(long_word, [long_word])
    assert matched > 1000


META_PHRASES = [
    "Here's a description",
    "here is the product copy",
    "HERE ARE some rewrites",
    "As an AI",
    "a large language model",
    "AI language model",
    "I hope this helps",
    "i cannot",
    "I can't",
    "I am unable",
    "I apologise",
    "I'm sorry",
    "I’m sorry",
    "Let me know",
    "feel free to ask",
    "Word count",
    "(120 words)",
    "( 1 word )",
    "This description highlights",
    "the description emphasizes",
    "<|im_end|>",
    "</s>",
    "[INST]",
    "[/INST]",
]


def test_has_meta_skips_its_scan_only_where_it_cannot_match():
    """The word shortcut in has_meta never hides a match of _META_ANYWHERE_RE."""
    rng = random.Random(16)
    glue = [" ", "\n", ".", ",", "x", "_", "-", "(", "é", ""]
    found = 0
    for _ in range(5000):
        phrase = rng.choice(META_PHRASES)
        phrase = rng.choice(
            [phrase, phrase.upper(), phrase.lower(), phrase[1:], phrase[:-1], phrase.replace(" ", "  ")]
        )
        text = rng.choice(glue) + "It keeps drinks cold" + rng.choice(glue) + phrase + rng.choice(glue)
        if _META_ANYWHERE_RE.search(text):
            found += 1
            assert has_meta(text), text
    assert found > 1500


def test_prompt_echo_runs_are_the_runs_of_mostly_instruction_words():
    """The rolling count gives the runs the plain definition gives: every run of ECHO_WORDS
    prompt words holding at most two fact words (name, attributes, "sku", a word with a digit)."""
    rng = random.Random(16)
    attributes = {"colour": "navy blue", "capacity": "750 ml"}
    vocabulary = ["keep", "it", "short", "navy", "blue", "sku", "x1", "½", "don't", "750", "ml", "trail"]
    for _ in range(2000):
        words = [rng.choice(vocabulary) for _ in range(rng.randint(0, 16))]
        facts = {"navy", "blue", "colour", "capacity", "750", "ml", "trail", "bottle", "sku"}
        plain = {
            tuple(words[i : i + 6])
            for i in range(len(words) - 5)
            if sum(w not in facts and not any(ch.isdigit() for ch in w) for w in words[i : i + 6]) >= 4
        }
        prompt = " ".join(words)
        assert prompt_echo_runs(prompt, attributes=attributes, product_name="Trail bottle") == plain, prompt

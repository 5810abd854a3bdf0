import pytest

from generation.prompts import (
    DEFAULT_TEMPLATE,
    SYSTEM_PROMPT,
    build_messages,
    prompt_messages,
    prompt_text,
    validate_template,
)


def test_default_prompt_lists_attributes_and_asks_for_plain_sentences():
    messages = build_messages(
        name="Linen Shirt",
        sku="LS-9",
        attributes={"material": "linen", "sizes": ["S", "M", "L"], "machine_washable": True, "note": ""},
        sentences=4,
    )
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[0]["content"] == SYSTEM_PROMPT
    user = messages[1]["content"]
    assert '"Linen Shirt"' in user and "LS-9" in user
    assert "- material: linen" in user
    assert "- sizes: S, M, L" in user
    assert "- machine_washable: yes" in user
    assert "note" not in user  # empty values are left out
    assert "exactly 4 sentences" in user
    assert "no lists" in user.lower() and "no title" in user.lower()


def test_no_attributes_still_reads_well():
    user = build_messages(name="Gift Card", sku="GC", attributes={})[1]["content"]
    assert "(no further facts given)" in user
    assert "exactly 3 sentences" in user


def test_custom_template_replaces_the_user_message():
    messages = build_messages(
        name="Mug",
        sku="M1",
        attributes={"colour": "red"},
        template="Describe {name} ({sku}) in {sentences} sentences. Facts:\n{attributes}\nUse {{braces}} literally.",
        sentences=2,
    )
    assert messages[0]["content"] == SYSTEM_PROMPT
    assert messages[1]["content"] == "Describe Mug (M1) in 2 sentences. Facts:\n- colour: red\nUse {braces} literally."


def test_values_with_braces_are_not_formatted():
    user = build_messages(name="{sku} Box", sku="B{0}", attributes={"size": "{big}"})[1]["content"]
    assert '"{sku} Box" (SKU B{0})' in user and "- size: {big}" in user


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("Write about {product}", "unknown placeholder {product}"),
        ("Write about {name", "unbalanced braces"),
        ("Write about name}", "unbalanced braces"),
        ("Write {} sentences", "empty placeholder"),
        ("Write about {name.upper}", "unknown placeholder {name.upper}"),
        ("Write about {attributes[0]}", "unknown placeholder"),
        ("Write {sentences:q} sentences", "has a format"),
    ],
)
def test_validate_template_refuses_bad_templates(template, message):
    with pytest.raises(ValueError, match=message.replace("{", r"\{").replace("[", r"\[")):
        validate_template(template)
    with pytest.raises(ValueError):
        build_messages(name="x", sku="y", attributes={}, template=template)


@pytest.mark.parametrize("template", [DEFAULT_TEMPLATE, "Just {name}.", "No placeholders at all", "{{literal}} {sku}"])
def test_validate_template_accepts_good_templates(template):
    validate_template(template)


@pytest.mark.parametrize("sentences", [0, -1, True, "3"])
def test_sentences_must_be_a_positive_integer(sentences):
    with pytest.raises(ValueError, match="sentences"):
        build_messages(name="x", sku="y", attributes={}, sentences=sentences)


@pytest.mark.parametrize(
    "template",
    [
        "{name:>5000000}",
        "{name:>1000000000}",
        "{sentences:0>900000}",
        "{name!r}",
        "{name!s:^10}",
        "{name:{sku}}",
        "{name.__class__}",
        "{name[0]}",
        "{attributes.__doc__}",
    ],
)
def test_format_specs_conversions_and_access_are_refused(template):
    with pytest.raises(ValueError, match=r"format|unknown placeholder"):
        validate_template(template)
    with pytest.raises(ValueError):
        build_messages(name="Mug", sku="M1", attributes={}, template=template)


def test_a_template_past_the_length_cap_is_refused():
    from generation.prompts import MAX_TEMPLATE_CHARS

    validate_template("{name} " + "x" * (MAX_TEMPLATE_CHARS - 7))
    with pytest.raises(ValueError, match="limit is 4,000"):
        validate_template("{name} " + "x" * MAX_TEMPLATE_CHARS)


def test_prompt_messages_reads_back_the_stored_prompt_text():
    messages = build_messages(name='Bottle "[user]"\n\nblue', sku="B-1", attributes={"colour": "blue"})
    assert prompt_messages(prompt_text(messages)) == messages
    assert prompt_messages("free text, no roles") == []
    assert prompt_messages("") == []

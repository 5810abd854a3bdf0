"""Chat messages for product copy: a default prompt, or a shop's own user template."""

from __future__ import annotations

import string
from collections.abc import Mapping

PLACEHOLDERS = frozenset({"name", "sku", "attributes", "sentences"})

SYSTEM_PROMPT = (
    "You are a copywriter for an online shop. You write accurate, plain product descriptions "
    "using only the facts you are given. Never invent measurements, materials or numbers."
)

DEFAULT_TEMPLATE = (
    'Write a product description for "{name}" (SKU {sku}).\n'
    "\n"
    "Product facts:\n"
    "{attributes}\n"
    "\n"
    "Write exactly {sentences} sentences of plain copy that use these facts. "
    "No title, no headings, no lists, no markdown: just the sentences."
)


def validate_template(template: str) -> None:
    """Raise ValueError if `template` has bad braces or placeholders other than
    {name} {sku} {attributes} {sentences}. Literal braces are written {{ and }}."""
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]
    except ValueError as exc:
        raise ValueError(f"Template has unbalanced braces ({exc}); write a literal brace as {{{{ or }}}}") from None
    allowed = ", ".join("{" + name + "}" for name in sorted(PLACEHOLDERS))
    for field in fields:
        if field == "":
            raise ValueError(f"Template has an empty placeholder {{}}; use one of {allowed}")
        if field not in PLACEHOLDERS:
            raise ValueError(f"Template has unknown placeholder {{{field}}}; use only {allowed}")
    # Format specs and conversions ({name!r}, {sentences:>3}) are accepted by parse; make
    # sure they actually render with values of the right kinds.
    try:
        template.format(name="", sku="", attributes="", sentences=1)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise ValueError(f"Template cannot be rendered: {exc}") from None


def format_attributes(attributes: Mapping[str, object]) -> str:
    """One "- key: value" line per attribute; lists are joined with commas."""
    lines = []
    for key, value in attributes.items():
        if value is None or value == "" or value == [] or value == ():
            continue
        if isinstance(value, (list, tuple, set, frozenset)):
            value = ", ".join(str(item) for item in value)
        elif isinstance(value, bool):
            value = "yes" if value else "no"
        lines.append(f"- {key}: {value}")
    return "\n".join(lines) if lines else "- (no further facts given)"


def build_messages(
    *,
    name: str,
    sku: str,
    attributes: dict,
    template: str = "",
    sentences: int = 3,
) -> list[dict]:
    """System + user messages asking for `sentences` sentences of plain product copy.
    `template` (validated) replaces the default user message."""
    if isinstance(sentences, bool) or not isinstance(sentences, int) or sentences < 1:
        raise ValueError(f"sentences must be a positive integer, got {sentences!r}")
    user_template = template or DEFAULT_TEMPLATE
    if template:
        validate_template(template)
    user = user_template.format(
        name=name,
        sku=sku,
        attributes=format_attributes(attributes or {}),
        sentences=sentences,
    )
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": user},
    ]


def prompt_text(messages: list[dict]) -> str:
    """The messages as one text, as stored on Description.prompt."""
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)

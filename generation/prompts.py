"""Chat messages for product copy: a default prompt, or a shop's own user template."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping

PLACEHOLDERS = frozenset({"name", "sku", "attributes", "sentences"})
# A prompt template longer than this is refused (the default is ~330 characters).
MAX_TEMPLATE_CHARS = 4000

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
    """Raise ValueError unless `template` is at most MAX_TEMPLATE_CHARS long and uses only plain
    {name} {sku} {attributes} {sentences} placeholders. Literal braces are written {{ and }}.
    No format spec, conversion, attribute or index access: "{name:>5000000}" would make every
    prompt 5 MB, and bigger widths would exhaust the memory of the process that renders it."""
    if len(template) > MAX_TEMPLATE_CHARS:
        raise ValueError(f"Template is {len(template):,} characters long; the limit is {MAX_TEMPLATE_CHARS:,}")
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"Template has unbalanced braces ({exc}); write a literal brace as {{{{ or }}}}") from None
    allowed = ", ".join("{" + name + "}" for name in sorted(PLACEHOLDERS))
    for _, field, spec, conversion in parts:
        if field is None:
            continue
        if field == "":
            raise ValueError(f"Template has an empty placeholder {{}}; use one of {allowed}")
        if spec or conversion is not None:
            shown = (
                "{" + field + (f"!{conversion}" if conversion is not None else "") + (f":{spec}" if spec else "") + "}"
            )
            raise ValueError(f"Template placeholder {shown} has a format; write a plain placeholder: {allowed}")
        if field not in PLACEHOLDERS:
            raise ValueError(f"Template has unknown placeholder {{{field}}}; use only {allowed}")


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


_ROLE_HEADER = re.compile(r"(?:^|\n\n)\[(system|user|assistant|developer)\]\n")


def prompt_messages(prompt: str) -> list[dict]:
    """The messages a stored prompt text was written from (prompt_text's inverse); [] for a text
    not in that shape."""
    parts = _ROLE_HEADER.split(prompt)
    if len(parts) < 3 or parts[0]:
        return []
    return [{"role": role, "content": content} for role, content in zip(parts[1::2], parts[2::2], strict=True)]

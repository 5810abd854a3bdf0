"""Catalog import: columns, the row layout, and cleaning each product's identifiers and attributes."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from reviewq.catalogs.imports.types import (
    _CONTROL_CHARS,
    ATTRIBUTES_ALIASES,
    MAX_ATTRIBUTE_DEPTH,
    MAX_ATTRIBUTE_KEY_CHARS,
    MAX_ATTRIBUTE_VALUE_CHARS,
    MAX_ATTRIBUTES,
    MAX_COLUMNS,
    MAX_NAME_CHARS,
    MAX_SKU_CHARS,
    NAME_ALIASES,
    SKU_ALIASES,
    CatalogError,
    CatalogMapping,
    CatalogRow,
    ParsedCatalog,
)


def _normalise_header(name: str) -> str:
    return re.sub(r"[\s_\-.]+", "_", name.strip().lower()).strip("_")


def _pick_column(
    columns: list[str], aliases: tuple[str, ...], chosen: str | None, role: str
) -> tuple[str | None, CatalogError | None]:
    """The column for `role`: the mapping's choice (exact, then case/space-insensitive) or
    the first alias present."""
    if chosen is not None:
        if chosen in columns:
            return chosen, None
        wanted = _normalise_header(chosen)
        for column in columns:
            if _normalise_header(column) == wanted:
                return column, None
        return None, CatalogError(
            None, f"column {chosen!r} chosen for the {role} is not in the file; columns are: {_column_list(columns)}"
        )
    by_norm: dict[str, str] = {}
    for column in columns:
        by_norm.setdefault(_normalise_header(column), column)
    for alias in aliases:
        if alias in by_norm:
            return by_norm[alias], None
    return None, CatalogError(
        None,
        f"missing required column: {role} (accepted names: {', '.join(aliases)}); columns are: {_column_list(columns)}",
    )


def _column_list(columns: list[str]) -> str:
    shown = ", ".join(repr(c) for c in columns[:30])
    return shown + (f" and {len(columns) - 30} more" if len(columns) > 30 else "") if columns else "(none)"


@dataclass(slots=True)
class _Layout:
    """How source columns / keys map onto sku, name and attributes."""

    sku: str | None
    name: str | None
    attributes_json: str | None  # a column holding a JSON object of attributes
    attribute_columns: list[str]


def _layout(
    columns: list[str], mapping: CatalogMapping, *, lenient: bool = False
) -> tuple[_Layout | None, list[CatalogError]]:
    """Resolve the roles of `columns`. `lenient` (one JSON object among many) lets sku, name
    or a chosen attribute be absent: the row then reports "missing sku"."""
    errors = []
    sku, error = _pick_column(columns, SKU_ALIASES, mapping.sku_column, "sku")
    if error and not lenient:
        errors.append(error)
    name, error = _pick_column(columns, NAME_ALIASES, mapping.name_column, "name")
    if error and not lenient:
        errors.append(error)
    if sku is not None and sku == name:
        errors.append(CatalogError(None, f"column {sku!r} cannot be both the sku and the name"))
    if mapping.attributes_columns is None:
        rest = [c for c in columns if c not in (sku, name)]
    else:
        rest = []
        for chosen in mapping.attributes_columns:
            column, error = _pick_column(columns, (), chosen, "attributes")
            if error:
                if not lenient:
                    errors.append(error)
            elif column not in (sku, name) and column not in rest:
                rest.append(column)
    if errors:
        return None, errors
    attributes_json = next((c for c in rest if _normalise_header(c) in ATTRIBUTES_ALIASES), None)
    return _Layout(sku, name, attributes_json, [c for c in rest if c != attributes_json]), []


def _build_from_objects(
    parsed: ParsedCatalog, items: Iterable[tuple[int, Any]], mapping: CatalogMapping, *, item_label: bool
) -> None:
    items = list(items)
    columns: dict[str, None] = {}
    for line, item in items:
        if isinstance(item, dict):
            columns.update(dict.fromkeys(item))
            if len(columns) > MAX_COLUMNS:
                parsed.columns = list(columns)[:MAX_COLUMNS]
                parsed.records += len(items)
                parsed.errors.append(
                    CatalogError(
                        line, f"more than {MAX_COLUMNS} different keys across the products; the limit is {MAX_COLUMNS}"
                    )
                )
                return
    parsed.columns = list(columns)
    if parsed.columns:
        # A role no object has is a file problem, reported once rather than on every line.
        layout, errors = _layout(parsed.columns, mapping)
        if layout is None:
            parsed.errors.extend(errors)
            parsed.records += len(items)
            return
        parsed.sku_column, parsed.name_column = layout.sku, layout.name
    builder = _RowBuilder(parsed)
    layouts: dict[tuple[str, ...], _Layout] = {}
    for index, (line, item) in enumerate(items, start=1):
        parsed.records += 1
        label = f"item {index}: " if item_label else ""
        if not isinstance(item, dict):
            parsed.errors.append(CatalogError(line, f"{label}expected an object, got {_json_type(item)}"))
            continue
        keys = tuple(item)
        if keys not in layouts:
            layouts[keys] = _layout(list(keys), mapping, lenient=True)[0]
        builder.add(line, item, layouts[keys], [], label=label)
    builder.finish()


def _json_type(value: Any) -> str:
    return {list: "a list", str: "text", bool: "true/false", type(None): "null"}.get(type(value), "a number")


class _RowBuilder:
    """Turns source records into validated CatalogRows, collecting errors and duplicates."""

    def __init__(self, parsed: ParsedCatalog):
        self.parsed = parsed
        self.first_line: dict[str, int] = {}
        self.duplicates: dict[str, list[int]] = {}

    def add(self, line: int, record: dict[str, Any], layout: _Layout, errors: list[str], *, label: str = "") -> None:
        sku, error = _clean_identifier(record.get(layout.sku), "sku", MAX_SKU_CHARS)
        if error:
            errors.append(error)
        name, error = _clean_identifier(record.get(layout.name), "name", MAX_NAME_CHARS)
        if error:
            errors.append(error)
        attributes = _clean_attributes(record, layout, errors)
        if sku:
            # A duplicate is tracked even when the row has other errors: both lines get told.
            if sku in self.first_line:
                self.duplicates.setdefault(sku, [self.first_line[sku]]).append(line)
            else:
                self.first_line[sku] = line
        if errors:
            self.parsed.errors.extend(CatalogError(line, label + e) for e in errors)
            return
        self.parsed.rows.append(CatalogRow(line=line, sku=sku, name=name, attributes=attributes))

    def finish(self) -> None:
        """Refuse every row of a duplicated sku: which one is right is the user's call."""
        if self.duplicates:
            for sku, lines in self.duplicates.items():
                for line in lines:
                    others = ", ".join(str(n) for n in lines if n != line)
                    self.parsed.errors.append(CatalogError(line, f"duplicate sku {sku!r} (also on line {others})"))
            bad = {line for lines in self.duplicates.values() for line in lines}
            self.parsed.rows = [r for r in self.parsed.rows if r.line not in bad]
        self.parsed.errors.sort(key=lambda e: (e.line is not None, e.line or 0))
        if self.parsed.records == 0 and not self.parsed.errors:
            message = (
                "the file has a header row but no products"
                if self.parsed.format == "csv"
                else "no products in the file"
            )
            self.parsed.errors.append(CatalogError(None, message))


def _clean_identifier(value: Any, role: str, limit: int) -> tuple[str, str | None]:
    if value is None:
        return "", f"missing {role}"
    if isinstance(value, (bool, dict, list)):
        return "", f"{role} must be text, got {_json_type(value)}"
    if isinstance(value, float):
        if not value.is_integer() or role == "sku":
            return "", f"{role} must be text or a whole number, got {value!r}"
        value = int(value)
    text = str(value).strip()
    if not text:
        return "", f"missing {role}"
    if len(text) > limit:
        return "", f"{role} is {len(text):,} characters long; the limit is {limit}"
    if role == "sku" and _CONTROL_CHARS.search(text):
        return "", "sku contains a line break or control character"
    return text, None


def _clean_attributes(record: dict[str, Any], layout: _Layout, errors: list[str]) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    sources: dict[str, str] = {}
    if layout.attributes_json is not None:
        blob = record.get(layout.attributes_json)
        if isinstance(blob, str):
            blob = blob.strip()
            if blob:
                try:
                    blob = json.loads(blob)
                except (ValueError, RecursionError) as exc:
                    errors.append(f"{layout.attributes_json!r} is not valid JSON: {exc}")
                    blob = None
            else:
                blob = None
        if blob is not None and not isinstance(blob, dict):
            errors.append(f"{layout.attributes_json!r} must be a JSON object, got {_json_type(blob)}")
        elif blob:
            for key, value in blob.items():
                _put_attribute(attributes, sources, key, value, layout.attributes_json, errors)
    for column in layout.attribute_columns:
        if column in record:
            _put_attribute(attributes, sources, column, record[column], "its own column", errors)
    if len(attributes) > MAX_ATTRIBUTES:
        errors.append(f"{len(attributes)} attributes; the limit is {MAX_ATTRIBUTES}")
    return attributes


def _put_attribute(attributes: dict, sources: dict, key: Any, value: Any, source: str, errors: list[str]) -> None:
    key = str(key).strip()
    value, error = _clean_value(value, depth=1)
    if value is None and error is None:
        return  # empty cells and nulls are not attributes
    if not key:
        errors.append(f"value {str(value)[:40]!r} has an empty attribute name")
        return
    if len(key) > MAX_ATTRIBUTE_KEY_CHARS:
        errors.append(
            f"attribute name {key[:40]!r}... is {len(key)} characters long; the limit is {MAX_ATTRIBUTE_KEY_CHARS}"
        )
        return
    if error:
        errors.append(f"attribute {key!r} {error}")
        return
    if key in attributes and attributes[key] != value:
        errors.append(f"attribute {key!r} is given twice with different values (in {sources[key]} and in {source})")
        return
    attributes[key] = value
    sources[key] = source


def _clean_value(value: Any, *, depth: int) -> tuple[Any, str | None]:
    """Strip text, keep numbers and booleans; (None, None) means "no value"."""
    if value is None:
        return None, None
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return None, None
        if len(value) > MAX_ATTRIBUTE_VALUE_CHARS:
            return None, (f"is {len(value):,} characters long; the limit is {MAX_ATTRIBUTE_VALUE_CHARS:,}")
        return value, None
    if isinstance(value, bool | int):
        return value, None
    if isinstance(value, float):
        return (value, None) if math.isfinite(value) else (None, f"is not a finite number ({value})")
    if isinstance(value, list):
        items = []
        for item in value:
            if isinstance(item, dict | list):
                return None, "is a list holding objects or lists; lists may hold only text, numbers or true/false"
            item, error = _clean_value(item, depth=depth + 1)
            if error:
                return None, error
            if item is not None:
                items.append(item)
        if not items:
            return None, None
        return _check_size(items)
    if isinstance(value, dict):
        if depth >= MAX_ATTRIBUTE_DEPTH:
            return None, f"is nested more than {MAX_ATTRIBUTE_DEPTH} levels deep"
        cleaned = {}
        for key, item in value.items():
            if isinstance(item, dict):
                return None, f"is nested more than {MAX_ATTRIBUTE_DEPTH} levels deep"
            item, error = _clean_value(item, depth=depth + 1)
            if error:
                return None, error
            if item is not None:
                cleaned[str(key).strip()] = item
        if not cleaned:
            return None, None
        return _check_size(cleaned)
    return None, f"has an unsupported type ({type(value).__name__})"


def _check_size(value: Any) -> tuple[Any, str | None]:
    size = len(json.dumps(value, ensure_ascii=False))
    if size > MAX_ATTRIBUTE_VALUE_CHARS:
        return None, f"is {size:,} characters long as JSON; the limit is {MAX_ATTRIBUTE_VALUE_CHARS:,}"
    return value, None

"""Catalog import: the CSV, JSON and JSONL readers, each collecting errors with line numbers."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from typing import Any

from reviewq.catalogs.imports.rows import _build_from_objects, _layout, _normalise_header, _RowBuilder
from reviewq.catalogs.imports.types import (
    _DELIMITERS,
    _JSON_WS,
    MAX_COLUMNS,
    PRODUCT_LIST_KEYS,
    CatalogError,
    CatalogMapping,
    ParsedCatalog,
    max_rows,
    too_many_rows_error,
)


def _parse_csv(text: str, mapping: CatalogMapping) -> ParsedCatalog:
    parsed = ParsedCatalog(format="csv")
    first_line_number = 1
    delimiter = None
    # Excel writes "sep=;" as a first line to name the delimiter.
    match = re.match(r"sep=(.)\r?\n", text)
    if match:
        delimiter = match.group(1)
        text = text[match.end() :]
        first_line_number = 2
    delimiter = delimiter or _sniff_delimiter(text)
    parsed.delimiter = delimiter

    # strict: a quote followed by anything but a delimiter or line end is an error, not glued on.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    line_offset = first_line_number - 1
    try:
        header = next(reader)
    except StopIteration:
        parsed.errors.append(CatalogError(None, "file is empty"))
        return parsed
    except csv.Error as exc:
        parsed.errors.append(CatalogError(first_line_number, f"cannot read the header row: {exc}"))
        return parsed
    header_line = first_line_number
    # Empty header cells (spreadsheets add trailing ones) are fine while their cells are empty.
    header = [h.strip() for h in header]
    parsed.columns = [h for h in header if h]
    if len(header) > MAX_COLUMNS:
        parsed.errors.append(CatalogError(header_line, f"{len(header)} columns; the limit is {MAX_COLUMNS}"))
        return parsed
    seen: dict[str, int] = {}
    for index, column in enumerate(header, start=1):
        if column in seen:
            parsed.errors.append(
                CatalogError(header_line, f"duplicate column {column!r} (columns {seen[column]} and {index})")
            )
        elif column:
            seen[column] = index
    layout, errors = _layout(parsed.columns, mapping)
    parsed.errors.extend(errors)
    if layout is None or parsed.errors:
        return parsed
    parsed.sku_column, parsed.name_column = layout.sku, layout.name
    positions = {column: header.index(column) for column in parsed.columns}
    unnamed = [i for i, column in enumerate(header) if not column]

    builder = _RowBuilder(parsed)
    previous_end = reader.line_num
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            # The reader cannot resynchronise after e.g. a runaway quoted cell.
            parsed.errors.append(
                CatalogError(
                    previous_end + 1 + line_offset,
                    f"cannot read this row ({exc}); is a closing quote missing? Nothing after it was read",
                )
            )
            break
        line = previous_end + 1 + line_offset
        last_line = reader.line_num + line_offset
        previous_end = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        parsed.records += 1
        if parsed.records > max_rows():
            parsed.errors.append(too_many_rows_error(line))
            break
        row_errors = []
        swallowed = _swallowed_rows(cells, delimiter) if last_line > line else None
        if swallowed is not None:
            # A quoted value that runs over line breaks and holds what look like rows: almost
            # always a missing closing quote. Refused, never merged into one product.
            row_errors.append(
                f"a quoted value runs from line {line} to line {last_line} and holds what look like rows "
                f"({swallowed[:40]!r}); is a closing quote missing?"
            )
        elif len(cells) != len(header) and any(c.strip() for c in cells[len(header) :]):
            row_errors.append(f"{len(cells)} values but the header has {len(header)} columns")
        elif len(cells) < len(header):
            row_errors.append(
                f"{len(cells)} value{'s' if len(cells) != 1 else ''} but the header has {len(header)} columns"
            )
        for i in unnamed:
            if i < len(cells) and cells[i].strip():
                row_errors.append(f"value {cells[i].strip()[:40]!r} in column {i + 1}, which has no header")
        record = {column: cells[i] for column, i in positions.items() if i < len(cells)}
        builder.add(line, record, layout, row_errors)
    builder.finish()
    return parsed


def _swallowed_rows(cells: list[str], delimiter: str) -> str | None:
    """The first line inside a multi-line cell that holds the delimiter, if any."""
    for cell in cells:
        for inner in cell.splitlines()[1:]:
            if delimiter in inner:
                return inner
    return None


def _sniff_delimiter(text: str) -> str:
    """The candidate that splits the first lines into the most, equally wide columns."""
    sample_lines = []
    for line in text.splitlines():
        if line.strip():
            sample_lines.append(line)
        if len(sample_lines) == 10:
            break
    best, best_score = ",", (False, 1)
    for delimiter in _DELIMITERS:
        try:
            rows = list(csv.reader(sample_lines, delimiter=delimiter))
        except csv.Error:
            continue
        if not rows:
            continue
        widths = {len(r) for r in rows}
        score = (len(widths) == 1, len(rows[0]))
        if len(rows[0]) > 1 and score > best_score:
            best, best_score = delimiter, score
    return best


def _parse_json(text: str, mapping: CatalogMapping) -> ParsedCatalog:
    parsed = ParsedCatalog(format="json")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        hint = ""
        if exc.msg == "Extra data":
            hint = "; if the file holds one object per line, use the JSONL format"
        parsed.errors.append(CatalogError(exc.lineno, f"invalid JSON at column {exc.colno}: {exc.msg}{hint}"))
        return parsed
    except RecursionError:
        parsed.errors.append(CatalogError(None, "invalid JSON: nested too deeply"))
        return parsed
    except ValueError:  # an integer past Python's 4,300-digit conversion limit
        parsed.errors.append(CatalogError(None, "invalid JSON: a number has more than 4,300 digits"))
        return parsed
    if _has_lone_surrogate(text, doc):
        parsed.errors.append(CatalogError(None, _SURROGATE_ERROR))
        return parsed
    if isinstance(doc, dict):
        key = _product_list_key(doc)
        if key is None or not isinstance(doc[key], list):
            parsed.errors.append(
                CatalogError(None, 'not a catalog: expected a list of products or {"products": [...]}')
            )
            return parsed
        items = doc[key]
    elif isinstance(doc, list):
        key, items = None, doc
    else:
        parsed.errors.append(CatalogError(None, 'not a catalog: expected a list of products or {"products": [...]}'))
        return parsed
    if len(items) > max_rows():
        parsed.records = len(items)
        parsed.errors.append(too_many_rows_error(None))
        return parsed
    lines = _json_element_lines(text, key, len(items))
    _build_from_objects(parsed, zip(lines, items, strict=True), mapping, item_label=True)
    return parsed


def _product_list_key(doc: dict) -> str | None:
    for key in doc:
        if isinstance(key, str) and _normalise_header(key) in PRODUCT_LIST_KEYS:
            return key
    return None


def _json_element_lines(text: str, key: str | None, count: int) -> list[int]:
    """The line on which each element of the product array starts (the text is valid JSON)."""
    try:
        return _walk_json_array(text, key, count)
    except (ValueError, IndexError):
        # e.g. a repeated "products" key: json.loads kept the last one, the walk found the first.
        return [1] * count


def _walk_json_array(text: str, key: str | None, count: int) -> list[int]:
    decoder = json.JSONDecoder()
    i = _JSON_WS.match(text, 0).end()
    if key is not None:
        # Walk the top-level object's members up to the products array.
        i = _JSON_WS.match(text, i + 1).end()
        while True:
            member, i = decoder.raw_decode(text, i)
            i = _JSON_WS.match(text, i).end() + 1  # the ":"
            i = _JSON_WS.match(text, i).end()
            if member == key:
                break
            _, i = decoder.raw_decode(text, i)
            i = _JSON_WS.match(text, i).end() + 1  # the ","
            i = _JSON_WS.match(text, i).end()
    i += 1  # the "["
    lines: list[int] = []
    line, counted_to = 1, 0
    for _ in range(count):
        i = _JSON_WS.match(text, i).end()
        line += text.count("\n", counted_to, i)
        counted_to = i
        lines.append(line)
        _, i = decoder.raw_decode(text, i)
        i = _JSON_WS.match(text, i).end() + 1  # the "," or "]"
    return lines


_SURROGATE_ERROR = "invalid JSON: an unpaired \\uD800-\\uDFFF escape is not text; fix the encoding of the file"


def _has_lone_surrogate(text: str, doc: Any) -> bool:
    """json.loads turns "\\ud800" into a lone surrogate that no database can store."""
    if "\\ud" not in text.lower():
        return False
    try:
        json.dumps(doc, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _parse_jsonl(text: str, mapping: CatalogMapping) -> ParsedCatalog:
    parsed = ParsedCatalog(format="jsonl")

    def objects() -> Iterator[tuple[int, Any]]:
        seen = 0
        for number, raw in enumerate(text.split("\n"), start=1):
            if not raw.strip():
                continue
            seen += 1
            if seen > max_rows():
                parsed.errors.append(too_many_rows_error(number))
                return
            try:
                record = json.loads(raw)
            except json.JSONDecodeError as exc:
                parsed.records += 1
                parsed.errors.append(CatalogError(number, f"invalid JSON at column {exc.colno}: {exc.msg}"))
            except RecursionError:
                parsed.records += 1
                parsed.errors.append(CatalogError(number, "invalid JSON: nested too deeply"))
            except ValueError:
                parsed.records += 1
                parsed.errors.append(CatalogError(number, "invalid JSON: a number has more than 4,300 digits"))
            else:
                if _has_lone_surrogate(raw, record):
                    parsed.records += 1
                    parsed.errors.append(CatalogError(number, _SURROGATE_ERROR))
                else:
                    yield number, record

    _build_from_objects(parsed, objects(), mapping, item_label=False)
    return parsed

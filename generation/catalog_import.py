"""Catalog import: parse a CSV / JSON / JSONL product file, then upsert it into a catalog.

`parse_catalog` is pure (bytes in, rows and errors out) so the command and a later browser
upload share it; `catalog_import` is the one service that writes. Every problem is collected
with its line number instead of stopping at the first one.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import batched
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction

from reviewq.models import AuditEvent, Catalog, Product

FORMATS = ("csv", "json", "jsonl")
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
# Model limits (reviewq.models.Product / Catalog).
MAX_SKU_CHARS = Product._meta.get_field("sku").max_length
MAX_NAME_CHARS = Product._meta.get_field("name").max_length
MAX_CATALOG_NAME_CHARS = Catalog._meta.get_field("name").max_length
MAX_COLUMNS = 200
MAX_ATTRIBUTES = 200
MAX_ATTRIBUTE_KEY_CHARS = 100
MAX_ATTRIBUTE_VALUE_CHARS = 2000
# attributes -> {"key": {"key": value}} is 2 levels; anything deeper is refused.
MAX_ATTRIBUTE_DEPTH = 2
WRITE_BATCH_SIZE = 1000

# Normalised header -> role, most specific first: with both "sku" and "id" present, "sku"
# wins and "id" stays an attribute.
SKU_ALIASES = ("sku", "product_sku", "product_id", "productid", "id", "item_id", "item_number",
               "article_number", "product_code", "code")
NAME_ALIASES = ("name", "product_name", "title", "product_title", "item_name")
ATTRIBUTES_ALIASES = ("attributes", "attrs", "properties")
PRODUCT_LIST_KEYS = ("products", "items")

_EXTENSIONS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".json": "json",
               ".jsonl": "jsonl", ".ndjson": "jsonl"}
_DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_JSON_WS = re.compile(r"[ \t\n\r]*")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_MAGIC = (
    (b"PK\x03\x04", "an Excel (.xlsx) or ZIP file", "; export the sheet as CSV UTF-8"),
    (b"\xd0\xcf\x11\xe0", "an old Excel (.xls) file", "; export the sheet as CSV UTF-8"),
    (b"%PDF", "a PDF file", ""),
    (b"\x89PNG", "a PNG image", ""),
    (b"\xff\xd8\xff", "a JPEG image", ""),
    (b"GIF8", "a GIF image", ""),
    (b"\x1f\x8b", "a gzip archive", "; unpack it first"),
)


@dataclass(frozen=True, slots=True)
class CatalogMapping:
    """Which source column holds what; None means detect it from the header / keys."""

    sku_column: str | None = None
    name_column: str | None = None
    # Columns kept as attributes; None keeps every column other than sku and name.
    attributes_columns: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class CatalogRow:
    line: int
    sku: str
    name: str
    attributes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CatalogError:
    """`line` is None for a problem with the whole file (encoding, size, header)."""

    line: int | None
    message: str

    def __str__(self) -> str:
        return self.message if self.line is None else f"line {self.line}: {self.message}"


@dataclass(slots=True)
class ParsedCatalog:
    format: str | None
    columns: list[str] = field(default_factory=list)
    sku_column: str | None = None
    name_column: str | None = None
    delimiter: str | None = None
    rows: list[CatalogRow] = field(default_factory=list)  # valid rows only
    errors: list[CatalogError] = field(default_factory=list)
    records: int = 0  # product records seen, valid or not

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def file_errors(self) -> list[CatalogError]:
        return [e for e in self.errors if e.line is None]


@dataclass(frozen=True, slots=True)
class CatalogPreview:
    format: str | None
    columns: list[str]
    sku_column: str | None
    name_column: str | None
    delimiter: str | None
    rows: list[CatalogRow]
    errors: list[CatalogError]
    row_count: int
    error_count: int


@dataclass(frozen=True, slots=True)
class ImportResult:
    catalog: Catalog
    created: int
    updated: int
    unchanged: int
    errors: tuple[CatalogError, ...] = ()
    filename: str = ""
    format: str | None = None

    @property
    def imported(self) -> int:
        return self.created + self.updated + self.unchanged


class CatalogImportError(Exception):
    """Nothing was written; `errors` lists every problem found."""

    def __init__(self, errors: Iterable[CatalogError], *, filename: str = ""):
        self.errors = list(errors)
        self.filename = filename
        shown = "; ".join(str(e) for e in self.errors[:5])
        more = f" (and {len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
        where = f" in {filename}" if filename else ""
        super().__init__(f"{len(self.errors)} error(s){where}, nothing was written: {shown}{more}")


# --- parsing -----------------------------------------------------------------------------


def parse_catalog(
    data: bytes,
    *,
    filename: str = "",
    fmt: str | None = None,
    mapping: CatalogMapping | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> ParsedCatalog:
    """Parse a catalog file without touching the database; collect every error."""
    mapping = mapping or CatalogMapping()
    if fmt is not None and fmt not in FORMATS:
        return _failed(None, f"unknown format {fmt!r}; use one of: {', '.join(FORMATS)}")
    if len(data) > max_bytes:
        return _failed(fmt, f"file is {_size(len(data))}, over the {_size(max_bytes)} limit "
                            f"({max_bytes:,} bytes); split it into smaller files")
    if not data.strip():
        return _failed(fmt, "file is empty")
    text, error = _decode(data)
    if error:
        return ParsedCatalog(format=fmt, errors=error)
    if text.lstrip().startswith("<"):
        return _failed(fmt, "this looks like HTML or XML, not a catalog (expected CSV, JSON or JSONL)")
    if mapping.sku_column is not None and mapping.sku_column == mapping.name_column:
        return _failed(fmt, f"column {mapping.sku_column!r} cannot be both the sku and the name")

    detected = fmt or _format_from_filename(filename) or _format_from_content(text)
    if detected == "json" and fmt is None and _looks_like_jsonl(text):
        detected = "jsonl"  # a .json file holding one object per line
    if detected == "csv":
        return _parse_csv(text, mapping)
    if detected == "json":
        return _parse_json(text, mapping)
    return _parse_jsonl(text, mapping)


def preview_catalog(
    data: bytes,
    *,
    filename: str = "",
    fmt: str | None = None,
    mapping: CatalogMapping | None = None,
    limit: int = 20,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> CatalogPreview:
    """The first `limit` rows and errors plus the detected columns, for an upload form."""
    parsed = parse_catalog(data, filename=filename, fmt=fmt, mapping=mapping, max_bytes=max_bytes)
    return CatalogPreview(
        format=parsed.format,
        columns=parsed.columns,
        sku_column=parsed.sku_column,
        name_column=parsed.name_column,
        delimiter=parsed.delimiter,
        rows=parsed.rows[:limit],
        errors=parsed.errors[:limit],
        row_count=len(parsed.rows),
        error_count=len(parsed.errors),
    )


def _failed(fmt: str | None, message: str) -> ParsedCatalog:
    return ParsedCatalog(format=fmt, errors=[CatalogError(None, message)])


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB" if n >= 1024 * 1024 else f"{n:,} bytes"


def _decode(data: bytes) -> tuple[str, list[CatalogError]]:
    """UTF-8 (BOM optional) or a clear error; never guess another encoding silently."""
    for magic, what, hint in _MAGIC:
        if data.startswith(magic):
            return "", [CatalogError(None, f"this is {what}, not a catalog (expected CSV, JSON or JSONL){hint}")]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "", [CatalogError(None, "file is UTF-16 (or UTF-32) encoded; save it as UTF-8")]
    head = data[:4096]
    if b"\x00" in head:
        nul_at_odd = head[1::2].count(0)
        nul_at_even = head[0::2].count(0)
        if max(nul_at_odd, nul_at_even) > len(head) // 4:
            return "", [CatalogError(None, "file looks UTF-16 encoded (no byte order mark); save it as UTF-8")]
        return "", [CatalogError(None, "this is a binary file, not a catalog (expected CSV, JSON or JSONL)")]
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        text = data[bom:].decode("utf-8")
    except UnicodeDecodeError:
        return "", _encoding_errors(data, bom)
    if "\x00" in text:
        return "", [CatalogError(None, "this is a binary file, not a catalog (expected CSV, JSON or JSONL)")]
    return text, []


def _encoding_errors(data: bytes, start: int) -> list[CatalogError]:
    errors = []
    offset = start
    for number, raw in enumerate(data[start:].split(b"\n"), start=1):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            # A multi-byte character cut by the split cannot happen: "\n" never occurs inside one.
            bad = raw[exc.start]
            errors.append(CatalogError(
                number,
                f"not valid UTF-8: byte 0x{bad:02X} at byte offset {offset + exc.start} "
                "(the file may be Latin-1 / Windows-1252); save the file as UTF-8",
            ))
        offset += len(raw) + 1
    return errors


def _format_from_filename(filename: str) -> str | None:
    lowered = filename.lower()
    for ext, fmt in _EXTENSIONS.items():
        if lowered.endswith(ext):
            return fmt
    return None


def _format_from_content(text: str) -> str:
    stripped = text.lstrip()
    if stripped.startswith("["):
        return "json"
    if stripped.startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError:
            return "jsonl" if _looks_like_jsonl(text) else "json"
        if isinstance(doc, dict) and _product_list_key(doc) is None and "\n" not in stripped.rstrip():
            return "jsonl"  # one product object on a single line
        return "json"
    return "csv"


def _looks_like_jsonl(text: str) -> bool:
    """Several lines, the first non-blank of which is a complete JSON object on its own."""
    first, _, rest = text.lstrip().partition("\n")
    if not rest or rest.isspace():
        return False
    try:
        return isinstance(json.loads(first), dict)
    except ValueError:
        return False


def _normalise_header(name: str) -> str:
    return re.sub(r"[\s_\-.]+", "_", name.strip().lower()).strip("_")


def _pick_column(columns: list[str], aliases: tuple[str, ...], chosen: str | None,
                 role: str) -> tuple[str | None, CatalogError | None]:
    """The column for `role`: the mapping's choice (exact, then case/space-insensitive) or
    the first alias present."""
    if chosen is not None:
        if chosen in columns:
            return chosen, None
        wanted = _normalise_header(chosen)
        for column in columns:
            if _normalise_header(column) == wanted:
                return column, None
        return None, CatalogError(None, f"column {chosen!r} chosen for the {role} is not in the file; "
                                        f"columns are: {_column_list(columns)}")
    by_norm: dict[str, str] = {}
    for column in columns:
        by_norm.setdefault(_normalise_header(column), column)
    for alias in aliases:
        if alias in by_norm:
            return by_norm[alias], None
    return None, CatalogError(None, f"missing required column: {role} (accepted names: "
                                    f"{', '.join(aliases)}); columns are: {_column_list(columns)}")


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


def _layout(columns: list[str], mapping: CatalogMapping, *,
            lenient: bool = False) -> tuple[_Layout | None, list[CatalogError]]:
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


def _parse_csv(text: str, mapping: CatalogMapping) -> ParsedCatalog:
    parsed = ParsedCatalog(format="csv")
    first_line_number = 1
    delimiter = None
    # Excel writes "sep=;" as a first line to name the delimiter.
    match = re.match(r"sep=(.)\r?\n", text)
    if match:
        delimiter = match.group(1)
        text = text[match.end():]
        first_line_number = 2
    delimiter = delimiter or _sniff_delimiter(text)
    parsed.delimiter = delimiter

    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
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
            parsed.errors.append(CatalogError(
                header_line, f"duplicate column {column!r} (columns {seen[column]} and {index})"))
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
            parsed.errors.append(CatalogError(
                previous_end + 1 + line_offset,
                f"cannot read this row ({exc}); is a closing quote missing? Nothing after it was read",
            ))
            break
        line = previous_end + 1 + line_offset
        previous_end = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        parsed.records += 1
        row_errors = []
        if len(cells) > len(header) and any(c.strip() for c in cells[len(header):]):
            row_errors.append(f"{len(cells)} values but the header has {len(header)} columns")
        for i in unnamed:
            if i < len(cells) and cells[i].strip():
                row_errors.append(f"value {cells[i].strip()[:40]!r} in column {i + 1}, which has no header")
        record = {column: cells[i] for column, i in positions.items() if i < len(cells)}
        builder.add(line, record, layout, row_errors)
    builder.finish()
    return parsed


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
            parsed.errors.append(CatalogError(None, 'not a catalog: expected a list of products or '
                                                    '{"products": [...]}'))
            return parsed
        items = doc[key]
    elif isinstance(doc, list):
        key, items = None, doc
    else:
        parsed.errors.append(CatalogError(None, 'not a catalog: expected a list of products or '
                                                '{"products": [...]}'))
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
        for number, raw in enumerate(text.split("\n"), start=1):
            if not raw.strip():
                continue
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


def _build_from_objects(parsed: ParsedCatalog, items: Iterable[tuple[int, Any]],
                        mapping: CatalogMapping, *, item_label: bool) -> None:
    items = list(items)
    columns: dict[str, None] = {}
    for _, item in items:
        if isinstance(item, dict):
            columns.update(dict.fromkeys(item))
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

    def add(self, line: int, record: dict[str, Any], layout: _Layout, errors: list[str], *,
            label: str = "") -> None:
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
            message = "the file has a header row but no products" if self.parsed.format == "csv" \
                else "no products in the file"
            self.parsed.errors.append(CatalogError(None, message))


def _clean_identifier(value: Any, role: str, limit: int) -> tuple[str, str | None]:
    if value is None:
        return "", f"missing {role}"
    if isinstance(value, bool) or isinstance(value, (dict, list)):
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


def _put_attribute(attributes: dict, sources: dict, key: Any, value: Any, source: str,
                   errors: list[str]) -> None:
    key = str(key).strip()
    value, error = _clean_value(value, depth=1)
    if value is None and error is None:
        return  # empty cells and nulls are not attributes
    if not key:
        errors.append(f"value {str(value)[:40]!r} has an empty attribute name")
        return
    if len(key) > MAX_ATTRIBUTE_KEY_CHARS:
        errors.append(f"attribute name {key[:40]!r}... is {len(key)} characters long; "
                      f"the limit is {MAX_ATTRIBUTE_KEY_CHARS}")
        return
    if error:
        errors.append(f"attribute {key!r} {error}")
        return
    if key in attributes and attributes[key] != value:
        errors.append(f"attribute {key!r} is given twice with different values "
                      f"(in {sources[key]} and in {source})")
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
            return None, (f"is {len(value):,} characters long; the limit is "
                          f"{MAX_ATTRIBUTE_VALUE_CHARS:,}")
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


# --- writing -----------------------------------------------------------------------------


def catalog_import(
    *,
    catalog_name: str,
    data: bytes,
    filename: str = "",
    fmt: str | None = None,
    mapping: CatalogMapping | None = None,
    partial: bool = False,
    actor: AbstractBaseUser | None = None,
    progress: Callable[[int, int], None] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> ImportResult:
    """Upsert the file's products into the catalog (created if missing) by sku.

    All-or-nothing unless `partial`: with any error nothing is written and
    CatalogImportError carries every error. With `partial`, valid rows are written and the
    bad ones are returned in `ImportResult.errors`; a file-level error still writes nothing.
    Products of the catalog that are not in the file are left alone.
    """
    name = catalog_name.strip()
    if not name:
        raise CatalogImportError([CatalogError(None, "catalog name is empty")], filename=filename)
    if len(name) > MAX_CATALOG_NAME_CHARS:
        raise CatalogImportError(
            [CatalogError(None, f"catalog name is {len(name)} characters long; the limit is "
                                f"{MAX_CATALOG_NAME_CHARS}")], filename=filename)
    parsed = parse_catalog(data, filename=filename, fmt=fmt, mapping=mapping, max_bytes=max_bytes)
    if parsed.file_errors or (parsed.errors and not partial) or not parsed.rows:
        raise CatalogImportError(parsed.errors or [CatalogError(None, "no valid products")],
                                 filename=filename)
    return _catalog_write(catalog_name=name, parsed=parsed, filename=filename, partial=partial,
                          actor=actor, progress=progress)


@transaction.atomic
def _catalog_write(*, catalog_name: str, parsed: ParsedCatalog, filename: str, partial: bool,
                   actor: AbstractBaseUser | None, progress: Callable[[int, int], None] | None) -> ImportResult:
    catalog, _ = Catalog.objects.get_or_create(name=catalog_name)
    # Serialise imports into one catalog: each batch reads existing skus, then writes.
    catalog = Catalog.objects.select_for_update().get(pk=catalog.pk)
    total = len(parsed.rows)
    created = updated = unchanged = done = 0
    if progress:
        progress(0, total)
    for batch in batched(parsed.rows, WRITE_BATCH_SIZE):
        existing = {
            sku: (name, attributes)
            for sku, name, attributes in Product.objects.filter(
                catalog=catalog, sku__in=[r.sku for r in batch]
            ).values_list("sku", "name", "attributes")
        }
        to_create, to_update = [], []
        for row in batch:
            product = Product(catalog=catalog, sku=row.sku, name=row.name, attributes=row.attributes)
            if row.sku not in existing:
                to_create.append(product)
            elif existing[row.sku] != (row.name, row.attributes):
                to_update.append(product)
            else:
                unchanged += 1
        Product.objects.bulk_create(to_create, batch_size=WRITE_BATCH_SIZE)
        # An upsert on (catalog, sku) keeps the row's id and created_at; it is several times
        # faster than bulk_update's CASE WHEN per row.
        Product.objects.bulk_create(
            to_update, batch_size=WRITE_BATCH_SIZE, update_conflicts=True,
            unique_fields=["catalog", "sku"], update_fields=["name", "attributes", "updated_at"],
        )
        created += len(to_create)
        updated += len(to_update)
        done += len(batch)
        if progress:
            progress(done, total)
    AuditEvent.objects.create(
        action="catalog_import",
        catalog=catalog,
        actor=actor,
        after={
            "filename": filename,
            "format": parsed.format,
            "created": created,
            "updated": updated,
            "unchanged": unchanged,
            "skipped": len({e.line for e in parsed.errors}),
            "partial": partial,
        },
    )
    return ImportResult(catalog=catalog, created=created, updated=updated, unchanged=unchanged,
                        errors=tuple(parsed.errors), filename=filename, format=parsed.format)

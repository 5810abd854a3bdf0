"""Catalog import: limits, the mapping an editor chooses, parsed rows, errors and results."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from reviewq.core.models import Catalog, Product

FORMATS = ("csv", "json", "jsonl")
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
# Model limits (reviewq.core.models.Product / Catalog).
MAX_SKU_CHARS = Product._meta.get_field("sku").max_length
MAX_NAME_CHARS = Product._meta.get_field("name").max_length
MAX_CATALOG_NAME_CHARS = Catalog._meta.get_field("name").max_length
MAX_COLUMNS = 200  # CSV header cells, or different keys across a JSON / JSONL file's products
MAX_ATTRIBUTES = 200
MAX_ATTRIBUTE_KEY_CHARS = 100
MAX_ATTRIBUTE_VALUE_CHARS = 2000
# attributes -> {"key": {"key": value}} is 2 levels; anything deeper is refused.
MAX_ATTRIBUTE_DEPTH = 2
WRITE_BATCH_SIZE = 1000


def max_rows() -> int:
    """Products per file (settings.CATALOG_MAX_ROWS): more is refused, not read on."""
    return settings.CATALOG_MAX_ROWS


def too_many_rows_error(line: int | None) -> CatalogError:
    return CatalogError(line, f"more than {max_rows():,} products in one file; split it into smaller files")


# Normalised header -> role, most specific first: with both "sku" and "id" present, "sku"
# wins and "id" stays an attribute.
SKU_ALIASES = (
    "sku",
    "product_sku",
    "product_id",
    "productid",
    "id",
    "item_id",
    "item_number",
    "article_number",
    "product_code",
    "code",
)
NAME_ALIASES = ("name", "product_name", "title", "product_title", "item_name")
ATTRIBUTES_ALIASES = ("attributes", "attrs", "properties")
PRODUCT_LIST_KEYS = ("products", "items")

_EXTENSIONS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}
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

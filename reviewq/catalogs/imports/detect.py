"""Catalog import: decoding the bytes and telling the file's format."""

from __future__ import annotations

import json

from reviewq.catalogs.imports.readers import _product_list_key
from reviewq.catalogs.imports.types import _EXTENSIONS, _MAGIC, CatalogError, ParsedCatalog


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
            errors.append(
                CatalogError(
                    number,
                    f"not valid UTF-8: byte 0x{bad:02X} at byte offset {offset + exc.start} "
                    "(the file may be Latin-1 / Windows-1252); save the file as UTF-8",
                )
            )
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

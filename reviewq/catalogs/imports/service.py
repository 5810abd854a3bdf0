"""Catalog import: `parse_catalog` is pure (bytes in, rows and errors out) so the command and the
browser upload share it; `catalog_import` is the one service that writes. Every problem is
collected with its line number instead of stopping at the first one."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import batched

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction

from reviewq.catalogs.imports.detect import (
    _decode,
    _failed,
    _format_from_content,
    _format_from_filename,
    _looks_like_jsonl,
    _size,
)
from reviewq.catalogs.imports.readers import _parse_csv, _parse_json, _parse_jsonl
from reviewq.catalogs.imports.types import (
    DEFAULT_MAX_BYTES,
    FORMATS,
    MAX_CATALOG_NAME_CHARS,
    WRITE_BATCH_SIZE,
    CatalogError,
    CatalogImportError,
    CatalogMapping,
    CatalogPreview,
    CatalogRow,
    ImportResult,
    ParsedCatalog,
)
from reviewq.core.audit import AuditAction, audit_record
from reviewq.core.models import Catalog, Product

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
        return _failed(
            fmt,
            f"file is {_size(len(data))}, over the {_size(max_bytes)} limit "
            f"({max_bytes:,} bytes); split it into smaller files",
        )
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
    name = catalog_name_checked(catalog_name, filename=filename)
    parsed = parse_catalog(data, filename=filename, fmt=fmt, mapping=mapping, max_bytes=max_bytes)
    if parsed.file_errors or (parsed.errors and not partial) or not parsed.rows:
        raise CatalogImportError(parsed.errors or [CatalogError(None, "no valid products")], filename=filename)
    return catalog_write(
        catalog_name=name,
        rows=parsed.rows,
        total=len(parsed.rows),
        errors=parsed.errors,
        filename=filename,
        fmt=parsed.format,
        partial=partial,
        actor=actor,
        progress=progress,
    )


def catalog_name_checked(catalog_name: str, *, filename: str = "") -> str:
    """The stripped name, or CatalogImportError if it is empty or too long."""
    name = catalog_name.strip()
    if not name:
        raise CatalogImportError([CatalogError(None, "catalog name is empty")], filename=filename)
    if len(name) > MAX_CATALOG_NAME_CHARS:
        raise CatalogImportError(
            [CatalogError(None, f"catalog name is {len(name)} characters long; the limit is {MAX_CATALOG_NAME_CHARS}")],
            filename=filename,
        )
    return name


@transaction.atomic
def catalog_write(
    *,
    catalog_name: str,
    rows: Iterable[CatalogRow],
    total: int,
    errors: Sequence[CatalogError],
    filename: str,
    fmt: str | None,
    partial: bool,
    actor: AbstractBaseUser | None,
    progress: Callable[[int, int], None] | None,
) -> ImportResult:
    """Upsert valid `rows` (from a parse, or staged by an upload) into the catalog by sku, in
    batches, and audit it. `progress` may raise to abandon the write: nothing is kept."""
    catalog, _ = Catalog.objects.get_or_create(name=catalog_name)
    # Serialise imports into one catalog: each batch reads existing skus, then writes.
    catalog = Catalog.objects.select_for_update().get(pk=catalog.pk)
    created = updated = unchanged = done = 0
    if progress:
        progress(0, total)
    for batch in batched(rows, WRITE_BATCH_SIZE):
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
            to_update,
            batch_size=WRITE_BATCH_SIZE,
            update_conflicts=True,
            unique_fields=["catalog", "sku"],
            update_fields=["name", "attributes", "updated_at"],
        )
        created += len(to_create)
        updated += len(to_update)
        done += len(batch)
        if progress:
            progress(done, total)
    audit_record(
        action=AuditAction.CATALOG_IMPORTED,
        catalog=catalog,
        actor=actor,
        after={
            "filename": filename,
            "format": fmt,
            "created": created,
            "updated": updated,
            "unchanged": unchanged,
            "skipped": len({e.line for e in errors}),
            "partial": partial,
        },
    )
    return ImportResult(
        catalog=catalog,
        created=created,
        updated=updated,
        unchanged=unchanged,
        errors=tuple(errors),
        filename=filename,
        format=fmt,
    )

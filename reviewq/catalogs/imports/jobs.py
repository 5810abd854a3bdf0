"""Catalog imports from the browser, off the request path: the upload view stores the file as a
CatalogImport; a worker parses it once into staged rows (CatalogImportRow) with progress; the
preview reads those rows; a confirmed import has a worker write them with catalog_write.

Every step claims the import with a conditional UPDATE on its status, so a redelivered task is
a no-op, and a cancel (the status set to CANCELLED) is seen by the worker between chunks.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from itertools import batched

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from reviewq.catalogs.dispatch import catalog_import_apply_enqueue, catalog_import_stage_enqueue
from reviewq.catalogs.imports.service import catalog_name_checked, catalog_write, parse_catalog
from reviewq.catalogs.imports.staged import staged_errors
from reviewq.catalogs.imports.types import (
    WRITE_BATCH_SIZE,
    CatalogError,
    CatalogImportError,
    CatalogMapping,
    CatalogRow,
)
from reviewq.core.audit import AuditAction, audit_record
from reviewq.core.bulk import rows_insert
from reviewq.core.models import Catalog, CatalogImport, CatalogImportRow

S = CatalogImport.Status
STAGE_CHUNK_ROWS = 1000
STAGED_COLUMNS = ("catalog_import_id", "position", "line", "sku", "name", "attributes", "error")
STALE_SECONDS = 24 * 3600
# A reading or writing import untouched this long lost its worker (chunks touch it every few
# seconds; a whole write of the largest file takes well under a minute).
CLAIM_LEASE_SECONDS = 600
# Shown when an import is refused for its errors: enough to act on, bounded for a page.
REFUSAL_ERRORS = 100
IN_PROGRESS = (S.QUEUED, S.STAGING, S.IMPORT_QUEUED, S.IMPORTING)
CANCELLABLE = (*IN_PROGRESS, S.STAGED)


class ImportRefused(Exception):
    """The import is not in a state for this step (already importing, cancelled, ...)."""


class _Cancelled(Exception):
    pass


def mapping_to_json(mapping: CatalogMapping) -> dict:
    attributes = list(mapping.attributes_columns) if mapping.attributes_columns is not None else None
    return {"sku_column": mapping.sku_column, "name_column": mapping.name_column, "attributes_columns": attributes}


def mapping_from_json(data: dict) -> CatalogMapping:
    attributes = data.get("attributes_columns")
    return CatalogMapping(
        sku_column=data.get("sku_column"),
        name_column=data.get("name_column"),
        attributes_columns=tuple(attributes) if attributes is not None else None,
    )


@transaction.atomic
def catalog_import_create(*, user: AbstractBaseUser, data: bytes, filename: str, catalog_name: str) -> CatalogImport:
    """Store an uploaded file and have a worker read it; nothing is parsed here. Uploads left
    for a day (never imported nor cancelled) go, with their bytes and staged rows."""
    stale = timezone.now() - timedelta(seconds=STALE_SECONDS)
    CatalogImport.objects.filter(updated_at__lt=stale).exclude(status__in=(S.STAGING, S.IMPORTING)).delete()
    catalog_import = CatalogImport.objects.create(
        created_by=user, catalog_name=catalog_name[:200], filename=filename[:200], data=data, size=len(data)
    )
    catalog_import_stage_enqueue(import_id=catalog_import.pk)
    return catalog_import


def _moved(import_id: int, *sources: str, **changes: object) -> bool:
    """The conditional UPDATE every step goes through: True if the import was in one of `sources`."""
    updated = CatalogImport.objects.filter(pk=import_id, status__in=sources).update(
        updated_at=timezone.now(), **changes
    )
    return updated == 1


def _claimed(import_id: int, waiting: str, running: str, **changes: object) -> bool:
    """Claim a waiting import, or one whose worker died: still `running` but not touched for
    CLAIM_LEASE_SECONDS (a redelivery after a lost worker). A redelivery while it runs finds
    it recently touched and does nothing."""
    stale = timezone.now() - timedelta(seconds=CLAIM_LEASE_SECONDS)
    claimable = Q(status=waiting) | Q(status=running, updated_at__lt=stale)
    updated = CatalogImport.objects.filter(claimable, pk=import_id).update(updated_at=timezone.now(), **changes)
    return updated == 1


def catalog_import_stage(*, import_id: int) -> str:
    """Parse the file once and stage every valid row and every error, in chunks, counting
    progress; a cancel between chunks stops it and removes what was staged."""
    if not _claimed(import_id, S.QUEUED, S.STAGING, status=S.STAGING, done=0, total=0):
        return "skipped"  # a redelivery while it runs, or cancelled before it started
    CatalogImportRow.objects.filter(catalog_import_id=import_id).delete()  # a dead worker's part
    catalog_import = CatalogImport.objects.get(pk=import_id)
    parsed = parse_catalog(
        bytes(catalog_import.data),
        filename=catalog_import.filename,
        mapping=mapping_from_json(catalog_import.mapping),
        max_bytes=settings.CATALOG_UPLOAD_MAX_BYTES,
    )
    entries = [
        *((e.line, "", "", {}, e.message) for e in parsed.errors),
        *((r.line, r.sku, r.name, r.attributes, "") for r in parsed.rows),
    ]
    staged = 0
    try:
        if not _moved(import_id, S.STAGING, total=len(entries)):
            raise _Cancelled
        for chunk in batched(entries, STAGE_CHUNK_ROWS):
            rows_insert(
                CatalogImportRow,
                STAGED_COLUMNS,
                [(import_id, staged + i, *entry) for i, entry in enumerate(chunk)],
            )
            staged += len(chunk)
            if not _moved(import_id, S.STAGING, done=staged):
                raise _Cancelled
        finished = _moved(
            import_id,
            S.STAGING,
            status=S.STAGED,
            format=parsed.format or "",
            columns=parsed.columns,
            sku_column=parsed.sku_column or "",
            name_column=parsed.name_column or "",
            row_count=len(parsed.rows),
            error_count=len(parsed.errors),
            file_error_count=len(parsed.file_errors),
        )
        if not finished:
            raise _Cancelled
    except _Cancelled:
        CatalogImportRow.objects.filter(catalog_import_id=import_id).delete()
        return "cancelled"
    return "staged"


@transaction.atomic
def catalog_import_remap(*, catalog_import: CatalogImport, mapping: CatalogMapping) -> None:
    """Read the file again with another column mapping (the rows depend on it)."""
    changes = {"mapping": mapping_to_json(mapping), "done": 0, "total": 0, "row_count": 0, "error_count": 0}
    if not _moved(catalog_import.pk, S.STAGED, status=S.QUEUED, file_error_count=0, **changes):
        raise ImportRefused("This upload is not waiting for a preview any more.")
    CatalogImportRow.objects.filter(catalog_import=catalog_import).delete()
    catalog_import_stage_enqueue(import_id=catalog_import.pk)


@transaction.atomic
def catalog_import_confirm(*, catalog_import: CatalogImport, catalog_name: str, partial: bool) -> CatalogImport:
    """Check the staged result can be imported and have a worker write it. All-or-nothing
    unless `partial`, as catalog_import: with a row error and no `partial`, nothing happens."""
    name = catalog_name_checked(catalog_name, filename=catalog_import.filename)
    if catalog_import.status != S.STAGED:
        raise ImportRefused("This upload is not waiting to be imported.")
    refused = catalog_import.file_error_count or (catalog_import.error_count and not partial)
    if refused or not catalog_import.row_count:
        errors = staged_errors(catalog_import=catalog_import, limit=REFUSAL_ERRORS)
        raise CatalogImportError(errors or [CatalogError(None, "no valid products")], filename=catalog_import.filename)
    queued = _moved(
        catalog_import.pk,
        S.STAGED,
        status=S.IMPORT_QUEUED,
        catalog_name=name,
        partial=partial,
        done=0,
        total=0,  # the write is one transaction: its progress is not visible until it commits
    )
    if not queued:
        raise ImportRefused("This upload is not waiting to be imported.")
    catalog_import_apply_enqueue(import_id=catalog_import.pk)
    catalog_import.refresh_from_db()
    return catalog_import


def _staged_rows(import_id: int) -> Iterator[CatalogRow]:
    """The valid staged rows in file order, a batch per query (no server-side cursor to close
    when a cancel abandons the write half-way)."""
    rows = CatalogImportRow.objects.filter(catalog_import_id=import_id, error="").order_by("position")
    after = -1
    while batch := list(
        rows.filter(position__gt=after).values_list("position", "line", "sku", "name", "attributes")[:WRITE_BATCH_SIZE]
    ):
        for _, line, sku, name, attributes in batch:
            yield CatalogRow(line=line, sku=sku, name=name, attributes=attributes)
        after = batch[-1][0]


def catalog_import_apply(*, import_id: int) -> str:
    """Write the staged valid rows in one transaction (catalog_write); a cancel seen between
    batches, or at the end, rolls all of it back."""
    if not _claimed(import_id, S.IMPORT_QUEUED, S.IMPORTING, status=S.IMPORTING):
        return "skipped"
    catalog_import = CatalogImport.objects.defer("data").select_related("created_by").get(pk=import_id)

    def still_importing(done: int, total: int) -> None:
        if not CatalogImport.objects.filter(pk=import_id, status=S.IMPORTING).exists():
            raise _Cancelled

    try:
        with transaction.atomic():
            result = catalog_write(
                catalog_name=catalog_import.catalog_name,
                rows=_staged_rows(import_id),
                total=catalog_import.row_count,
                errors=staged_errors(catalog_import=catalog_import),
                filename=catalog_import.filename,
                fmt=catalog_import.format or None,
                partial=catalog_import.partial,
                actor=catalog_import.created_by,
                progress=still_importing,
            )
            summary = {
                "created": result.created,
                "updated": result.updated,
                "unchanged": result.unchanged,
                "skipped": len({e.line for e in result.errors}),
            }
            # The last check, in the same transaction: a cancel that got in first wins.
            finished = _moved(
                import_id, S.IMPORTING, status=S.IMPORTED, catalog=result.catalog, result=summary,
                done=catalog_import.row_count, total=catalog_import.row_count, data=b"",
            )  # fmt: skip
            if not finished:
                raise _Cancelled
    except _Cancelled:
        return "cancelled"
    CatalogImportRow.objects.filter(catalog_import_id=import_id).delete()
    return "imported"


@transaction.atomic
def catalog_import_cancel(*, catalog_import: CatalogImport, actor: AbstractBaseUser) -> None:
    """Stop an import before it is written; the catalog stays as it was. A worker in the
    middle of it sees the status at its next chunk and stops."""
    before = catalog_import.status
    if not _moved(catalog_import.pk, *CANCELLABLE, status=S.CANCELLED, data=b""):
        raise ImportRefused("This import has already finished or been cancelled.")
    CatalogImportRow.objects.filter(catalog_import=catalog_import).delete()
    audit_record(
        action=AuditAction.CATALOG_IMPORT_CANCELLED,
        actor=actor,
        catalog=Catalog.objects.filter(name=catalog_import.catalog_name).first(),
        before={"status": before},
        after={
            "import": catalog_import.pk,
            "filename": catalog_import.filename,
            "catalog": catalog_import.catalog_name,
        },
    )

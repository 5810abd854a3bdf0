"""Selectors over an upload's staged rows: the preview reads these pages instead of parsing the
file again (reviewq.catalogs.imports.jobs writes them)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.paginator import Page, Paginator

from reviewq.catalogs.imports.types import CatalogError, CatalogRow
from reviewq.core.models import CatalogImport, CatalogImportRow

PREVIEW_ROWS = 20
PREVIEW_ERRORS = 100


@dataclass(frozen=True, slots=True)
class StagedPreview:
    catalog_import: CatalogImport
    rows: Page  # of CatalogRow
    errors: list[CatalogError]  # the first PREVIEW_ERRORS, file errors first
    attribute_columns: list[str]

    @property
    def file_errors(self) -> list[CatalogError]:
        return [e for e in self.errors if e.line is None]


def catalog_import_get(*, pk: int, user: AbstractBaseUser) -> CatalogImport | None:
    """The user's own import, without its file's bytes."""
    return CatalogImport.objects.defer("data").filter(pk=pk, created_by=user).first()


def staged_errors(*, catalog_import: CatalogImport, limit: int | None = None) -> list[CatalogError]:
    rows = CatalogImportRow.objects.filter(catalog_import=catalog_import).exclude(error="").order_by("position")
    return [CatalogError(line, error) for line, error in rows.values_list("line", "error")[:limit]]


def catalog_import_preview(*, catalog_import: CatalogImport, page: int = 1) -> StagedPreview:
    valid = (
        CatalogImportRow.objects.filter(catalog_import=catalog_import, error="")
        .order_by("position")
        .values_list("line", "sku", "name", "attributes")
    )
    paginator = Paginator(valid, PREVIEW_ROWS)
    paginator.count = catalog_import.row_count  # known from staging: no COUNT(*) per page
    rows = paginator.get_page(page)
    rows.object_list = [CatalogRow(line=line, sku=sku, name=name, attributes=a) for line, sku, name, a in rows]
    chosen = catalog_import.mapping.get("attributes_columns")
    roles = (catalog_import.sku_column, catalog_import.name_column)
    return StagedPreview(
        catalog_import=catalog_import,
        rows=rows,
        errors=staged_errors(catalog_import=catalog_import, limit=PREVIEW_ERRORS),
        attribute_columns=list(chosen) if chosen is not None else [c for c in catalog_import.columns if c not in roles],
    )

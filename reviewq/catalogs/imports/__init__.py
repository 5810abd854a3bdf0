"""Catalog import: detect the format, read rows with line-numbered errors, clean them, write them."""

from reviewq.catalogs.imports.service import catalog_import, parse_catalog, preview_catalog
from reviewq.catalogs.imports.types import (
    DEFAULT_MAX_BYTES,
    FORMATS,
    MAX_ATTRIBUTE_VALUE_CHARS,
    MAX_ATTRIBUTES,
    MAX_COLUMNS,
    CatalogError,
    CatalogImportError,
    CatalogMapping,
    CatalogPreview,
    CatalogRow,
    ImportResult,
    ParsedCatalog,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "FORMATS",
    "MAX_ATTRIBUTES",
    "MAX_ATTRIBUTE_VALUE_CHARS",
    "MAX_COLUMNS",
    "CatalogError",
    "CatalogImportError",
    "CatalogMapping",
    "CatalogPreview",
    "CatalogRow",
    "ImportResult",
    "ParsedCatalog",
    "catalog_import",
    "parse_catalog",
    "preview_catalog",
]

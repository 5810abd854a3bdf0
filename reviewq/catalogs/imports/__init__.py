"""Catalog import: detect the format, read rows with line-numbered errors, clean them, write them."""

from reviewq.catalogs.imports.service import catalog_import, parse_catalog, preview_catalog
from reviewq.catalogs.imports.types import CatalogError, CatalogImportError, CatalogMapping, CatalogPreview, CatalogRow, DEFAULT_MAX_BYTES, FORMATS, ImportResult, MAX_ATTRIBUTES, MAX_ATTRIBUTE_VALUE_CHARS, MAX_COLUMNS, ParsedCatalog

__all__ = [
    "CatalogError",
    "CatalogImportError",
    "CatalogMapping",
    "CatalogPreview",
    "CatalogRow",
    "DEFAULT_MAX_BYTES",
    "FORMATS",
    "ImportResult",
    "MAX_ATTRIBUTES",
    "MAX_ATTRIBUTE_VALUE_CHARS",
    "MAX_COLUMNS",
    "ParsedCatalog",
    "catalog_import",
    "parse_catalog",
    "preview_catalog",
]

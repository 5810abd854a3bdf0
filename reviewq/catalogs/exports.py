"""Published copy as CSV or JSON Lines, streamed row by row (one query, server-side cursor).

CSV cells that a spreadsheet would run as a formula (starting with = + - @, tab or carriage
return) get a leading apostrophe, the OWASP-recommended neutralisation; JSON Lines keeps the
text exactly as published.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from django.db.models import F

from reviewq.core.downloads import csv_stream, filename_slug
from reviewq.core.models import Catalog, Description, DescriptionStatus

EXPORT_FORMATS = ("csv", "jsonl")
CSV_COLUMNS = ("sku", "name", "text", "status", "published_at", "description_id", "catalog")


def published_rows(*, catalog: Catalog) -> Iterator[dict]:
    """One dict per published description of the catalog, by sku."""
    rows = (
        Description.objects.filter(product__catalog=catalog, status=DescriptionStatus.PUBLISHED)
        .order_by("product__sku")
        .values("id", "text", "status", "published_at", sku=F("product__sku"), name=F("product__name"))
    )
    for row in rows.iterator(chunk_size=2000):
        yield {
            "sku": row["sku"],
            "name": row["name"],
            "text": row["text"],
            "status": row["status"],
            "published_at": row["published_at"].isoformat() if row["published_at"] else None,
            "description_id": row["id"],
            "catalog": catalog.name,
        }


def stream_csv(rows: Iterable[dict]) -> Iterator[str]:
    return csv_stream(CSV_COLUMNS, rows)


def stream_jsonl(rows: Iterable[dict]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row, ensure_ascii=False) + "\n"


def export_filename(*, catalog: Catalog, fmt: str) -> str:
    return f"{filename_slug(catalog.name, fallback=f'catalog-{catalog.pk}')}-published.{fmt}"

"""Downloads and exports: CSV streamed in chunks with spreadsheet formulas neutralised, the
chunks written to a file or a command's output, or streamed as an attachment.

Cells a spreadsheet would run as a formula (starting with = + - @, tab or carriage return) get
a leading apostrophe, the OWASP-recommended neutralisation.
"""

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence

from django.core.management.base import OutputWrapper
from django.http import StreamingHttpResponse

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A value safe to open in a spreadsheet: formulas are neutralised with a leading '. A number
    (a negative logprob) is no formula and stays a number."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def csv_stream(columns: Sequence[str], rows: Iterable[dict]) -> Iterator[str]:
    """CSV text in chunks of about 64 KiB: a header, then one neutralised line per row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(row[column]) for column in columns])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def chunks_write(chunks: Iterable[str], *, output: str | None, stdout: OutputWrapper) -> None:
    """The chunks to the file `output` (replaced), or to a command's `stdout` without it."""
    if output:
        # newline="" keeps the csv module's \r\n line ends as written.
        with open(output, "w", encoding="utf-8", newline="") as target:
            for chunk in chunks:
                target.write(chunk)
    else:
        for chunk in chunks:
            stdout.write(chunk, ending="")


CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}


def filename_slug(name: str, *, fallback: str) -> str:
    """`name` as a safe file name part (at most 80 characters), `fallback` when nothing is left."""
    return (re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or fallback)[:80]


def download_response(chunks: Iterable[str], *, fmt: str, filename: str) -> StreamingHttpResponse:
    """The chunks (CSV or JSONL, by `fmt`) streamed as an attachment named `filename`."""
    response = StreamingHttpResponse(chunks, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response

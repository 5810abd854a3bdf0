"""Write a catalog's published descriptions as CSV or JSON Lines (stdout or --output)."""

from django.core.management.base import BaseCommand, CommandError

from reviewq.catalogs.exports import EXPORT_FORMATS, published_rows, stream_csv, stream_jsonl
from reviewq.core.downloads import chunks_write
from reviewq.core.models import Catalog


class Command(BaseCommand):
    help = "Export a catalog's published descriptions. CSV cells that look like formulas are neutralised."

    def add_arguments(self, parser):
        parser.add_argument("--catalog", required=True, help="Catalog name (exact).")
        parser.add_argument("--format", choices=EXPORT_FORMATS, default="csv", dest="fmt")
        parser.add_argument("--output", "-o", help="File to write; default: standard output.")

    def handle(self, *args, catalog: str, fmt: str, output: str | None, **options):
        found = Catalog.objects.filter(name=catalog).first()
        if found is None:
            names = ", ".join(repr(n) for n in Catalog.objects.values_list("name", flat=True)[:20]) or "none"
            raise CommandError(f"No catalog named {catalog!r}. Catalogs: {names}")
        counted = [0]

        def rows():
            for row in published_rows(catalog=found):
                counted[0] += 1
                yield row

        chunks = stream_csv(rows()) if fmt == "csv" else stream_jsonl(rows())
        chunks_write(chunks, output=output, stdout=self.stdout)
        if output:
            self.stderr.write(f"Wrote {counted[0]} published description(s) of {found.name!r} to {output}.")

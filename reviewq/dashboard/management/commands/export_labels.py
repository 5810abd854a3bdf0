"""Write reviewer-labelled sentences as gate_eval JSON Lines or CSV (stdout or --output),
streamed a chunk of descriptions at a time (reviewq/dashboard/label_export.py)."""

from django.core.management.base import BaseCommand, CommandError

from reviewq.core.downloads import chunks_write
from reviewq.core.models import Catalog
from reviewq.dashboard.label_export import LABEL_FORMATS, label_cases, stream_label_csv, stream_label_jsonl


class Command(BaseCommand):
    help = (
        "Export decided sentences (labels) with their tokens' logprobs and alternatives, signals, "
        "kinds, categories and reviewers: JSONL that `gate_eval` reads, or CSV one row per sentence."
    )

    def add_arguments(self, parser):
        parser.add_argument("--model", dest="model_name", help="Only descriptions written by this model.")
        parser.add_argument("--catalog", help="Catalog name (exact); default: all catalogs.")
        parser.add_argument("--format", choices=LABEL_FORMATS, default="jsonl", dest="fmt")
        parser.add_argument("--output", "-o", help="File to write; default: standard output.")

    def handle(self, *args, model_name: str | None, catalog: str | None, fmt: str, output: str | None, **options):
        catalog_id = None
        if catalog is not None:
            found = Catalog.objects.filter(name=catalog).first()
            if found is None:
                names = ", ".join(repr(n) for n in Catalog.objects.values_list("name", flat=True)[:20]) or "none"
                raise CommandError(f"No catalog named {catalog!r}. Catalogs: {names}")
            catalog_id = found.pk
        counted = {"descriptions": 0, "labels": 0}

        def cases():
            for case in label_cases(model_name=model_name, catalog_id=catalog_id):
                counted["descriptions"] += 1
                counted["labels"] += len(case["sentences"]) + len(case["regenerated"])
                yield case

        chunks = stream_label_csv(cases()) if fmt == "csv" else stream_label_jsonl(cases())
        chunks_write(chunks, output=output, stdout=self.stdout)
        if output:
            self.stderr.write(
                f"Wrote {counted['labels']} label(s) of {counted['descriptions']} description(s) to {output}."
            )

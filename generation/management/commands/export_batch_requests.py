import json
import sys
from typing import TextIO, cast

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from generation.batch import batch_requests_build
from reviewq.core.models import CURRENT_STATUSES, Catalog


class Command(BaseCommand):
    help = "Write OpenAI Batch API requests (JSONL) for a catalog's products."

    def add_arguments(self, parser):
        parser.add_argument("--catalog", required=True)
        parser.add_argument("--output", "-o", default="-", help="File to write (default: stdout)")
        parser.add_argument("--only-missing", action="store_true")
        parser.add_argument("--model", default="", help="Model name for the requests (default: LLM_MODEL)")

    def handle(self, *args, catalog, output, only_missing, model, **options):
        try:
            catalog_obj = Catalog.objects.get(name=catalog)
        except Catalog.DoesNotExist:
            raise CommandError(f"No catalog named {catalog!r}.") from None
        total = (
            catalog_obj.products.exclude(descriptions__status__in=CURRENT_STATUSES).count()
            if only_missing
            else catalog_obj.products.count()
        )
        out = sys.stdout if output == "-" else open(output, "w", encoding="utf-8")  # noqa: SIM115
        count = 0
        try:
            for request in tqdm(
                batch_requests_build(catalog=catalog_obj, only_missing=only_missing, model=model),
                total=total,
                desc="requests",
                unit="product",
                file=cast("TextIO", self.stderr._out),
            ):
                out.write(json.dumps(request, ensure_ascii=False) + "\n")
                count += 1
        finally:
            if out is not sys.stdout:
                out.close()
        where = "stdout" if output == "-" else output
        self.stderr.write(self.style.SUCCESS(f"Wrote {count} Batch API requests for {catalog_obj.name!r} to {where}."))

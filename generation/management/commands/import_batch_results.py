from typing import TextIO, cast

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from generation.batch import batch_results_import


class Command(BaseCommand):
    help = "Store OpenAI Batch API results (output or error JSONL) as descriptions."

    def add_arguments(self, parser):
        parser.add_argument("file")

    def handle(self, *args, file, **options):
        try:
            with open(file, "rb") as fh:
                lines = fh.readlines()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc}") from None
        with tqdm(total=len(lines), desc="results", unit="line", file=cast("TextIO", self.stderr._out)) as bar:
            result = batch_results_import(lines=lines, progress=lambda n: bar.update(n - bar.n))
        for line, message in result.errors:
            self.stderr.write(f"line {line}: {message}")
        self.stdout.write(
            self.style.SUCCESS(
                f"{result.stored} stored, {result.failed} failed, {result.skipped} skipped, "
                f"{len(result.errors)} lines with problems."
            )
        )

"""python manage.py import_catalog FILE --catalog NAME: upsert a CSV / JSON / JSONL catalog."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from reviewq.catalogs.imports import DEFAULT_MAX_BYTES, FORMATS, CatalogImportError, CatalogMapping, catalog_import

MAX_ERRORS_SHOWN = 200
MAX_BYTES = DEFAULT_MAX_BYTES


class Command(BaseCommand):
    help = (
        "Import products into a catalog (created if missing), matching existing products by sku. "
        "All-or-nothing unless --partial."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV, JSON or JSONL file (UTF-8)")
        parser.add_argument("--catalog", required=True, help="Catalog name")
        parser.add_argument("--format", choices=FORMATS, help="Override detection by extension/content")
        parser.add_argument("--partial", action="store_true", help="Import the valid rows and report the bad ones")
        parser.add_argument("--sku-column", help="Column (or JSON key) holding the sku")
        parser.add_argument("--name-column", help="Column (or JSON key) holding the product name")
        parser.add_argument(
            "--attribute-column",
            action="append",
            dest="attribute_columns",
            metavar="COLUMN",
            help="Keep only these columns as attributes (repeatable)",
        )

    def handle(self, *args, **options):
        path = Path(options["file"])
        try:
            size = path.stat().st_size
            if size > MAX_BYTES:
                raise CommandError(
                    f"{path.name} is {size:,} bytes, over the {MAX_BYTES:,}-byte import "
                    "limit; split it into smaller files. Nothing was written."
                )
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from exc
        mapping = CatalogMapping(
            sku_column=options["sku_column"],
            name_column=options["name_column"],
            attributes_columns=tuple(options["attribute_columns"]) if options["attribute_columns"] else None,
        )
        bar = None

        def progress(done: int, total: int) -> None:
            nonlocal bar
            if bar is None:
                # The wrapped stream itself: OutputWrapper.write would end every \r update with \n.
                bar = tqdm(
                    total=total,
                    unit="product",
                    desc="Importing",
                    file=self.stderr._out,
                    disable=options["verbosity"] == 0,
                    leave=False,
                )
            bar.update(done - bar.n)

        try:
            result = catalog_import(
                catalog_name=options["catalog"],
                data=data,
                filename=path.name,
                fmt=options["format"],
                mapping=mapping,
                partial=options["partial"],
                progress=progress,
                max_bytes=MAX_BYTES,
            )
        except CatalogImportError as exc:
            self._print_errors(exc.errors)
            rows_only = all(e.line is not None for e in exc.errors)
            hint = " (use --partial to import the valid rows)" if rows_only and not options["partial"] else ""
            raise CommandError(f"{len(exc.errors)} error(s) in {path.name}; nothing was written{hint}") from exc
        finally:
            if bar is not None:
                bar.close()

        if result.errors:
            self._print_errors(result.errors)
            skipped = len({e.line for e in result.errors})
            self.stderr.write(self.style.WARNING(f"Skipped {skipped} row(s) with errors."))
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {result.imported} products into '{result.catalog.name}' "
                f"({result.created} new, {result.updated} updated, {result.unchanged} unchanged)"
            )
        )

    def _print_errors(self, errors) -> None:
        for error in errors[:MAX_ERRORS_SHOWN]:
            self.stderr.write(str(error))
        if len(errors) > MAX_ERRORS_SHOWN:
            self.stderr.write(f"... and {len(errors) - MAX_ERRORS_SHOWN} more errors")

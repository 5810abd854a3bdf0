import time
from typing import TextIO, cast

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count
from tqdm import tqdm

from generation.queueing import catalog_generate, descriptions_queue
from generation.services import RetryLater, description_generate
from reviewq.core.models import Catalog, Description, DescriptionStatus

S = DescriptionStatus
TERMINAL = (S.REVIEW, S.PUBLISHED, S.REJECTED, S.FAILED)


class Command(BaseCommand):
    help = "Queue description generation for a catalog's products (Celery workers do the work)."

    def add_arguments(self, parser):
        parser.add_argument("--catalog", required=True, help="Catalog name")
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--only-missing", action="store_true", help="Skip products that have a description")
        which.add_argument("--only-failed", action="store_true", help="Retry failed descriptions only")
        parser.add_argument("--wait", action="store_true", help="Show progress until every queued product is done")
        parser.add_argument("--timeout", type=float, default=0, help="With --wait: give up after N seconds (0 = never)")
        parser.add_argument(
            "--inline",
            action="store_true",
            help="Generate in this process, one product after another, without a worker",
        )

    def handle(self, *args, catalog, only_missing, only_failed, wait, timeout, inline, **options):
        try:
            catalog_obj = Catalog.objects.get(name=catalog)
        except Catalog.DoesNotExist:
            raise CommandError(f"No catalog named {catalog!r}.") from None
        if inline:
            return self._inline(catalog_obj, only_missing=only_missing, only_failed=only_failed)
        queued = catalog_generate(catalog=catalog_obj, only_missing=only_missing, only_failed=only_failed)
        self.stdout.write(f"Queued {len(queued)} products of {catalog_obj.name!r} for generation.")
        if wait and queued:
            self._wait(queued, timeout=timeout)

    def _inline(self, catalog, *, only_missing, only_failed):
        product_ids = list(catalog.products.values_list("id", flat=True))
        queued = descriptions_queue(product_ids=product_ids, only_missing=only_missing, only_failed=only_failed)
        for product_id in tqdm(queued, desc="generating", unit="product", file=cast("TextIO", self.stderr._out)):
            while True:  # bounded: the row's attempt count ends in FAILED after GENERATION_MAX_ATTEMPTS
                try:
                    description_generate(product_id=product_id)
                    break
                except RetryLater as exc:
                    time.sleep(min(exc.retry_after or 1.0, 10.0))
        self._summary(queued)

    def _wait(self, product_ids, *, timeout):
        started = time.monotonic()
        with tqdm(
            total=len(product_ids), desc="generating", unit="product", file=cast("TextIO", self.stderr._out)
        ) as bar:
            while True:
                done = Description.objects.filter(product_id__in=product_ids, status__in=TERMINAL).count()
                bar.update(done - bar.n)
                if done >= len(product_ids):
                    break
                if timeout and time.monotonic() - started > timeout:
                    self._summary(product_ids)
                    raise CommandError(
                        f"Timed out after {timeout:.0f} s with {len(product_ids) - done} products unfinished."
                    )
                time.sleep(1.0)
        self._summary(product_ids)

    def _summary(self, product_ids):
        counts = dict(
            Description.objects.filter(product_id__in=product_ids)
            .values_list("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
        parts = ", ".join(f"{counts.get(s, 0)} {S(s).label.lower()}" for s in S if counts.get(s))
        self.stdout.write(self.style.SUCCESS(f"{len(product_ids)} products: {parts or 'nothing to do'}."))

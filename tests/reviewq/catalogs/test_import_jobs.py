"""Browser imports off the request path: a worker parses the stored file once into staged rows
(with progress, cancellable between chunks), the preview reads them, a confirmed import writes
them; every step claims the import, so a redelivered task does nothing."""

import pytest

from reviewq.catalogs.imports import CatalogImportError, CatalogMapping, jobs
from reviewq.catalogs.imports.staged import catalog_import_preview
from reviewq.core.models import AuditEvent, Catalog, CatalogImport, CatalogImportRow, Product
from tests.factories import CatalogFactory, ProductFactory, UserFactory

pytestmark = pytest.mark.django_db
S = CatalogImport.Status
BAD_CSV = b"sku,name,colour\nA-1,Blue bottle,blue\n,Nameless,red\nA-3,Green bottle,green\n"


def _csv(count: int, *, start: int = 0) -> bytes:
    return b"sku,name,colour\n" + b"".join(b"S-%05d,Product %d,blue\n" % (i, i) for i in range(start, start + count))


def _created(data: bytes, django_capture_on_commit_callbacks, **kwargs) -> CatalogImport:
    with django_capture_on_commit_callbacks(execute=False) as sent:
        catalog_import = jobs.catalog_import_create(
            user=UserFactory(), data=data, filename=kwargs.get("filename", "c.csv"), catalog_name="Bottles"
        )
    assert len(sent) == 1  # the stage task, after commit
    return catalog_import


@pytest.fixture
def created(django_capture_on_commit_callbacks):
    return lambda data, **kwargs: _created(data, django_capture_on_commit_callbacks, **kwargs)


def _staged(catalog_import: CatalogImport) -> list[tuple]:
    return list(
        CatalogImportRow.objects.filter(catalog_import=catalog_import).values_list("line", "sku", "name", "error")
    )


def test_create_stores_the_file_and_parses_nothing(created, monkeypatch):
    calls = []
    monkeypatch.setattr(jobs, "parse_catalog", lambda *a, **k: calls.append(1))
    catalog_import = created(BAD_CSV)
    catalog_import.refresh_from_db()
    assert (catalog_import.status, bytes(catalog_import.data), catalog_import.size) == (S.QUEUED, BAD_CSV, len(BAD_CSV))
    assert calls == [] and not CatalogImportRow.objects.exists()


def test_stage_keeps_valid_rows_and_bad_rows_with_their_line_and_message(created):
    catalog_import = created(BAD_CSV)
    assert jobs.catalog_import_stage(import_id=catalog_import.pk) == "staged"
    catalog_import.refresh_from_db()
    assert catalog_import.status == S.STAGED
    assert (catalog_import.row_count, catalog_import.error_count, catalog_import.file_error_count) == (2, 1, 0)
    assert (catalog_import.format, catalog_import.sku_column, catalog_import.name_column) == ("csv", "sku", "name")
    assert (catalog_import.done, catalog_import.total) == (3, 3)
    assert _staged(catalog_import) == [
        (3, "", "", "missing sku"),
        (2, "A-1", "Blue bottle", ""),
        (4, "A-3", "Green bottle", ""),
    ]
    assert not Catalog.objects.exists() and not Product.objects.exists()


def test_a_file_error_is_staged_without_a_line(created):
    catalog_import = created(b"\xff\xfe\x00garbage", filename="bad.csv")
    jobs.catalog_import_stage(import_id=catalog_import.pk)
    catalog_import.refresh_from_db()
    assert (catalog_import.status, catalog_import.file_error_count, catalog_import.row_count) == (S.STAGED, 1, 0)
    [(line, _, _, error)] = _staged(catalog_import)
    assert line is None and "UTF-16" in error


def test_progress_is_visible_between_chunks(created, monkeypatch):
    monkeypatch.setattr(jobs, "STAGE_CHUNK_ROWS", 2)
    catalog_import = created(_csv(5))
    seen = []
    rows_insert = jobs.rows_insert

    def spy(*args, **kwargs):
        seen.append(CatalogImport.objects.values_list("done", "total").get(pk=catalog_import.pk))
        return rows_insert(*args, **kwargs)

    monkeypatch.setattr(jobs, "rows_insert", spy)
    jobs.catalog_import_stage(import_id=catalog_import.pk)
    assert seen == [(0, 5), (2, 5), (4, 5)]
    assert CatalogImport.objects.values_list("done", "total").get(pk=catalog_import.pk) == (5, 5)


def test_cancel_between_chunks_stops_staging_and_keeps_nothing(created, monkeypatch):
    monkeypatch.setattr(jobs, "STAGE_CHUNK_ROWS", 2)
    catalog_import = created(_csv(9))
    editor = catalog_import.created_by
    rows_insert = jobs.rows_insert
    chunks = []

    def cancel_after_the_second_chunk(*args, **kwargs):
        chunks.append(1)
        if len(chunks) == 3:
            jobs.catalog_import_cancel(catalog_import=catalog_import, actor=editor)
        return rows_insert(*args, **kwargs)

    monkeypatch.setattr(jobs, "rows_insert", cancel_after_the_second_chunk)
    assert jobs.catalog_import_stage(import_id=catalog_import.pk) == "cancelled"
    assert len(chunks) == 3  # it stopped at the next check, not at the end of the file
    catalog_import.refresh_from_db()
    assert (catalog_import.status, bytes(catalog_import.data)) == (S.CANCELLED, b"")
    assert not CatalogImportRow.objects.exists() and not Product.objects.exists()
    event = AuditEvent.objects.get(action="catalog_import_cancelled")
    assert event.actor == editor and event.after["filename"] == "c.csv"


def test_a_redelivered_stage_task_is_a_no_op(created, monkeypatch):
    catalog_import = created(BAD_CSV)
    assert jobs.catalog_import_stage(import_id=catalog_import.pk) == "staged"
    calls = []
    monkeypatch.setattr(jobs, "parse_catalog", lambda *a, **k: calls.append(1))
    assert jobs.catalog_import_stage(import_id=catalog_import.pk) == "skipped"
    assert calls == [] and CatalogImportRow.objects.count() == 3


def test_a_cancelled_upload_is_never_read(created):
    catalog_import = created(BAD_CSV)
    jobs.catalog_import_cancel(catalog_import=catalog_import, actor=catalog_import.created_by)
    assert jobs.catalog_import_stage(import_id=catalog_import.pk) == "skipped"
    assert not CatalogImportRow.objects.exists()
    with pytest.raises(jobs.ImportRefused):
        jobs.catalog_import_cancel(catalog_import=catalog_import, actor=catalog_import.created_by)


def _staged_import(created, data: bytes) -> CatalogImport:
    catalog_import = created(data)
    jobs.catalog_import_stage(import_id=catalog_import.pk)
    catalog_import.refresh_from_db()
    return catalog_import


def test_confirm_refuses_row_errors_unless_partial_and_changes_nothing(created, django_capture_on_commit_callbacks):
    catalog_import = _staged_import(created, BAD_CSV)
    with pytest.raises(CatalogImportError) as refused:
        jobs.catalog_import_confirm(catalog_import=catalog_import, catalog_name="Bottles", partial=False)
    assert [str(e) for e in refused.value.errors] == ["line 3: missing sku"]
    assert CatalogImport.objects.get(pk=catalog_import.pk).status == S.STAGED
    with django_capture_on_commit_callbacks(execute=False) as sent:
        jobs.catalog_import_confirm(catalog_import=catalog_import, catalog_name=" Bottles ", partial=True)
    assert len(sent) == 1  # the apply task
    catalog_import.refresh_from_db()
    assert (catalog_import.status, catalog_import.catalog_name) == (S.IMPORT_QUEUED, "Bottles")
    with pytest.raises(jobs.ImportRefused):  # a second click
        jobs.catalog_import_confirm(catalog_import=catalog_import, catalog_name="Bottles", partial=True)


def test_apply_writes_the_staged_rows_once_and_a_redelivery_is_a_no_op(created):
    catalog = CatalogFactory(name="Bottles")
    ProductFactory(catalog=catalog, sku="S-00000", name="Old name", attributes={})
    ProductFactory(catalog=catalog, sku="KEEP", name="Kept", attributes={"a": 1})
    catalog_import = _staged_import(created, _csv(3))
    jobs.catalog_import_confirm(catalog_import=catalog_import, catalog_name="Bottles", partial=False)
    assert jobs.catalog_import_apply(import_id=catalog_import.pk) == "imported"
    assert jobs.catalog_import_apply(import_id=catalog_import.pk) == "skipped"
    catalog_import.refresh_from_db()
    assert catalog_import.status == S.IMPORTED and catalog_import.catalog == catalog
    assert catalog_import.result == {"created": 2, "updated": 1, "unchanged": 0, "skipped": 0}
    assert dict(Product.objects.values_list("sku", "name")) == {
        "KEEP": "Kept",
        "S-00000": "Product 0",
        "S-00001": "Product 1",
        "S-00002": "Product 2",
    }
    event = AuditEvent.objects.get(action="catalog_import")
    assert event.actor == catalog_import.created_by and event.after["created"] == 2
    assert not CatalogImportRow.objects.exists() and bytes(catalog_import.data) == b""


def test_a_cancel_during_the_write_rolls_all_of_it_back(created, monkeypatch):
    from reviewq.catalogs.imports import service

    catalog = CatalogFactory(name="Bottles")
    ProductFactory(catalog=catalog, sku="S-00000", name="Old name", attributes={})
    monkeypatch.setattr(service, "WRITE_BATCH_SIZE", 2)
    catalog_import = _staged_import(created, _csv(7))
    jobs.catalog_import_confirm(catalog_import=catalog_import, catalog_name="Bottles", partial=False)
    bulk_create = Product.objects.bulk_create
    batches = []

    def cancelled_after_the_first_batch(objs, *args, **kwargs):
        batches.append(1)
        if len(batches) == 3:  # the first batch's inserts and upserts are written
            CatalogImport.objects.filter(pk=catalog_import.pk).update(status=S.CANCELLED)
        return bulk_create(objs, *args, **kwargs)

    monkeypatch.setattr(Product.objects, "bulk_create", cancelled_after_the_first_batch)
    assert jobs.catalog_import_apply(import_id=catalog_import.pk) == "cancelled"
    assert list(Product.objects.values_list("sku", "name")) == [("S-00000", "Old name")]
    assert not AuditEvent.objects.filter(action="catalog_import").exists()


def test_remap_reads_the_file_again_with_the_new_columns(created, django_capture_on_commit_callbacks):
    catalog_import = _staged_import(created, b"ref,label,colour\nX1,Mug,white\n")
    assert catalog_import.file_error_count == 2  # no sku or name column by those names
    with django_capture_on_commit_callbacks(execute=False) as sent:
        jobs.catalog_import_remap(
            catalog_import=catalog_import, mapping=CatalogMapping(sku_column="ref", name_column="label")
        )
    assert len(sent) == 1 and not CatalogImportRow.objects.exists()
    jobs.catalog_import_stage(import_id=catalog_import.pk)
    catalog_import.refresh_from_db()
    assert (catalog_import.status, catalog_import.row_count, catalog_import.error_count) == (S.STAGED, 1, 0)
    preview = catalog_import_preview(catalog_import=catalog_import)
    [row] = preview.rows
    assert (row.line, row.sku, row.name, row.attributes) == (2, "X1", "Mug", {"colour": "white"})
    with pytest.raises(jobs.ImportRefused):  # only a staged upload is read again
        CatalogImport.objects.filter(pk=catalog_import.pk).update(status=S.IMPORTING)
        catalog_import.refresh_from_db()
        jobs.catalog_import_remap(catalog_import=catalog_import, mapping=CatalogMapping())


def test_preview_pages_through_the_staged_rows(created):
    catalog_import = _staged_import(created, _csv(45))
    page = catalog_import_preview(catalog_import=catalog_import, page=3).rows
    assert [r.sku for r in page] == [f"S-{i:05d}" for i in range(40, 45)]
    assert (page.number, page.paginator.num_pages) == (3, 3)
    assert catalog_import_preview(catalog_import=catalog_import, page=99).rows.number == 3


def test_an_import_whose_worker_died_is_claimed_again_after_the_lease(created):
    from datetime import timedelta

    from django.utils import timezone

    catalog_import = created(BAD_CSV)
    jobs.catalog_import_stage(import_id=catalog_import.pk)
    # The worker "died" half-way: still reading, some rows staged, one of them wrong.
    CatalogImportRow.objects.filter(catalog_import=catalog_import, line=4).delete()
    CatalogImport.objects.filter(pk=catalog_import.pk).update(status=S.STAGING)
    assert jobs.catalog_import_stage(import_id=catalog_import.pk) == "skipped"  # recently touched: running
    stale = timezone.now() - timedelta(seconds=jobs.CLAIM_LEASE_SECONDS + 1)
    CatalogImport.objects.filter(pk=catalog_import.pk).update(updated_at=stale)
    assert jobs.catalog_import_stage(import_id=catalog_import.pk) == "staged"
    assert [line for line, *_ in _staged(catalog_import)] == [3, 2, 4]
    catalog_import.refresh_from_db()
    jobs.catalog_import_confirm(catalog_import=catalog_import, catalog_name="Bottles", partial=True)
    CatalogImport.objects.filter(pk=catalog_import.pk).update(status=S.IMPORTING)
    assert jobs.catalog_import_apply(import_id=catalog_import.pk) == "skipped"
    CatalogImport.objects.filter(pk=catalog_import.pk).update(updated_at=stale)
    assert jobs.catalog_import_apply(import_id=catalog_import.pk) == "imported"
    assert sorted(Product.objects.values_list("sku", flat=True)) == ["A-1", "A-3"]

"""Editors' pages: roles, the upload (preview, mapping, per-row errors, size limit, import) and
the run pages (start, progress polling, cancel, retry)."""

import pytest
from django.urls import reverse

from reviewq.core.models import (
    AuditEvent,
    Catalog,
    CatalogImport,
    CatalogImportRow,
    Description,
    DescriptionStatus,
    GenerationRun,
    Product,
)
from tests.factories import CatalogFactory, ProductFactory
from tests.reviewq.editor_data import ROLE_NAMES, client_for

pytestmark = pytest.mark.django_db
S = DescriptionStatus


@pytest.fixture(autouse=True)
def uploads_in_tmp(settings, tmp_path):
    settings.DATA_DIR = tmp_path


GOOD_CSV = b"sku,name,colour\nA-1,Blue bottle,blue\nA-2,Red bottle,red\n"
BAD_CSV = b"sku,name,colour\nA-1,Blue bottle,blue\n,Nameless,red\nA-3,Green bottle,green\n"
HX = {"HTTP_HX_REQUEST": "true"}


def _upload_post(client, data: bytes, *, name="bottles.csv", catalog="Bottles"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(
        reverse("catalog_upload"), {"catalog_name": catalog, "file": SimpleUploadedFile(name, data, "text/csv")}
    )


@pytest.fixture
def upload(run_tasks):
    """Upload a file and let the worker read it (eagerly, after the view's commit)."""

    def upload(client, data: bytes, **kwargs):
        with run_tasks():
            return _upload_post(client, data, **kwargs)

    return upload


@pytest.fixture
def post_and_run(run_tasks):
    """A POST whose work (an import, a new mapping) the worker then does."""

    def post_and_run(client, url: str, data: dict, **extra):
        with run_tasks():
            return client.post(url, data, **extra)

    return post_and_run


# --- roles ----------------------------------------------------------------------------------


def _page_urls():
    catalog = CatalogFactory()
    run = GenerationRun.objects.create(catalog=catalog)
    return [
        reverse("catalog_list"),
        reverse("catalog_upload"),
        reverse("catalog_detail", args=[catalog.pk]),
        reverse("run_detail", args=[run.pk]),
    ]


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_pages_need_manage_catalogs(client, role):
    urls = _page_urls()
    client, _ = client_for(client, role)
    for url in urls:
        response = client.get(url)
        if role == "anonymous":
            assert response.status_code == 302 and response["Location"].startswith(reverse("login")), url
        elif role == "reviewer":
            assert response.status_code == 403, url
        else:
            assert response.status_code == 200, url


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_only_editors_and_admins_start_cancel_and_retry_runs(client, role, django_capture_on_commit_callbacks):
    catalog = CatalogFactory()
    ProductFactory(catalog=catalog)
    client, _ = client_for(client, role)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("run_create", args=[catalog.pk]), {"mode": "all", "candidates": "1"})
    if role in ("anonymous", "reviewer"):
        assert response.status_code in (302, 403)
        if role == "anonymous":
            assert response["Location"].startswith(reverse("login"))
        assert not GenerationRun.objects.exists() and not Description.objects.exists()
        run = GenerationRun.objects.create(catalog=catalog)
        for name in ("run_cancel", "run_retry"):
            assert client.post(reverse(name, args=[run.pk])).status_code in (302, 403)
        run.refresh_from_db()
        assert run.status == GenerationRun.Status.RUNNING
        return
    run = GenerationRun.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("run_detail", args=[run.pk])
    assert Description.objects.get().run == run


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_upload_and_import_need_manage_catalogs(client, role, upload, post_and_run):
    from django.test import Client

    editor_client, _ = client_for(Client(), "editor")
    staged_url = upload(editor_client, GOOD_CSV)["Location"]
    client, _ = client_for(client, role)
    response = upload(client, GOOD_CSV)
    preview = client.get(staged_url)
    imported = post_and_run(client, staged_url, {"catalog_name": "Bottles"})
    if role == "anonymous":
        for r in (response, preview, imported):
            assert r.status_code == 302 and r["Location"].startswith(reverse("login"))
    elif role == "reviewer":
        assert (response.status_code, preview.status_code, imported.status_code) == (403, 403, 403)
    else:
        assert response.status_code == 302
        assert imported.status_code == 302 and imported["Location"] == reverse("catalog_upload")  # not their upload
    assert not Product.objects.exists()  # uploading alone writes nothing, nor does someone else's upload


# --- upload ---------------------------------------------------------------------------------


def test_bad_row_is_shown_with_its_line_and_nothing_is_written_until_fixed(client, upload, post_and_run):
    client, _ = client_for(client, "editor")
    response = upload(client, BAD_CSV)
    assert response.status_code == 302
    preview = client.get(response["Location"])
    html = preview.content.decode()
    assert preview.status_code == 200
    assert "line 3" in html or '<td class="num">3</td>' in html
    assert "sku" in html.lower() and "Green bottle" in html  # the valid rows are previewed
    assert not Catalog.objects.exists() and not Product.objects.exists()
    # importing without accepting to skip the bad row writes nothing
    refused = post_and_run(client, response["Location"], {"catalog_name": "Bottles"})
    assert refused.status_code == 422
    assert not Product.objects.exists()
    # the fixed file imports: the POST queues it, the worker writes it, the page then says so
    fixed = upload(client, GOOD_CSV)
    preview = client.get(fixed["Location"]).content.decode()
    assert "0 errors" in preview
    assert 'id="import-catalog" name="catalog_name" value="Bottles"' in preview  # the Import form is prefilled
    queued = post_and_run(client, fixed["Location"], {"catalog_name": "Bottles"})
    assert queued.status_code == 302 and queued["Location"] == fixed["Location"]
    catalog = Catalog.objects.get(name="Bottles")
    assert sorted(Product.objects.values_list("sku", flat=True)) == ["A-1", "A-2"]
    assert AuditEvent.objects.filter(action="catalog_import", catalog=catalog).exists()
    job = CatalogImport.objects.get(pk=fixed["Location"].rstrip("/").rsplit("/", 1)[1])
    catalog_url = reverse("catalog_detail", args=[catalog.pk])
    for _ in range(2):  # every poll that sees it finished sends to the same page, which says it once
        done = client.get(fixed["Location"])
        assert done.status_code == 302 and done["Location"] == f"{catalog_url}?imported={job.pk}"
    page = client.get(done["Location"]).content.decode()
    assert page.count("Imported 2 products into Bottles: 2 new, 0 updated, 0 unchanged.") == 1
    # another catalog's page, or someone else, is not told about this import
    other = CatalogFactory()
    assert (
        "Imported" not in client.get(reverse("catalog_detail", args=[other.pk]), {"imported": job.pk}).content.decode()
    )
    assert client.get(catalog_url, {"imported": "²"}).status_code == 400
    # the staged rows and the file's bytes are gone after the import
    job.refresh_from_db()
    assert (job.status, bytes(job.data), job.rows.count()) == ("imported", b"", 0)
    catalog.delete()  # the import's page outlives its catalog
    assert client.get(fixed["Location"])["Location"] == reverse("catalog_list")


def test_partial_import_skips_bad_rows_when_asked(client, upload, post_and_run):
    client, _ = client_for(client, "editor")
    url = upload(client, BAD_CSV)["Location"]
    response = post_and_run(client, url, {"catalog_name": "Bottles", "partial": "1"})
    assert response.status_code == 302
    assert sorted(Product.objects.values_list("sku", flat=True)) == ["A-1", "A-3"]
    assert AuditEvent.objects.get(action="catalog_import").after["skipped"] == 1


def test_column_mapping_reads_the_file_again_with_the_chosen_columns(client, upload, post_and_run):
    client, _ = client_for(client, "editor")
    data = b"code,title,colour,internal_note\nX1,Mug,white,do not print\n"
    url = upload(client, data)["Location"]
    mapping = {"mapped": "1", "sku_column": "code", "name_column": "title", "attribute_columns": ["colour"]}
    mapping_url = url + "mapping/"
    remapped = post_and_run(client, mapping_url, mapping, **HX)
    assert remapped.status_code == 200 and remapped["HX-Redirect"] == url
    html = client.get(url).content.decode()
    assert "do not print" not in html and "white" in html
    response = post_and_run(client, url, {"catalog_name": "Mugs"})
    assert response.status_code == 302
    product = Product.objects.get()
    assert (product.sku, product.name, product.attributes) == ("X1", "Mug", {"colour": "white"})


def test_upload_view_only_stores_the_file_and_the_page_shows_progress(client, django_capture_on_commit_callbacks):
    client, editor = client_for(client, "editor")
    data = b"sku,name\n" + b"".join(b"S%05d,Product %05d\n" % (i, i) for i in range(5000))
    with django_capture_on_commit_callbacks(execute=False) as sent:
        response = _upload_post(client, data)
    catalog_import = CatalogImport.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/catalogs/upload/{catalog_import.pk}/"
    assert (catalog_import.status, catalog_import.created_by, bytes(catalog_import.data)) == ("queued", editor, data)
    assert not CatalogImportRow.objects.exists()  # nothing parsed in the request
    assert [c.func.__self__.task for c in sent] == ["catalogs.stage_import"]
    page = client.get(response["Location"]).content.decode()
    assert 'id="import-progress"' in page and 'hx-trigger="every 1s"' in page and "waiting for a worker" in page
    assert 'http-equiv="refresh"' in page  # the no-JS path
    CatalogImport.objects.filter(pk=catalog_import.pk).update(status="staging", done=2000, total=5000)
    poll = client.get(response["Location"], HTTP_HX_TARGET="import-progress", **HX)
    html = poll.content.decode()
    assert "<html" not in html and 'value="2000"' in html and "2000 of 5000" in html
    CatalogImport.objects.filter(pk=catalog_import.pk).update(status="staged", done=5000)
    assert client.get(response["Location"], HTTP_HX_TARGET="import-progress", **HX)["HX-Refresh"] == "true"


def test_the_file_is_parsed_once_however_often_the_preview_is_read(client, upload, post_and_run, monkeypatch):
    from reviewq.catalogs.imports import jobs

    calls = []
    parse = jobs.parse_catalog
    monkeypatch.setattr(jobs, "parse_catalog", lambda *a, **k: calls.append(1) or parse(*a, **k))
    client, _ = client_for(client, "editor")
    data = b"sku,name,colour\n" + b"".join(b"S%05d,Product %05d,red\n" % (i, i) for i in range(45))
    url = upload(client, data)["Location"]
    pages = [client.get(url), client.get(url, {"page": 2}), client.get(url, {"page": 3}, **HX), client.get(url)]
    assert [p.status_code for p in pages] == [200] * 4
    assert "S00020" in pages[1].content.decode() and "S00019" not in pages[1].content.decode()
    assert "S00044" in pages[2].content.decode() and "<html" not in pages[2].content.decode()
    assert post_and_run(client, url, {"catalog_name": "Bottles"}).status_code == 302
    assert Product.objects.count() == 45
    assert calls == [1]


def test_cancel_from_the_progress_page_leaves_the_catalog_alone(client, django_capture_on_commit_callbacks):
    client, _ = client_for(client, "editor")
    with django_capture_on_commit_callbacks(execute=False):
        url = _upload_post(client, GOOD_CSV)["Location"]
    response = client.post(url + "cancel/")
    assert response.status_code == 302 and response["Location"] == reverse("catalog_upload")
    assert CatalogImport.objects.get().status == "cancelled"
    assert not Catalog.objects.exists() and not Product.objects.exists()
    assert AuditEvent.objects.filter(action="catalog_import_cancelled").count() == 1
    gone = client.get(url)
    assert gone.status_code == 302 and gone["Location"] == reverse("catalog_upload")


def test_file_over_the_size_limit_gets_a_clear_message_and_is_not_kept(client, settings, tmp_path):
    settings.CATALOG_UPLOAD_MAX_BYTES = 1000
    settings.DATA_DIR = tmp_path
    client, _ = client_for(client, "editor")
    big = b"sku,name\n" + b"".join(b"S%05d,Product %05d\n" % (i, i) for i in range(400))
    response = _upload_post(client, big)
    assert response.status_code == 413
    assert "larger than the" in response.content.decode() and "limit" in response.content.decode()
    assert not CatalogImport.objects.exists()
    assert not Product.objects.exists()


def test_size_limit_handler_stops_reading_past_the_limit():
    from django.core.files.uploadhandler import StopUpload

    from reviewq.catalogs.uploads import SizeLimitUploadHandler

    handler = SizeLimitUploadHandler(limit=10)
    assert handler.receive_data_chunk(b"x" * 10, 0) == b"x" * 10
    with pytest.raises(StopUpload):
        handler.receive_data_chunk(b"x", 10)
    assert handler.too_large
    announced = SizeLimitUploadHandler(limit=10)
    announced.handle_raw_input(None, {}, 10 + 64 * 1024 + 1, b"b")
    with pytest.raises(StopUpload):
        announced.receive_data_chunk(b"x", 0)  # the declared length alone refuses it


def test_file_level_errors_offer_no_import(client, upload):
    client, _ = client_for(client, "editor")
    url = upload(client, b"\xff\xfe\x00garbage", name="bad.csv")["Location"]
    html = client.get(url).content.decode()
    assert "upload it again" in html and "UTF-8" in html
    assert 'class="import-form"' not in html


def test_another_users_upload_is_refused(client, upload, post_and_run):
    client, _ = client_for(client, "editor")
    url = upload(client, GOOD_CSV)["Location"]
    from django.test import Client

    other, _ = client_for(Client(), "editor")
    for response in (
        other.get(url),
        post_and_run(other, url, {"catalog_name": "Stolen"}),
        other.post(url + "mapping/", {"sku_column": "name"}),
        other.post(url + "cancel/"),
    ):
        assert response.status_code == 302 and response["Location"] == reverse("catalog_upload")
    assert not Product.objects.exists()
    assert CatalogImport.objects.get().status == CatalogImport.Status.STAGED


# --- runs -----------------------------------------------------------------------------------


def test_run_page_polls_while_running_and_stops_when_done(client, django_capture_on_commit_callbacks):
    catalog = CatalogFactory()
    ProductFactory.create_batch(2, catalog=catalog)
    client, _ = client_for(client, "editor")
    with django_capture_on_commit_callbacks(execute=False):
        client.post(reverse("run_create", args=[catalog.pk]), {"mode": "all", "candidates": "1"})
    run = GenerationRun.objects.get()
    url = reverse("run_detail", args=[run.pk])
    running = client.get(url, **HX).content.decode()
    assert 'hx-trigger="every 2s"' in running and "<html" not in running
    assert 'value="0"' in running
    Description.objects.filter(run=run).update(status=S.REVIEW)
    from generation.runs import run_finish_if_done

    run_finish_if_done(run_id=run.pk)
    done = client.get(url, **HX).content.decode()
    assert "hx-trigger" not in done and 'value="100"' in done and "Finished" in done
    full = client.get(url).content.decode()
    assert "<html" in full and "not whether the text is true" in full


def test_cancel_and_retry_from_the_run_page(client, django_capture_on_commit_callbacks):
    catalog = CatalogFactory()
    ProductFactory.create_batch(2, catalog=catalog)
    client, _ = client_for(client, "editor")
    with django_capture_on_commit_callbacks(execute=False):
        client.post(reverse("run_create", args=[catalog.pk]), {"mode": "all", "candidates": "1"})
    run = GenerationRun.objects.get()
    response = client.post(reverse("run_cancel", args=[run.pk]), follow=True)
    html = response.content.decode()
    assert "2 queued products dropped" in html and "cancelled" in html
    assert Description.objects.filter(status=S.CANCELLED).count() == 2
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("run_retry", args=[run.pk]), follow=True)
    assert "2 failed products queued again" in response.content.decode() and len(callbacks) == 1  # a chunk
    assert Description.objects.filter(status=S.QUEUED).count() == 2


def test_bad_run_options_rerender_the_form_with_the_error(client):
    catalog = CatalogFactory()
    ProductFactory(catalog=catalog)
    client, _ = client_for(client, "editor")
    response = client.post(
        reverse("run_create", args=[catalog.pk]), {"mode": "all", "candidates": "1", "prompt_template": "Hi {price}"}
    )
    assert response.status_code == 422 and "unknown placeholder" in response.content.decode()
    assert "Hi {price}" in response.content.decode()
    assert not GenerationRun.objects.exists()


# --- reviewer guidelines ------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["editor", "admin"])
def test_editors_and_admins_set_the_guidelines_and_it_is_audited(client, role):
    client, user = client_for(client, role)
    catalog = CatalogFactory()
    page = client.get(reverse("catalog_detail", args=[catalog.pk])).content.decode()
    assert 'name="guidelines"' in page
    response = client.post(
        reverse("catalog_guidelines", args=[catalog.pk]), {"guidelines": " Check volumes.\r\nNo medical claims. "}
    )
    assert response.status_code == 302 and response["Location"] == reverse("catalog_detail", args=[catalog.pk])
    catalog.refresh_from_db()
    assert catalog.guidelines == "Check volumes.\nNo medical claims."
    event = AuditEvent.objects.get(action="catalog_guidelines_changed")
    assert (event.actor, event.catalog_id, event.before, event.after) == (
        user,
        catalog.pk,
        {"guidelines": ""},
        {"guidelines": "Check volumes.\nNo medical claims."},
    )
    # Saving the same text again writes nothing.
    client.post(reverse("catalog_guidelines", args=[catalog.pk]), {"guidelines": "Check volumes.\nNo medical claims."})
    assert AuditEvent.objects.filter(action="catalog_guidelines_changed").count() == 1


def test_too_long_guidelines_are_refused_with_the_reason_and_nothing_changes(client):
    client, _ = client_for(client, "editor")
    catalog = CatalogFactory(guidelines="Keep.")
    response = client.post(reverse("catalog_guidelines", args=[catalog.pk]), {"guidelines": "x" * 5001})
    assert response.status_code == 400 and "Keep the guidelines to 5000 characters." in response.content.decode()
    catalog.refresh_from_db()
    assert catalog.guidelines == "Keep." and not AuditEvent.objects.exists()


def test_guidelines_of_5000_characters_are_counted_as_stored_not_as_the_browser_sends_them(client):
    """A browser sends a textarea's line breaks as \r\n; the catalog stores \n, so 5000 characters
    with line breaks fit (the form counted each break twice and refused them)."""
    client, _ = client_for(client, "editor")
    catalog = CatalogFactory()
    text = "\r\n".join(["x" * 99] * 50) + "x"  # 5000 characters once stored, 5049 as sent
    response = client.post(reverse("catalog_guidelines", args=[catalog.pk]), {"guidelines": text})
    assert response.status_code == 302
    catalog.refresh_from_db()
    assert len(catalog.guidelines) == 5000 and catalog.guidelines == text.replace("\r\n", "\n")


def test_reviewers_cannot_set_guidelines(client):
    client, _ = client_for(client, "reviewer")
    catalog = CatalogFactory()
    assert client.post(reverse("catalog_guidelines", args=[catalog.pk]), {"guidelines": "mine"}).status_code == 403
    catalog.refresh_from_db()
    assert catalog.guidelines == ""

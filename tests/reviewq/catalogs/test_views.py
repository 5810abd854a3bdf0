"""Editors' pages: roles, the upload (preview, mapping, per-row errors, size limit, import) and
the run pages (start, progress polling, cancel, retry)."""

import pytest
from django.urls import reverse

from reviewq.core.models import AuditEvent, Catalog, Description, DescriptionStatus, GenerationRun, Product
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


def _upload(client, data: bytes, *, name="bottles.csv", catalog="Bottles"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(
        reverse("catalog_upload"), {"catalog_name": catalog, "file": SimpleUploadedFile(name, data, "text/csv")}
    )


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
def test_upload_and_import_need_manage_catalogs(client, role):
    from django.test import Client

    editor_client, _ = client_for(Client(), "editor")
    staged_url = _upload(editor_client, GOOD_CSV)["Location"]
    client, _ = client_for(client, role)
    response = _upload(client, GOOD_CSV)
    preview = client.get(staged_url)
    imported = client.post(staged_url, {"catalog_name": "Bottles"})
    if role == "anonymous":
        for r in (response, preview, imported):
            assert r.status_code == 302 and r["Location"].startswith(reverse("login"))
    elif role == "reviewer":
        assert (response.status_code, preview.status_code, imported.status_code) == (403, 403, 403)
    else:
        assert response.status_code == 302
        assert imported.status_code == 302 and imported["Location"] == reverse("catalog_upload")  # not their upload
    assert not Product.objects.exists()  # uploading alone writes nothing, nor does someone else's token


# --- upload ---------------------------------------------------------------------------------


def test_bad_row_is_shown_with_its_line_and_nothing_is_written_until_fixed(client):
    client, _ = client_for(client, "editor")
    response = _upload(client, BAD_CSV)
    assert response.status_code == 302
    preview = client.get(response["Location"])
    html = preview.content.decode()
    assert preview.status_code == 200
    assert "line 3" in html or '<td class="num">3</td>' in html
    assert "sku" in html.lower() and "Green bottle" in html  # the valid rows are previewed
    assert not Catalog.objects.exists() and not Product.objects.exists()
    # importing without accepting to skip the bad row writes nothing
    refused = client.post(response["Location"], {"catalog_name": "Bottles"})
    assert refused.status_code == 422
    assert not Product.objects.exists()
    # the fixed file imports
    fixed = _upload(client, GOOD_CSV)
    preview = client.get(fixed["Location"])
    assert "0 errors" in preview.content.decode()
    done = client.post(fixed["Location"], {"catalog_name": "Bottles"})
    catalog = Catalog.objects.get(name="Bottles")
    assert done.status_code == 302 and done["Location"] == reverse("catalog_detail", args=[catalog.pk])
    assert sorted(Product.objects.values_list("sku", flat=True)) == ["A-1", "A-2"]
    assert AuditEvent.objects.filter(action="catalog_import", catalog=catalog).exists()
    # the staged file is gone after the import
    assert client.get(fixed["Location"]).status_code == 302


def test_partial_import_skips_bad_rows_when_asked(client):
    client, _ = client_for(client, "editor")
    url = _upload(client, BAD_CSV)["Location"]
    response = client.post(url, {"catalog_name": "Bottles", "partial": "1"})
    assert response.status_code == 302
    assert sorted(Product.objects.values_list("sku", flat=True)) == ["A-1", "A-3"]


def test_column_mapping_chooses_sku_name_and_attributes(client):
    client, _ = client_for(client, "editor")
    data = b"code,title,colour,internal_note\nX1,Mug,white,do not print\n"
    url = _upload(client, data)["Location"]
    mapping = {"mapped": "1", "sku_column": "code", "name_column": "title", "attribute_columns": ["colour"]}
    fragment = client.get(url, mapping, **HX)
    html = fragment.content.decode()
    assert fragment.status_code == 200 and 'id="upload-step"' in html and "<html" not in html
    assert "do not print" not in html and "white" in html
    response = client.post(url, {"catalog_name": "Mugs", **mapping})
    assert response.status_code == 302
    product = Product.objects.get()
    assert (product.sku, product.name, product.attributes) == ("X1", "Mug", {"colour": "white"})


def test_file_over_the_size_limit_gets_a_clear_message_and_is_not_kept(client, settings, tmp_path):
    settings.CATALOG_UPLOAD_MAX_BYTES = 1000
    settings.DATA_DIR = tmp_path
    client, _ = client_for(client, "editor")
    big = b"sku,name\n" + b"".join(b"S%05d,Product %05d\n" % (i, i) for i in range(400))
    response = _upload(client, big)
    assert response.status_code == 413
    assert "larger than the" in response.content.decode() and "limit" in response.content.decode()
    assert not list((tmp_path / "catalog-uploads").glob("*.upload"))
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


def test_file_level_errors_offer_no_import(client):
    client, _ = client_for(client, "editor")
    url = _upload(client, b"\xff\xfe\x00garbage", name="bad.csv")["Location"]
    html = client.get(url).content.decode()
    assert "upload it again" in html and "UTF-8" in html
    assert 'class="import-form"' not in html


def test_another_users_upload_token_is_refused(client, django_user_model):
    client, _ = client_for(client, "editor")
    url = _upload(client, GOOD_CSV)["Location"]
    from django.test import Client

    other, _ = client_for(Client(), "editor")
    response = other.post(url, {"catalog_name": "Stolen"})
    assert response.status_code == 302 and response["Location"] == reverse("catalog_upload")
    assert not Product.objects.exists()


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
    assert "2 failed products queued again" in response.content.decode() and len(callbacks) == 2
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


def test_reviewers_cannot_set_guidelines(client):
    client, _ = client_for(client, "reviewer")
    catalog = CatalogFactory()
    assert client.post(reverse("catalog_guidelines", args=[catalog.pk]), {"guidelines": "mine"}).status_code == 403
    catalog.refresh_from_db()
    assert catalog.guidelines == ""

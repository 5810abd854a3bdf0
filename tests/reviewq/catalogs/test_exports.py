"""Published-copy exports: CSV (formula injection neutralised) and JSON Lines, by download and by
the export_published command."""

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from reviewq.core.downloads import csv_cell
from reviewq.core.models import Description, DescriptionStatus
from tests.factories import CatalogFactory, ProductFactory
from tests.reviewq.editor_data import ROLE_NAMES, client_for, make_description

S = DescriptionStatus
HOSTILE = ["=cmd|' /C calc'!A0", "+SUM(A1)", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]


@pytest.mark.parametrize("value", HOSTILE)
def test_formula_cells_are_neutralised(value):
    assert csv_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["Plain text", "", "1.5 l", "Caf\u00e9 = good"])
def test_ordinary_cells_are_kept(value):
    assert csv_cell(value) == value
    assert csv_cell(None) == ""


def test_numbers_stay_numbers_and_booleans_text():
    assert (csv_cell(-3.25), csv_cell(-2), csv_cell(True)) == ("-3.25", "-2", "True")
    assert csv_cell("-3.25") == "'-3.25"  # a string is neutralised whatever it reads


def _catalog_with_published():
    catalog = CatalogFactory(name="Bottles & Co")
    published = make_description(
        catalog=catalog,
        status=S.PUBLISHED,
        product=ProductFactory(catalog=catalog, sku='=HYPERLINK("http://x")', name="@evil"),
    )
    Description.objects.filter(pk=published.pk).update(text='=1+1 keeps drinks cold.\nSecond line, with "quotes".')
    make_description(
        catalog=catalog, status=S.PUBLISHED, product=ProductFactory(catalog=catalog, sku="B-2", name="Mug")
    )
    make_description(catalog=catalog, status=S.REVIEW)  # not published: not exported
    return catalog


@pytest.mark.django_db
def test_csv_download_has_published_rows_only_and_is_neutralised(client):
    catalog = _catalog_with_published()
    client, _ = client_for(client, "editor")
    response = client.get(reverse("catalog_export", args=[catalog.pk, "csv"]))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert 'filename="Bottles-Co-published.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["sku"] for r in rows] == ['\'=HYPERLINK("http://x")', "B-2"]
    assert rows[0]["name"] == "'@evil" and rows[0]["text"].startswith("'=1+1 keeps") and "\n" in rows[0]["text"]
    assert all(r["status"] == "published" and r["catalog"] == "Bottles & Co" for r in rows)
    for row in rows:
        assert not any(v.startswith(("=", "+", "-", "@", "\t", "\r")) for v in row.values())


@pytest.mark.django_db
def test_jsonl_download_keeps_text_exactly(client):
    catalog = _catalog_with_published()
    client, _ = client_for(client, "admin")
    response = client.get(reverse("catalog_export", args=[catalog.pk, "jsonl"]))
    lines = b"".join(response.streaming_content).decode().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["sku"] for r in records] == ['=HYPERLINK("http://x")', "B-2"]
    assert records[0]["text"] == '=1+1 keeps drinks cold.\nSecond line, with "quotes".'
    assert client.get(reverse("catalog_export", args=[catalog.pk, "xlsx"])).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLE_NAMES)
def test_downloads_need_manage_catalogs(client, role):
    catalog = _catalog_with_published()
    client, _ = client_for(client, role)
    response = client.get(reverse("catalog_export", args=[catalog.pk, "csv"]))
    expected = {"anonymous": 302, "reviewer": 403, "editor": 200, "admin": 200}[role]
    assert response.status_code == expected


@pytest.mark.django_db
def test_command_writes_csv_to_a_file_and_jsonl_to_stdout(tmp_path):
    catalog = _catalog_with_published()
    target = tmp_path / "out.csv"
    err = io.StringIO()
    call_command("export_published", "--catalog", catalog.name, "--format", "csv", "--output", str(target), stderr=err)
    rows = list(csv.DictReader(target.open(encoding="utf-8", newline="")))
    assert len(rows) == 2 and rows[0]["sku"].startswith("'=")
    assert "Wrote 2 published description(s)" in err.getvalue()
    out = io.StringIO()
    call_command("export_published", "--catalog", catalog.name, "--format", "jsonl", stdout=out)
    assert [json.loads(line)["sku"] for line in out.getvalue().splitlines()] == ['=HYPERLINK("http://x")', "B-2"]


@pytest.mark.django_db
def test_command_refuses_an_unknown_catalog():
    CatalogFactory(name="Known")
    with pytest.raises(CommandError, match=r"No catalog named 'Nope'.*'Known'"):
        call_command("export_published", "--catalog", "Nope")

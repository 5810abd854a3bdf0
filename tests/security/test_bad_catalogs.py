"""Bad catalog files, each through the browser upload view (upload -> preview -> import) and the
import command: a clear error, nothing written. Plus the 100 MB upload over real HTTP and formula
injection in the CSV export."""

import csv
import html
import io
import json
import resource
import socket
import time
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from reviewq.core.models import AuditEvent, Catalog, CatalogImport, DescriptionStatus, Product
from tests.factories import CatalogFactory, ProductFactory
from tests.reviewq.editor_data import client_for, make_description


@dataclass(frozen=True)
class BadFile:
    kind: str
    filename: str
    data: bytes
    message: str  # what the error says (in the preview page and the command's output)


def _csv(text: str) -> bytes:
    return text.encode("utf-8")


BAD_FILES = [
    BadFile("latin-1 encoding", "latin1.csv", b"sku,name\nA-1,Caf\xe9 mug\n", "not valid UTF-8"),
    BadFile("UTF-16 with BOM", "utf16.csv", "sku,name\nA-1,Mug\n".encode("utf-16"), "UTF-16"),
    BadFile("overlong UTF-8", "overlong.csv", b"sku,name\nA-1,\xc0\xaf\n", "not valid UTF-8"),
    BadFile(
        "BOM and no sku column", "bom.csv", b"\xef\xbb\xbfname,colour\nBottle,blue\n", "missing required column: sku"
    ),
    BadFile("missing columns", "cols.csv", _csv("colour,size\nblue,L\n"), "missing required column: sku"),
    BadFile("duplicate SKUs", "dups.csv", _csv("sku,name\nA-1,Mug\nA-2,Cup\nA-1,Bowl\n"), "duplicate sku"),
    BadFile("duplicate column", "dupcol.csv", _csv("sku,name,sku\nA,B,C\n"), "duplicate column"),
    BadFile("huge cell", "huge.csv", _csv("sku,name,notes\nA-1,Mug," + "x" * 50_000 + "\n"), "the limit is 2,000"),
    BadFile(
        "too many columns",
        "wide.csv",
        _csv(",".join(["sku", "name"] + [f"c{i}" for i in range(250)]) + "\nA,B\n"),
        "columns",
    ),
    BadFile("runaway quote", "quote.csv", _csv('sku,name\nA-1,"Mug\nA-2,Cup\n' + "A-3,Bowl\n" * 50), "quote"),
    BadFile("sku with a line break", "newline.csv", _csv('sku,name\n"A\n1",Mug\n'), "line break"),
    BadFile("sku over the length limit", "longsku.csv", _csv("sku,name\n" + "S" * 150 + ",Mug\n"), "the limit is 100"),
    BadFile("empty file", "empty.csv", b"", "file is empty"),
    BadFile("header but no rows", "header.csv", _csv("sku,name\n"), "no products"),
    BadFile("PNG image", "photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "PNG image"),
    BadFile("Excel / ZIP", "sheet.csv", b"PK\x03\x04" + b"\x00" * 200, "Excel"),
    BadFile("binary with NUL", "nul.csv", b"sku,name\nA\x00B,Bottle\n", "binary file"),
    BadFile("HTML / XML", "page.csv", _csv('<?xml version="1.0"?><catalog><p sku="a"/></catalog>'), "HTML or XML"),
    BadFile("invalid JSON", "bad.json", _csv('[{"sku": "A-1", "name": "Mug",}]'), "invalid JSON"),
    BadFile(
        "deeply nested JSON",
        "deep.json",
        b'[{"sku":"a","name":"b","attributes":' + b"[" * 100_000 + b"]" * 100_000 + b"}]",
        "nested too deeply",
    ),
    BadFile(
        "attributes nested 3 levels",
        "nested.json",
        _csv('[{"sku":"a","name":"b","attributes":{"x":{"y":{"z":1}}}}]'),
        "nested more than 2 levels",
    ),
    BadFile(
        "JSON number with 5,000 digits",
        "bignum.json",
        b'[{"sku":"a","name":"b","attributes":{"n":1' + b"0" * 5000 + b"}}]",
        "more than 4,300 digits",
    ),
    BadFile("JSON lone surrogate", "surrogate.json", _csv('[{"sku":"a","name":"\\ud800 mug"}]'), "unpaired"),
    BadFile("JSON NaN", "nan.json", _csv('[{"sku":"a","name":"b","attributes":{"x":NaN}}]'), "not a finite number"),
    BadFile("JSON of the wrong shape", "shape.json", _csv('"just a string"'), "not a catalog"),
    BadFile("JSONL bad line", "bad.jsonl", _csv('{"sku":"a","name":"b"}\n{"sku":\n'), "invalid JSON at column 8"),
    # An unclosed quote closed again three lines on: once read as one product named
    # "Mug\nA-2,Cup\nA-3,Bowl" ("2 valid products, 1 error").
    BadFile(
        "unclosed quote closed lines later",
        "merge.csv",
        _csv('sku,name\nA-1,"Mug\nA-2,Cup\nA-3,Bowl"\nA-4,Plate\n'),
        "a quoted value runs from line 2 to line 4 and holds what look like rows ('A-2,Cup'); is a closing quote missing?",
    ),
    BadFile(
        "unclosed quote in an attribute",
        "merge-attr.csv",
        _csv('sku,name,colour\nA-1,Mug,"red\nA-2,Cup,blue\nA-3,Bowl,green"\nA-4,Plate,white\n'),
        "a quoted value runs from line 2 to line 4",
    ),
    BadFile(
        "quote followed by text",
        "quote-text.csv",
        _csv('sku,name\nA-1,"Mug\nA-2,Cup\nA-3,"Bowl"\nA-4,Plate\n'),
        "is a closing quote missing?",
    ),
    BadFile(
        "ragged row: too few values", "short.csv", _csv("sku,name,colour\nA-1,Mug\n"), "2 values but the header has 3"
    ),
    BadFile(
        "ragged row: too many values", "long.csv", _csv("sku,name\nA-1,Mug,red\n"), "3 values but the header has 2"
    ),
    BadFile(
        "JSON with 250 different keys",
        "keys.json",
        _csv(json.dumps([{"sku": f"A-{i}", "name": "x", f"k{i}": 1} for i in range(250)])),
        "more than 200 different keys across the products; the limit is 200",
    ),
    BadFile(
        "JSONL with 250 different keys",
        "keys.jsonl",
        _csv("\n".join(json.dumps({"sku": f"A-{i}", "name": "x", f"k{i}": 1}) for i in range(250))),
        "more than 200 different keys across the products",
    ),
]
assert len(BAD_FILES) >= 15


@pytest.fixture(autouse=True)
def _private_data_dir(settings, tmp_path):
    """Staged uploads go to this test's folder, so it can check nothing was kept."""
    settings.DATA_DIR = tmp_path / "data"
    return settings.DATA_DIR


@pytest.fixture
def existing(db):
    """A catalog that already holds a product: a refused import must leave it exactly as it was."""
    catalog = CatalogFactory(name="Existing")
    ProductFactory(catalog=catalog, sku="KEEP-1", name="Kept", attributes={"a": 1})
    return catalog


def _nothing_written(catalog_name: str):
    assert not Catalog.objects.filter(name=catalog_name).exists()
    assert list(Product.objects.values_list("sku", "name", "attributes")) == [("KEEP-1", "Kept", {"a": 1})]
    assert not AuditEvent.objects.filter(action__startswith="catalog").exists()


@pytest.mark.parametrize("bad", BAD_FILES, ids=[b.kind for b in BAD_FILES])
def test_bad_file_through_the_upload_view(client, existing, bad, run_tasks):
    client, _ = client_for(client, "editor")
    with run_tasks():  # the worker reads the stored file
        response = client.post(
            reverse("catalog_upload"),
            {
                "catalog_name": "Hostile",
                "file": SimpleUploadedFile(bad.filename, bad.data, "text/csv"),
            },
        )
    assert response.status_code == 302, response.content[:500]
    preview = client.get(response["Location"])
    assert preview.status_code == 200
    assert bad.message in html.unescape(preview.content.decode()), bad.kind
    with run_tasks():
        refused = client.post(response["Location"], {"catalog_name": "Hostile"})
    assert refused.status_code == 422
    assert bad.message in html.unescape(refused.content.decode())
    with run_tasks():
        also_partial = client.post(response["Location"], {"catalog_name": "Existing", "partial": "1"})
    assert also_partial.status_code in (302, 422)
    if also_partial.status_code == 302:  # row errors only: the valid rows may be imported when asked
        return
    _nothing_written("Hostile")
    assert client.get(response["Location"]).status_code == 200  # still staged for a retry, in this user's folder


@pytest.mark.parametrize("bad", BAD_FILES, ids=[b.kind for b in BAD_FILES])
def test_bad_file_through_the_import_command(tmp_path, existing, bad):
    path = tmp_path / bad.filename
    path.write_bytes(bad.data)
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("import_catalog", str(path), "--catalog", "Hostile", stdout=stdout, stderr=stderr)
    assert "nothing was written" in str(excinfo.value)
    assert bad.message in stderr.getvalue() + str(excinfo.value), (bad.kind, stderr.getvalue())
    assert stdout.getvalue() == ""
    _nothing_written("Hostile")


def test_the_unclosed_quote_is_reported_with_its_line_and_nothing_merges():
    from reviewq.catalogs.imports import parse_catalog

    merge = next(bad for bad in BAD_FILES if bad.kind == "unclosed quote closed lines later")
    parsed = parse_catalog(merge.data, filename="merge.csv")
    assert [(e.line, e.message[:40]) for e in parsed.errors] == [(2, "a quoted value runs from line 2 to line ")]
    assert [(r.line, r.sku, r.name) for r in parsed.rows] == [(5, "A-4", "Plate")]  # no "Mug\nA-2,Cup..." product


def test_a_value_over_two_lines_without_swallowed_rows_is_still_fine():
    from reviewq.catalogs.imports import parse_catalog

    parsed = parse_catalog(_csv('sku,name,notes\nA-1,Mug,"first line\nsecond line"\nA-2,Cup,x\n'), filename="ok.csv")
    assert not parsed.errors and parsed.rows[0].attributes == {"notes": "first line\nsecond line"}


@pytest.mark.parametrize(
    ("filename", "data", "line"),
    [
        ("rows.csv", "sku,name\n" + "".join(f"A-{i},Mug\n" for i in range(12)), 12),
        ("rows.json", json.dumps([{"sku": f"A-{i}", "name": "Mug"} for i in range(12)]), None),
        ("rows.jsonl", "".join(json.dumps({"sku": f"A-{i}", "name": "Mug"}) + "\n" for i in range(12)), 11),
    ],
)
def test_every_format_has_a_row_cap(settings, tmp_path, existing, filename, data, line):
    from reviewq.catalogs.imports import parse_catalog

    settings.CATALOG_MAX_ROWS = 10
    parsed = parse_catalog(data.encode(), filename=filename)
    cap = [e for e in parsed.errors if "more than 10 products in one file" in e.message]
    assert len(cap) == 1 and cap[0].line == line
    path = tmp_path / filename
    path.write_text(data)
    with pytest.raises(CommandError, match="nothing was written"):
        call_command("import_catalog", str(path), "--catalog", "Big", stdout=io.StringIO(), stderr=io.StringIO())
    _nothing_written("Big")


# --- 100 MB ------------------------------------------------------------------------------------


def test_100_mb_file_is_refused_by_the_command_without_reading_it(tmp_path, existing):
    path = tmp_path / "huge.csv"
    with path.open("wb") as f:
        f.write(b"sku,name\n")
        f.truncate(100 * 1024 * 1024)  # sparse: 100 MB by size, nothing to read
    started = time.monotonic()
    with pytest.raises(CommandError) as excinfo:
        call_command("import_catalog", str(path), "--catalog", "Hostile", stdout=io.StringIO(), stderr=io.StringIO())
    assert "over the" in str(excinfo.value) and "Nothing was written" in str(excinfo.value)
    assert time.monotonic() - started < 2
    _nothing_written("Hostile")


def _raw_post(
    live_server, *, path: str, cookies: dict, headers: dict, body_parts, content_length: int
) -> tuple[int, bytes]:
    host, port = live_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
        head = [
            f"POST {path} HTTP/1.1",
            f"Host: {host}:{port}",
            f"Cookie: {cookie}",
            f"Content-Length: {content_length}",
            "Connection: close",
            *[f"{k}: {v}" for k, v in headers.items()],
        ]
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        try:
            for part in body_parts:
                sock.sendall(part)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before reading everything: also a refusal
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    status = int(response.split(b" ", 2)[1])
    return status, response


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_100_mb_upload_is_refused_with_a_clear_message_without_being_kept(live_server, _private_data_dir):
    """Streamed over a real socket in 1 MB chunks: the server answers 413 and keeps nothing; its
    memory does not grow by the file's size."""
    catalog = CatalogFactory(name="Existing")
    ProductFactory(catalog=catalog, sku="KEEP-1", name="Kept", attributes={"a": 1})
    client, _ = client_for(Client(), "editor")
    client.get(reverse("catalog_upload"))
    cookies = {
        settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value,
        settings.CSRF_COOKIE_NAME: client.cookies[settings.CSRF_COOKIE_NAME].value,
    }
    boundary = "reviewqboundary7f3a"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="catalog_name"\r\n\r\nHostile\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="huge.csv"\r\n'
        f"Content-Type: text/csv\r\n\r\nsku,name\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = 100 * 1024 * 1024
    chunk = b"S-000001,A product name that repeats\r\n" * 27000  # ~1 MB

    def parts():
        yield head
        sent = 0
        while sent < size:
            piece = chunk[: size - sent]
            sent += len(piece)
            yield piece
        yield tail

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    status, response = _raw_post(
        live_server,
        path=reverse("catalog_upload"),
        cookies=cookies,
        headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "X-CSRFToken": cookies[settings.CSRF_COOKIE_NAME],
            "Referer": live_server.url + "/",
        },
        body_parts=parts(),
        content_length=len(head) + size + len(tail),
    )
    seconds = time.monotonic() - started
    rss_growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert status == 413, response[:2000]
    text = html.unescape(response.decode("utf-8", "replace"))
    assert "larger than the 20.0 MB limit" in text and "Split it into smaller files" in text
    assert not CatalogImport.objects.exists()
    assert rss_growth_mb < 50, rss_growth_mb
    assert not Catalog.objects.filter(name="Hostile").exists() and Product.objects.count() == 1
    print(f"100 MB upload refused in {seconds:.1f} s, server RSS high-water growth {rss_growth_mb:.0f} MB")


# --- formula injection -------------------------------------------------------------------------

FORMULAS = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1:A2)", "\t=1+1", "\r=1+1", '=HYPERLINK("http://x","y")']


@pytest.mark.django_db
def test_formula_injection_is_neutralised_in_the_csv_export(client):
    client, _ = client_for(client, "editor")
    catalog = CatalogFactory(name="=cmd|' /C calc'!A0 catalog")
    for i, formula in enumerate(FORMULAS):
        product = ProductFactory(catalog=catalog, sku=f"{formula[:20]}{i}", name=formula)
        description = make_description(product=product, status=DescriptionStatus.PUBLISHED)
        description.text = formula
        description.save(update_fields=["text"])
    response = client.get(reverse("catalog_export", args=[catalog.pk, "csv"]))
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    header, body = rows[0], rows[1:]
    assert len(body) == len(FORMULAS)
    for row in body:
        for column, cell in zip(header, row, strict=True):
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (column, cell)
    names = {row[header.index("name")] for row in body}
    assert "'=cmd|' /C calc'!A0" in names and "'\t=1+1" in names
    assert {row[header.index("catalog")] for row in body} == {"'=cmd|' /C calc'!A0 catalog"}
    # JSON Lines keeps the exact text (no spreadsheet reads it).
    jsonl = b"".join(client.get(reverse("catalog_export", args=[catalog.pk, "jsonl"])).streaming_content).decode()
    assert {json.loads(line)["name"] for line in jsonl.splitlines()} == set(FORMULAS)


@pytest.mark.django_db
def test_formula_cells_in_a_catalog_file_are_stored_verbatim_and_exported_neutralised(client, tmp_path):
    path = tmp_path / "formula.csv"
    path.write_text("sku,name,colour\nF-1,\"=cmd|' /C calc'!A0\",@red\n", encoding="utf-8")
    call_command("import_catalog", str(path), "--catalog", "Formulas", stdout=io.StringIO(), stderr=io.StringIO())
    product = Product.objects.get(sku="F-1")
    assert product.name == "=cmd|' /C calc'!A0" and product.attributes == {"colour": "@red"}
    make_description(product=product, status=DescriptionStatus.PUBLISHED)
    client, _ = client_for(client, "editor")
    body = b"".join(client.get(reverse("catalog_export", args=[product.catalog_id, "csv"])).streaming_content).decode()
    assert "'=cmd|' /C calc'!A0" in body and ",=cmd" not in body

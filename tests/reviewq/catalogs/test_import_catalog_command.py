import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from reviewq.core.models import AuditEvent, Catalog, Product
from tests.factories import ProductFactory

DATA = Path(__file__).resolve().parents[2] / "data" / "catalogs"
REPO = Path(__file__).resolve().parents[3]


def run(*args: str) -> tuple[str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("import_catalog", *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


@pytest.mark.django_db
def test_import_prints_summary_and_progress():
    stdout, stderr = run(str(DATA / "kitchen.csv"), "--catalog", "Kitchen")

    assert stdout.strip() == "Imported 3 products into 'Kitchen' (3 new, 0 updated, 0 unchanged)"
    assert "Importing" in stderr  # the tqdm bar goes to stderr
    assert Product.objects.filter(catalog__name="Kitchen").count() == 3
    assert AuditEvent.objects.get().after["filename"] == "kitchen.csv"


@pytest.mark.django_db
def test_reimport_counts_updated_and_unchanged(catalog):
    ProductFactory(catalog=catalog, sku="KIT-2", name="Old skillet name")
    ProductFactory(catalog=catalog, sku="KIT-3", name="Chef's knife, 20 cm", attributes={})

    stdout, _ = run(str(DATA / "kitchen.csv"), "--catalog", catalog.name)

    assert stdout.strip() == f"Imported 3 products into '{catalog.name}' (1 new, 1 updated, 1 unchanged)"


@pytest.mark.django_db
def test_errors_fail_the_command_and_write_nothing(catalog):
    ProductFactory(catalog=catalog, sku="M-1", name="Before")

    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command(
            "import_catalog", str(DATA / "missing_values.csv"), "--catalog", catalog.name, stdout=stdout, stderr=stderr
        )

    assert str(excinfo.value) == (
        "2 error(s) in missing_values.csv; nothing was written (use --partial to import the valid rows)"
    )
    assert excinfo.value.returncode == 1
    assert stderr.getvalue().splitlines() == ["line 3: missing sku", "line 4: missing name"]
    assert stdout.getvalue() == ""
    assert list(Product.objects.values_list("sku", "name")) == [("M-1", "Before")]
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_partial_imports_valid_rows_and_lists_the_bad_ones():
    stdout, stderr = run(str(DATA / "duplicates.csv"), "--catalog", "Kitchen", "--partial")

    assert stdout.strip() == "Imported 1 products into 'Kitchen' (1 new, 0 updated, 0 unchanged)"
    assert "line 2: duplicate sku 'D-1' (also on line 4)" in stderr
    assert "line 4: duplicate sku 'D-1' (also on line 2)" in stderr
    assert "Skipped 2 row(s) with errors." in stderr
    assert list(Product.objects.values_list("sku", flat=True)) == ["D-2"]


@pytest.mark.django_db
def test_column_options_and_format_override(tmp_path):
    path = tmp_path / "export.txt"
    path.write_text('{"ref": "R-1", "label": "Mug", "colour": "red"}\n{"ref": "R-2", "label": "Cup"}\n')

    stdout, _ = run(
        str(path), "--catalog", "Kitchen", "--format", "jsonl", "--sku-column", "ref", "--name-column", "label"
    )

    assert stdout.strip() == "Imported 2 products into 'Kitchen' (2 new, 0 updated, 0 unchanged)"
    assert Product.objects.get(sku="R-1").attributes == {"colour": "red"}


@pytest.mark.django_db
def test_missing_file_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        run(str(tmp_path / "nope.csv"), "--catalog", "Kitchen")

    assert not Catalog.objects.exists()


@pytest.mark.django_db
def test_file_over_the_size_limit_is_refused(monkeypatch):
    monkeypatch.setattr("reviewq.catalogs.management.commands.import_catalog.MAX_BYTES", 100)

    with pytest.raises(CommandError) as excinfo:
        run(str(DATA / "kitchen.csv"), "--catalog", "Kitchen")

    size = (DATA / "kitchen.csv").stat().st_size
    assert str(excinfo.value) == (
        f"kitchen.csv is {size:,} bytes, over the 100-byte import limit; split it into smaller files. "
        "Nothing was written."
    )
    assert not Catalog.objects.exists()


@pytest.mark.django_db
def test_file_level_error_does_not_suggest_partial():
    with pytest.raises(CommandError) as excinfo:
        run(str(DATA / "utf16.csv"), "--catalog", "Kitchen", "--partial")

    assert str(excinfo.value) == "1 error(s) in utf16.csv; nothing was written"
    assert not Catalog.objects.exists()


def test_process_exits_non_zero_and_says_nothing_was_written(tmp_path):
    # The parser refuses the file before any query, so the real process needs no database.
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "reviewq.settings_test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
        "REVIEWQ_DATA_DIR": str(tmp_path),
    }
    proc = subprocess.run(
        [sys.executable, "manage.py", "import_catalog", str(DATA / "latin1.csv"), "--catalog", "Kitchen"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert proc.returncode == 1, proc.stderr
    assert "line 2: not valid UTF-8: byte 0xE9" in proc.stderr
    assert "CommandError: 1 error(s) in latin1.csv; nothing was written" in proc.stderr
    assert proc.stdout == ""

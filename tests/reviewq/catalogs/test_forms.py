import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import QueryDict

from generation.runs import MAX_CANDIDATES
from reviewq.catalogs.forms import (
    COLUMN_NAME_MAX_CHARS,
    PROMPT_TEMPLATE_MAX_CHARS,
    CatalogNameForm,
    CatalogUploadForm,
    ColumnMappingForm,
    ImportConfirmForm,
    PreviewPageForm,
    RunForm,
)
from reviewq.catalogs.imports import CatalogMapping
from reviewq.core.models import GenerationRun


def _data(**values) -> QueryDict:
    data = QueryDict(mutable=True)
    for key, value in values.items():
        data.setlist(key, value if isinstance(value, list) else [value])
    return data


def _file(content: bytes = b"sku,name\nA,B\n") -> dict:
    return {"file": SimpleUploadedFile("c.csv", content)}


def test_upload_names_what_is_missing_in_the_pages_order():
    assert CatalogUploadForm(_data(catalog_name="Shop"), _file()).is_valid()
    assert CatalogUploadForm(_data(catalog_name="Shop"), _file(b"")).is_valid()  # the preview explains it
    nothing = CatalogUploadForm(_data(), {})
    assert not nothing.is_valid() and nothing.first_error().startswith("Choose a catalog file")
    unnamed = CatalogUploadForm(_data(catalog_name="  "), _file())
    assert not unnamed.is_valid() and unnamed.first_error() == "Name the catalog the products go into."
    long = CatalogUploadForm(_data(catalog_name="x" * 201), _file())
    assert not long.is_valid() and long.first_error() == "Keep the catalog name to 200 characters."


def test_upload_prefill_is_bounded():
    assert CatalogNameForm(_data(catalog="Shop")).is_valid()
    assert not CatalogNameForm(_data(catalog="x" * 201)).is_valid()


def test_mapping_reads_the_chosen_columns():
    form = ColumnMappingForm(
        _data(sku_column="code", name_column="title", attribute_columns=["colour", "size"], mapped="1")
    )
    assert form.is_valid(), form.errors
    data = form.cleaned_data
    assert (data["sku_column"], data["attribute_columns"], data["mapped"]) == ("code", ("colour", "size"), True)
    assert form.mapping() == CatalogMapping(
        sku_column="code", name_column="title", attributes_columns=("colour", "size")
    )
    unmapped = ColumnMappingForm(_data())
    assert unmapped.is_valid() and unmapped.cleaned_data["mapped"] is False
    assert unmapped.mapping() == CatalogMapping()


@pytest.mark.parametrize(
    "values",
    [
        {"sku_column": "x" * (COLUMN_NAME_MAX_CHARS + 1)},
        {"attribute_columns": ["x" * (COLUMN_NAME_MAX_CHARS + 1)]},
        {"attribute_columns": [str(n) for n in range(1001)]},
        {"mapped": "yes"},
    ],
)
def test_mapping_refuses_odd_input(values):
    assert not ColumnMappingForm(_data(**values)).is_valid()


def test_import_confirm_and_preview_page_forms():
    confirm = ImportConfirmForm(_data(catalog_name="Shop", partial="1"))
    assert confirm.is_valid() and confirm.cleaned_data == {"catalog_name": "Shop", "partial": True}
    for values in ({"partial": "0"}, {"catalog_name": "x" * 201}):
        assert not ImportConfirmForm(_data(**values)).is_valid()
    assert PreviewPageForm(_data(page="3")).is_valid()
    for page in ("0", "²", "nan", str(2**63)):
        assert not PreviewPageForm(_data(page=page)).is_valid()


def test_run_form_defaults_like_the_page():
    form = RunForm(_data())
    assert form.is_valid(), form.errors
    assert form.cleaned_data == {
        "mode": GenerationRun.Mode.MISSING,
        "provider": "",
        "model": "",
        "candidates": 1,
        "prompt_template": "",
    }


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"mode": "everything"}, "Unknown mode everything."),
        ({"provider": "anthropic"}, "Provider anthropic is not configured."),
        ({"model": "gpt-unknown"}, "Model gpt-unknown is not configured."),
        ({"candidates": "²"}, f"Candidates must be between 1 and {MAX_CANDIDATES}."),
        ({"candidates": "0"}, f"Candidates must be between 1 and {MAX_CANDIDATES}."),
        ({"candidates": "9"}, f"Candidates must be between 1 and {MAX_CANDIDATES}."),
        ({"candidates": "1" * 23}, f"Candidates must be between 1 and {MAX_CANDIDATES}."),
        ({"candidates": ""}, f"Candidates must be between 1 and {MAX_CANDIDATES}."),
        ({"candidates": "nan"}, f"Candidates must be between 1 and {MAX_CANDIDATES}."),
    ],
)
def test_run_form_refuses_odd_input_in_run_starts_words(values, message):
    form = RunForm(_data(**values))
    assert not form.is_valid() and form.first_error() == message


def test_prompt_template_is_bounded():
    assert RunForm(_data(prompt_template="Describe {name}. " * 100)).is_valid()
    assert not RunForm(_data(prompt_template="x" * (PROMPT_TEMPLATE_MAX_CHARS + 1))).is_valid()

"""Request input of the editors' pages: the upload, the column mapping, a generation run."""

from typing import Any, cast

from django import forms

from generation.runs import MAX_CANDIDATES, run_options
from reviewq.catalogs.imports.types import MAX_CATALOG_NAME_CHARS, CatalogMapping
from reviewq.core.forms import CountField, FlagField, IdField, TextareaField
from reviewq.core.models import GUIDELINES_MAX_CHARS, GenerationRun

# Column names come from the file's header: generous, but bounded like every other field.
COLUMN_NAME_MAX_CHARS = 1000
# Django refuses a request with more fields than this anyway (DATA_UPLOAD_MAX_NUMBER_FIELDS).
MAX_MAPPED_COLUMNS = 1000
PROMPT_TEMPLATE_MAX_CHARS = 10_000
NAME_TOO_LONG = f"Keep the catalog name to {MAX_CATALOG_NAME_CHARS} characters."


class CatalogNameForm(forms.Form):
    """GET /catalogs/upload/?catalog=<name>: the upload form prefilled."""

    catalog = forms.CharField(max_length=MAX_CATALOG_NAME_CHARS, required=False)


class CatalogPageForm(forms.Form):
    """GET /catalogs/<id>/?imported=<upload id>: the page after an upload's import."""

    imported = IdField(required=False)


class CatalogUploadForm(forms.Form):
    # Field order is the order the page names what is missing.
    file = forms.FileField(
        allow_empty_file=True,  # an empty file gets the preview's own explanation
        error_messages={"required": "Choose a catalog file (CSV, JSON or JSONL) to upload."},
    )
    catalog_name = forms.CharField(
        max_length=MAX_CATALOG_NAME_CHARS,
        error_messages={"required": "Name the catalog the products go into.", "max_length": NAME_TOO_LONG},
    )

    def first_error(self) -> str:
        return next(str(error["message"]) for errors in self.errors.get_json_data().values() for error in errors)


class ColumnListField(forms.Field):
    """Repeated column names (checkboxes named alike), each and all of them bounded."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> tuple[str, ...]:
        values = [str(v) for v in value or []]
        if len(values) > MAX_MAPPED_COLUMNS:
            raise forms.ValidationError(f"Choose at most {MAX_MAPPED_COLUMNS} columns.", code="too_many")
        if any(len(v) > COLUMN_NAME_MAX_CHARS for v in values):
            raise forms.ValidationError(f"A column name is longer than {COLUMN_NAME_MAX_CHARS} characters.")
        return tuple(values)


class ColumnMappingForm(forms.Form):
    """The preview's column mapping (POSTed: a new mapping reads the file again)."""

    sku_column = forms.CharField(max_length=COLUMN_NAME_MAX_CHARS, required=False, strip=False)
    name_column = forms.CharField(max_length=COLUMN_NAME_MAX_CHARS, required=False, strip=False)
    attribute_columns = ColumnListField(required=False)
    mapped = FlagField()  # the editor chose the attribute columns (else: every other column)

    def mapping(self) -> CatalogMapping:
        data = self.cleaned_data
        return CatalogMapping(
            sku_column=data["sku_column"] or None,
            name_column=data["name_column"] or None,
            attributes_columns=data["attribute_columns"] if data["mapped"] else None,
        )


class ImportConfirmForm(forms.Form):
    """The preview's Import button."""

    catalog_name = forms.CharField(
        max_length=MAX_CATALOG_NAME_CHARS, required=False, error_messages={"max_length": NAME_TOO_LONG}
    )
    partial = FlagField()  # import the valid rows, skip the bad ones


class PreviewPageForm(forms.Form):
    """GET /catalogs/upload/<id>/?page=N: a page of the staged rows."""

    page = CountField(min_value=1, required=False)


class RunForm(forms.Form):
    """A generation run for a catalog; what run_start checks beyond this (a template's
    placeholders, a model for the embedded provider) comes back as its RunRefused."""

    mode = forms.ChoiceField(
        choices=GenerationRun.Mode.choices,
        required=False,
        error_messages={"invalid_choice": "Unknown mode %(value)s."},
    )
    provider = forms.ChoiceField(
        required=False, error_messages={"invalid_choice": "Provider %(value)s is not configured."}
    )
    model = forms.ChoiceField(required=False, error_messages={"invalid_choice": "Model %(value)s is not configured."})
    candidates = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_CANDIDATES,
        error_messages=dict.fromkeys(
            ("invalid", "min_value", "max_value"), f"Candidates must be between 1 and {MAX_CANDIDATES}."
        ),
    )
    prompt_template = forms.CharField(max_length=PROMPT_TEMPLATE_MAX_CHARS, required=False, strip=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        options = run_options()
        cast(forms.ChoiceField, self.fields["provider"]).choices = options.providers
        cast(forms.ChoiceField, self.fields["model"]).choices = options.models

    def clean_mode(self) -> str:
        return self.cleaned_data["mode"] or GenerationRun.Mode.MISSING

    def clean_candidates(self) -> int:
        candidates = self.cleaned_data["candidates"]
        if candidates is None:
            if "candidates" in self.data:  # sent empty: the field was cleared
                raise forms.ValidationError(self.fields["candidates"].error_messages["invalid"], code="invalid")
            return 1
        return candidates

    def first_error(self) -> str:
        return next(str(error["message"]) for errors in self.errors.get_json_data().values() for error in errors)


class GuidelinesForm(forms.Form):
    guidelines = TextareaField(
        max_length=GUIDELINES_MAX_CHARS,
        required=False,
        error_messages={"max_length": f"Keep the guidelines to {GUIDELINES_MAX_CHARS} characters."},
    )

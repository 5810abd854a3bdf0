"""Bounds for request input that every app's forms and URLconfs share.

A value read from a request goes through a form field with bounds, so odd input (`²`, a
23-digit id, `nan`) is a form error and a 400, never an overflow in the database driver.
"""

from typing import Any

from django import forms
from django.http import HttpResponse, HttpResponseBadRequest
from django.urls import register_converter

# Primary keys are BigAutoField: the signed 64-bit range on SQLite and Postgres alike.
ID_MAX = 2**63 - 1
# Versions, sentence indexes and token positions are PositiveIntegerField (int4 on Postgres).
SMALL_MAX = 2**31 - 1


class IdField(forms.IntegerField):
    """A primary key: 1 to ID_MAX."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=1, max_value=ID_MAX, **kwargs)


class CountField(forms.IntegerField):
    """A version, sentence index or token position: 0 (or `min_value`) to SMALL_MAX."""

    def __init__(self, *, min_value: int = 0, **kwargs: Any) -> None:
        super().__init__(min_value=min_value, max_value=SMALL_MAX, **kwargs)


class FlagField(forms.ChoiceField):
    """An optional on/off value ("1" when on); cleans to a bool. Anything else is an error,
    where a BooleanField would take "0" or "no" for on."""

    def __init__(self, *, on: tuple[str, ...] = ("1",), **kwargs: Any) -> None:
        super().__init__(choices=[("", "")] + [(value, value) for value in on], required=False, **kwargs)

    def clean(self, value: Any) -> bool:
        return bool(super().clean(value))


class TextareaField(forms.CharField):
    """A textarea's text, counted as stored: a browser sends each line break as \r\n (two
    characters) while its maxlength counted one; kept as \n."""

    def to_python(self, value: Any) -> str | None:
        text = super().to_python(value)
        return text.replace("\r\n", "\n") if text is not None else None


class IdListField(forms.Field):
    """Repeated ids (checkboxes named alike), at most `max_count` of them, duplicates dropped."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {
        "too_many": "Select at most %(max)d.",
        "invalid": "Enter whole numbers.",
    }

    def __init__(self, *, max_count: int, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.max_count = max_count

    def to_python(self, value: Any) -> list[int]:
        values = list(value or [])
        if len(values) > self.max_count:
            raise forms.ValidationError(
                self.error_messages["too_many"], code="too_many", params={"max": self.max_count}
            )
        one = IdField()
        try:
            return list(dict.fromkeys(one.clean(v) for v in values))
        except forms.ValidationError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


def form_refused(form: forms.BaseForm) -> HttpResponse:
    """A 400 naming what was wrong. Plain text: the messages quote the submitted values."""
    lines = []
    for name, errors in form.errors.get_json_data().items():
        text = " ".join(str(error["message"]) for error in errors)
        lines.append(text if name == "__all__" else f"{name}: {text}")
    return HttpResponseBadRequest("\n".join(lines), content_type="text/plain; charset=utf-8")


class IdConverter:
    """`<id:pk>`: digits up to ID_MAX. A longer number is no match (a 404), not an overflow."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > ID_MAX:
            raise ValueError("out of range")  # the resolver treats this as no match
        return number

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")

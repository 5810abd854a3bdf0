"""Request input of the thresholds, calibration and dashboard pages, and the admin's
thresholds form. Threshold values are checked by gating's thresholds_problems, one wording for
the page and the admin alike."""

from typing import Any

from django import forms

from reviewq.core.forms import IdField
from reviewq.core.models import Thresholds
from reviewq.gating.gate import GateThresholds, thresholds_problems

THRESHOLD_FIELDS = ("publish_above", "flag_below", "critical_floor")


def _threshold_field(label: str) -> forms.FloatField:
    # FloatField refuses nan and ±inf (and 1e999, which is inf) as "invalid".
    return forms.FloatField(
        label=label, required=False, error_messages={"invalid": f"{label} must be a finite number."}
    )


class ThresholdsForm(forms.Form):
    """Proposed thresholds; a value left out keeps the saved one."""

    publish_above = _threshold_field("Publish above")
    flag_below = _threshold_field("Flag below")
    critical_floor = _threshold_field("Critical floor")
    action = forms.ChoiceField(choices=[("", ""), ("save", "save"), ("preview", "preview")], required=False)

    def __init__(self, data: Any = None, *, saved: GateThresholds) -> None:
        super().__init__(data)
        self.saved = saved

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if not self.errors:
            for problem in thresholds_problems(self.proposed):
                self.add_error(None, problem)
        return data

    @property
    def proposed(self) -> GateThresholds:
        """The valid values sent, the saved ones for the rest (shown while errors are fixed)."""
        data = getattr(self, "cleaned_data", {})
        values = {name: data.get(name) for name in THRESHOLD_FIELDS}
        return GateThresholds(
            **{name: getattr(self.saved, name) if value is None else value for name, value in values.items()}
        )

    @property
    def saving(self) -> bool:
        return self.data.get("action", "save") in ("", "save")

    def messages(self) -> list[str]:
        return [str(error["message"]) for errors in self.errors.get_json_data().values() for error in errors]


class ThresholdsAdminForm(forms.ModelForm):
    """The admin's change form, refused for the same reasons in the same words as the page."""

    class Meta:
        model = Thresholds
        fields = ["catalog", *THRESHOLD_FIELDS]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        self.problems: list[str] = []
        values = {name: data[name] for name in THRESHOLD_FIELDS if data.get(name) is not None}
        if len(values) == len(THRESHOLD_FIELDS):  # else the fields' own errors say what is wrong
            self.problems = thresholds_problems(GateThresholds(**values))
            if self.problems:
                raise forms.ValidationError(self.problems)
        return data

    def validate_constraints(self) -> None:
        # The check constraints would repeat thresholds_problems in the database's words.
        if not getattr(self, "problems", None):
            super().validate_constraints()


class CatalogScopeForm(forms.Form):
    """?catalog=<id> (all catalogs when absent)."""

    catalog = IdField(required=False)


class CalibrationForm(CatalogScopeForm):
    # The catch-rate target as a fraction or (above 1) a percentage, as the page's field sends it.
    target = forms.FloatField(required=False, min_value=0, max_value=100)

    def clean_target(self) -> float:
        target = self.cleaned_data["target"]
        if target is None:
            return 0.9
        if target > 1:
            target /= 100  # typed as a percentage
        return min(max(target, 0.05), 1.0)

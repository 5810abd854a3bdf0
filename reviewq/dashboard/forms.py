"""Request input of the thresholds, calibration and dashboard pages, and the admin's
thresholds form. Threshold values are checked by gating's thresholds_problems, one wording for
the page and the admin alike."""

from typing import Any

from django import forms
from django.contrib.auth import get_user_model

from reviewq.core.forms import IdField
from reviewq.core.models import Thresholds
from reviewq.core.roles import ROLES
from reviewq.dashboard.label_export import LABEL_FORMATS
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


def _percent_field(label: str, *, low: float, high: float) -> forms.FloatField:
    # FloatField refuses nan and ±inf; the bounds refuse 0, negatives and more than 100%.
    return forms.FloatField(
        label=label,
        required=False,
        min_value=low,
        max_value=high,
        error_messages={"invalid": f"{label} must be a number of percent."},
    )


class GateTargetForm(CatalogScopeForm):
    """?catalog=<id>&target_escape=<%>&target_catch=<%>&confidence=<%>: "at most X% of
    auto-published sentences wrong, the flag catching at least Z% of errors, at Y% confidence".
    Cleans to fractions (defaults 2%, 50% and 95%)."""

    target_escape = _percent_field("Escape target", low=0.1, high=99.9)
    target_catch = _percent_field("Catch target", low=1.0, high=99.9)
    confidence = _percent_field("Confidence", low=50.0, high=99.9)

    def clean_target_catch(self) -> float:
        value = self.cleaned_data["target_catch"]
        return 0.5 if value is None else value / 100

    def clean_target_escape(self) -> float:
        value = self.cleaned_data["target_escape"]
        return 0.02 if value is None else value / 100

    def clean_confidence(self) -> float:
        value = self.cleaned_data["confidence"]
        return 0.95 if value is None else value / 100


class GateModelScopeForm(forms.Form):
    """The scope a fit or revert acts on: a model name and optionally a catalog."""

    model_name = forms.CharField(max_length=200)
    catalog = IdField(required=False)


class GateFitForm(GateModelScopeForm, GateTargetForm):
    pass


class LabelExportForm(CatalogScopeForm):
    """?format=jsonl|csv&catalog=<id>&model_name=<name>: which labels to download."""

    format = forms.ChoiceField(choices=[(fmt, fmt) for fmt in LABEL_FORMATS])
    model_name = forms.CharField(max_length=200, required=False)

    def clean_model_name(self) -> str | None:
        return self.cleaned_data["model_name"] or None


ROLE_CHOICES = [(role, role.capitalize()) for role in ROLES]


class UserInviteForm(forms.Form):
    username = forms.CharField(max_length=150, validators=[get_user_model().username_validator])
    email = forms.EmailField(required=False, max_length=254)
    role = forms.ChoiceField(choices=ROLE_CHOICES)


class UserUpdateForm(forms.Form):
    action = forms.ChoiceField(choices=[("role", "Set role"), ("deactivate", "Deactivate"), ("activate", "Reactivate")])
    role = forms.ChoiceField(choices=ROLE_CHOICES, required=False)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("action") == "role" and not cleaned.get("role"):
            self.add_error("role", "Pick a role.")
        return cleaned


class QARatesForm(forms.Form):
    """A catalog's QA sampling rates, in percent; cleans to shares."""

    rate_auto = forms.FloatField(label="Auto-published sampled (%)", min_value=0, max_value=100)
    rate_approved = forms.FloatField(label="Reviewer-approved sampled (%)", min_value=0, max_value=100)

    def clean_rate_auto(self) -> float:
        return self.cleaned_data["rate_auto"] / 100

    def clean_rate_approved(self) -> float:
        return self.cleaned_data["rate_approved"] / 100


class QAResolveForm(forms.Form):
    label = forms.ChoiceField(choices=[("ok", "OK"), ("wrong", "Wrong")])

import pytest

from reviewq.core.models import Thresholds
from reviewq.dashboard.forms import CalibrationForm, CatalogScopeForm, ThresholdsAdminForm, ThresholdsForm
from reviewq.gating.gate import GateThresholds, thresholds_problems

SAVED = GateThresholds(-0.5, -1.5, -2.3)
ORDER = "The publish threshold must be above the flag threshold."
SIGN = "Thresholds are log probabilities: 0 or below."


def test_thresholds_problems_is_the_one_rule():
    assert thresholds_problems(SAVED) == []
    assert thresholds_problems(GateThresholds(-2, -1, -3)) == [ORDER]
    assert thresholds_problems(GateThresholds(0.5, -1, -3)) == [SIGN]
    assert thresholds_problems(GateThresholds(-1, 0.5, -3)) == [ORDER, SIGN]
    assert thresholds_problems(GateThresholds(float("nan"), -1, -3)) == ["Thresholds must be finite numbers."]


def test_missing_threshold_values_keep_the_saved_ones():
    form = ThresholdsForm({"publish_above": "-1"}, saved=SAVED)
    assert form.is_valid(), form.errors
    assert form.proposed == GateThresholds(-1.0, -1.5, -2.3)
    assert form.saving


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999", "abc", "²", "x" * 5000])
def test_threshold_values_must_be_finite_numbers(value):
    form = ThresholdsForm({"publish_above": value}, saved=SAVED)
    assert not form.is_valid()
    assert form.messages() == ["Publish above must be a finite number."]
    assert form.proposed == SAVED  # the page keeps showing the saved value meanwhile


@pytest.mark.parametrize(
    ("values", "messages"),
    [
        ({"publish_above": "-2", "flag_below": "-1"}, [ORDER]),
        ({"publish_above": "0.5"}, [SIGN]),
        ({"critical_floor": "1"}, [SIGN]),
    ],
)
def test_page_form_words_problems_like_the_gate(values, messages):
    form = ThresholdsForm(values, saved=SAVED)
    assert not form.is_valid() and form.messages() == messages


def test_unknown_action_is_refused():
    form = ThresholdsForm({"action": "delete-everything"}, saved=SAVED)
    assert not form.is_valid()
    assert ThresholdsForm({"action": "preview"}, saved=SAVED).is_valid()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("values", "messages"),
    [
        ({"publish_above": "-3", "flag_below": "-2", "critical_floor": "-2.3"}, [ORDER]),
        ({"publish_above": "0.5", "flag_below": "-2", "critical_floor": "-2.3"}, [SIGN]),
    ],
)
def test_admin_form_uses_the_same_rule_and_words(values, messages):
    form = ThresholdsAdminForm(values)
    assert not form.is_valid()
    assert form.non_field_errors() == messages  # not the check constraints' own wording as well


@pytest.mark.django_db
def test_admin_form_still_checks_one_row_per_scope():
    Thresholds.objects.create(catalog=None)
    form = ThresholdsAdminForm({"publish_above": "-0.4", "flag_below": "-2", "critical_floor": "-2.3"})
    assert not form.is_valid() and form.non_field_errors()


@pytest.mark.parametrize("value", ["nan", "inf", "1e999", "-1", "101", "²"])
def test_calibration_target_is_a_bounded_finite_number(value):
    assert not CalibrationForm({"target": value}).is_valid()


@pytest.mark.parametrize(("value", "target"), [("", 0.9), ("90", 0.9), ("0.5", 0.5), ("1", 1.0), ("2", 0.05)])
def test_calibration_target_reads_fractions_and_percentages(value, target):
    form = CalibrationForm({"target": value})
    assert form.is_valid() and form.cleaned_data["target"] == pytest.approx(target)


@pytest.mark.parametrize("value", ["²", "0", "-1", "1" * 23, str(2**63)])
def test_catalog_scope_refuses_odd_ids(value):
    assert not CatalogScopeForm({"catalog": value}).is_valid()
    assert CatalogScopeForm({"catalog": str(2**63 - 1)}).is_valid()

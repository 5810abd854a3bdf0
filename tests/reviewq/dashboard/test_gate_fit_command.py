"""manage.py gate_fit: figures printed, --adopt, refused input."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from reviewq.core.models import GateModel
from tests.reviewq.gating.gate_model_data import make_labelled

pytestmark = pytest.mark.django_db


def test_gate_fit_prints_the_cross_validated_figures_and_adopts():
    make_labelled(products=6, sentences=12)
    out = StringIO()
    call_command("gate_fit", "--model", "m1", "--target-escape", "0.3", "--confidence", "0.9", "--adopt", stdout=out)
    text = out.getvalue()
    fitted = GateModel.objects.get()
    assert fitted.adopted and fitted.target_escape == 0.3
    assert "m1: version 1" in text and "labels 72" in text and "from 6 products" in text
    assert f"{fitted.metrics['roc_auc']['fitted']:.3f}" in text and "current gate" in text and "mean logprob" in text
    assert "adopted version 1" in text and "not whether the text is true" in text


def test_gate_fit_says_when_nothing_qualifies():
    make_labelled(products=3, sentences=6)
    out = StringIO()
    call_command("gate_fit", stdout=out)  # every model with labels, default 2% at 95%
    assert "publishes nothing" in out.getvalue() and not GateModel.objects.get().adopted


@pytest.mark.parametrize(
    "args", [["--target-escape", "nan"], ["--target-escape", "1.5"], ["--confidence", "-1"], ["--catalog", "nope"]]
)
def test_gate_fit_refuses_odd_input(args):
    make_labelled(products=3)
    with pytest.raises(CommandError):
        call_command("gate_fit", *args, stdout=StringIO(), stderr=StringIO())
    assert not GateModel.objects.exists()


def test_gate_fit_fails_for_a_model_without_labels():
    with pytest.raises(CommandError, match="not fitted: nobody"):
        call_command("gate_fit", "--model", "nobody", stdout=StringIO(), stderr=StringIO())

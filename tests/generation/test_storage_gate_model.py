"""completion_store with an adopted gate model: the fitted risk decides publish vs review, a
hard flag stays flagged, other model names keep the hand-set gate."""

import pytest
from django.utils import timezone

from generation.storage import completion_store
from reviewq.core.models import AuditEvent, DescriptionStatus, GateModel, Sentence
from reviewq.gating.gate import description_risk
from tests.generation.test_storage import TEXT, _completion, claimed  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db
S = DescriptionStatus


def _adopt(
    intercept: float, *, model_name: str = "m", cutoff: float | None = 0.5, flag_cutoff: float | None = None
) -> GateModel:
    weights = {"features": ["neg_mean_logprob"], "mean": [0.0], "scale": [1.0], "coef": [0.0], "intercept": intercept}
    return GateModel.objects.create(
        model_name=model_name,
        version=1,
        weights=weights,
        target_escape=0.1,
        confidence=0.95,
        publish_cutoff=cutoff,
        flag_cutoff=flag_cutoff,
        adopted=True,
        adopted_at=timezone.now(),
    )


def _store(description, text=TEXT, **kwargs):
    return completion_store(
        description=description, completion=_completion(text, **kwargs), prompt="p", claim_version=description.version
    )


def test_a_risky_fitted_score_keeps_confident_copy_in_review(claimed):  # noqa: F811
    _adopt(2.0)  # risk 0.88 everywhere, above the 0.5 cut-off
    stored = _store(claimed)
    assert stored.status == S.REVIEW
    rows = list(Sentence.objects.filter(description=stored).values_list("band", "fitted_risk"))
    assert {band for band, _ in rows} == {"review"}
    assert all(risk == pytest.approx(0.8808, abs=1e-4) for _, risk in rows)
    assert "gate model m v1" in AuditEvent.objects.get(description=stored, action="generated").note


def test_a_low_fitted_risk_publishes_but_never_a_hard_flag(claimed):  # noqa: F811
    _adopt(-3.0)
    stored = _store(claimed, TEXT.replace("750 ml", "900 ml"), low={"900": -3.2})
    bands = list(Sentence.objects.filter(description=stored).order_by("index").values_list("band", flat=True))
    assert bands == ["flag", "publish", "publish"] and stored.status == S.REVIEW


def test_no_cut_off_publishes_nothing(claimed):  # noqa: F811
    _adopt(-3.0, cutoff=None)
    assert _store(claimed).status == S.REVIEW


def test_another_model_name_keeps_the_hand_set_gate(claimed):  # noqa: F811
    _adopt(2.0, model_name="not-m")
    stored = _store(claimed)
    assert stored.status == S.PUBLISHED
    assert not Sentence.objects.filter(description=stored, fitted_risk__isnull=False).exists()


def test_the_queue_sorts_by_the_fitted_risk(claimed):  # noqa: F811
    _adopt(2.0)
    stored = _store(claimed)
    risks = list(Sentence.objects.filter(description=stored).values_list("risk", "fitted_risk"))
    assert stored.risk == pytest.approx(description_risk(f for _, f in risks))
    assert stored.risk != pytest.approx(description_risk(r for r, _ in risks))


def test_the_fitted_flag_cut_off_flags_at_storage(claimed):  # noqa: F811
    _adopt(2.0, flag_cutoff=0.8)  # risk 0.88 everywhere
    stored = _store(claimed)
    assert set(Sentence.objects.filter(description=stored).values_list("band", flat=True)) == {"flag"}
    assert stored.status == S.REVIEW

"""The "Gate model" page: admins only, figures shown, target bounds, Fit/Adopt/Revert audited."""

from datetime import timedelta

import pytest
from django.urls import reverse

from reviewq.core.models import AuditEvent, GateModel, Sentence
from reviewq.gating.gate_models import gate_model_fit, realised_escape
from reviewq.gating.truth import TRUTH_NOTE
from tests.reviewq.editor_data import ROLE_NAMES, client_for
from tests.reviewq.gating.gate_model_data import make_labelled, signals_for

pytestmark = pytest.mark.django_db


def _fitted(**kwargs):
    make_labelled(products=6, sentences=12)
    return gate_model_fit(model_name="m1", target_escape=0.3, confidence=0.9, actor=None, **kwargs)


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_gate_model_page_is_for_admins_only(client, role):
    fitted = _fitted()
    client, _ = client_for(client, role)
    responses = [
        client.get(reverse("gate_model")),
        client.post(reverse("gate_model_fit"), {"model_name": "m1"}),
        client.post(reverse("gate_model_adopt", args=[fitted.pk])),
        client.post(reverse("gate_model_revert"), {"model_name": "m1"}),
    ]
    if role == "anonymous":
        assert all(r.status_code == 302 and r["Location"].startswith(reverse("login")) for r in responses)
    elif role in ("reviewer", "editor"):
        assert [r.status_code for r in responses] == [403] * 4
        assert not AuditEvent.objects.filter(action__startswith="gate_model_").exclude(action="gate_model_fitted")
    else:
        assert [r.status_code for r in responses] == [200, 302, 302, 302]
    if role in ("reviewer", "editor", "admin"):
        home = client.get(reverse("home")).content.decode()
        assert (reverse("gate_model") in home) == (role == "admin")


def test_page_shows_the_figures_the_target_and_the_truth_note(client):
    fitted = _fitted()
    client, _ = client_for(client, "admin")
    page = client.get(reverse("gate_model"), {"target_escape": "30", "confidence": "90"}).content.decode()
    m = fitted.metrics
    for value in (m["roc_auc"]["fitted"], m["roc_auc"]["gate"], m["roc_auc"]["mean_logprob"], m["pr_auc"]["fitted"]):
        assert f"{value:.3f}" in page
    assert "rests on 72 labels" in page and "from 6 products" in page
    assert "<svg" in page and "Reliability" in page and "neg_mean_logprob" in page
    assert TRUTH_NOTE.replace("'", "&#x27;") in page or TRUTH_NOTE in page
    assert "would auto-publish" in page or "Publishes nothing" in page
    strict = client.get(reverse("gate_model"), {"target_escape": "0.1", "confidence": "99.9"}).content.decode()
    assert "Publishes nothing" in strict


@pytest.mark.parametrize(
    "query",
    [
        {"target_escape": "nan"},
        {"target_escape": "101"},
        {"target_escape": "-2"},
        {"target_escape": "inf"},
        {"target_catch": "0"},
        {"target_catch": "100"},
        {"target_catch": "nan"},
        {"target_catch": "half"},
        {"confidence": "100"},
        {"confidence": "x"},
        {"catalog": "99999999999999999999999"},
    ],
)
def test_target_form_refuses_odd_values(client, query):
    client, _ = client_for(client, "admin")
    assert client.get(reverse("gate_model"), query).status_code == 400
    post = client.post(reverse("gate_model_fit"), {"model_name": "m1", **query})
    assert post.status_code == 400
    assert not GateModel.objects.exists()


def test_fit_adopt_revert_buttons_are_audited(client):
    make_labelled(products=6, sentences=12)
    client, admin = client_for(client, "admin")
    response = client.post(reverse("gate_model_fit"), {"model_name": "m1", "target_escape": "30", "confidence": "90"})
    assert response.status_code == 302 and "target_escape=30" in response["Location"]
    fitted = GateModel.objects.get()
    assert (fitted.target_escape, fitted.confidence, fitted.created_by) == (0.3, 0.9, admin)
    client.post(reverse("gate_model_adopt", args=[fitted.pk]))
    fitted.refresh_from_db()
    assert fitted.adopted and fitted.adopted_by == admin
    assert "Revert version 1" in client.get(reverse("gate_model")).content.decode()
    client.post(reverse("gate_model_revert"), {"model_name": "m1"})
    fitted.refresh_from_db()
    assert not fitted.adopted
    gate_events = AuditEvent.objects.filter(action__startswith="gate_model_")
    assert list(gate_events.order_by("id").values_list("action", "actor")) == [
        ("gate_model_fitted", admin.pk),
        ("gate_model_adopted", admin.pk),
        ("gate_model_reverted", admin.pk),
    ]
    # a refused revert (nothing adopted) says so and writes nothing
    follow = client.post(reverse("gate_model_revert"), {"model_name": "m1"}, follow=True)
    assert "No gate model is adopted" in follow.content.decode()
    assert gate_events.count() == 3


def test_fit_with_too_few_products_says_why(client):
    make_labelled(products=1)
    client, _ = client_for(client, "admin")
    follow = client.post(reverse("gate_model_fit"), {"model_name": "m1"}, follow=True)
    assert "two products" in follow.content.decode() and not GateModel.objects.exists()


def test_page_shows_the_flag_cut_off_beside_the_publish_one_and_fit_stores_it(client):
    make_labelled(products=6, sentences=12)
    client, _ = client_for(client, "admin")
    query = {"model_name": "m1", "target_escape": "30", "target_catch": "60", "confidence": "90"}
    response = client.post(reverse("gate_model_fit"), query)
    assert "target_catch=60" in response["Location"]
    fitted = GateModel.objects.get()
    assert fitted.target_catch == 0.6 and fitted.flag_cutoff is not None
    page = client.get(response["Location"]).content.decode()
    assert "Flag at least 60% of errors" in page and "lower bound on the catch rate" in page
    assert f"{fitted.flag_cutoff:.4f}" in page
    # Too high a catch target for these labels: the page says how many more reviews.
    strict = client.get(reverse("gate_model"), {"target_catch": "99.9", "confidence": "99.9"}).content.decode()
    assert "Flags nothing by the fitted risk" in strict and "more reviews needed" in strict
    client.post(reverse("gate_model_adopt", args=[fitted.pk]))
    assert f"flags fitted risk &ge; {fitted.flag_cutoff:.4f}" in client.get(reverse("gate_model")).content.decode()


def test_page_shows_the_realised_escape_rate_and_warns_when_it_exceeds_the_target(client):
    fitted = _fitted()
    client, _ = client_for(client, "admin")
    client.post(reverse("gate_model_adopt", args=[fitted.pk]))
    fitted.refresh_from_db()
    page = client.get(reverse("gate_model")).content.decode()
    assert "Realised escape rate since adoption" in page and "No sentence it publishes has been reviewed" in page
    # Reviews after the adoption, all of them of sentences the model publishes, most of them wrong.
    descriptions = make_labelled(products=3, sentences=10, seed=9)
    Sentence.objects.filter(description__in=descriptions).update(
        signals=signals_for(-0.05), decision="rejected", edited_text="", decided_at=fitted.adopted_at + timedelta(1)
    )
    realised = realised_escape(fitted)
    assert realised.sentences >= 30 and realised.exceeds_target
    page = client.get(reverse("gate_model")).content.decode()
    assert f"Of <strong>{realised.sentences}</strong> reviewed sentences" in page
    assert "The model no longer backs its claim" in page

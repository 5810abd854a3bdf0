"""Threshold page: roles, the what-if simulator (one aggregate query, equal to a real re-gate),
saving (audited, re-gates, shows what changed) and refused input."""

import pytest
from django.urls import reverse

from reviewq.core.models import AuditEvent, Description, DescriptionStatus, Sentence, Thresholds
from reviewq.dashboard.calibration import threshold_simulation
from reviewq.gating.gate import GateThresholds
from reviewq.gating.service import sentences_regate, thresholds_for_catalog
from tests.factories import CatalogFactory
from tests.reviewq.editor_data import ROLE_NAMES, client_for, make_description

pytestmark = pytest.mark.django_db
S = DescriptionStatus
HX = {"HTTP_HX_REQUEST": "true"}


def _scored_catalog():
    """Sentences banded under the default thresholds (publish > -0.5, flag < -1.5)."""
    catalog = CatalogFactory()
    make_description(catalog=catalog, status=S.PUBLISHED, sentences=[(-0.2, "publish", ""), (-0.4, "publish", "")])
    make_description(catalog=catalog, sentences=[(-0.3, "publish", ""), (-0.8, "review", "")])
    make_description(catalog=catalog, sentences=[(-1.2, "review", ""), (-2.0, "flag", "")])
    # a reviewer decision never moves
    make_description(catalog=catalog, sentences=[(-0.9, "review", "approved"), (-0.1, "publish", "")])
    # no logprobs: always review
    make_description(catalog=catalog, sentences=[(None, "review", "")])
    # not in review or published: out of scope
    make_description(catalog=catalog, status=S.REJECTED, sentences=[(-0.9, "review", "")])
    return catalog


def test_simulation_is_one_query_and_matches_what_a_regate_then_does(django_assert_num_queries):
    catalog = _scored_catalog()
    proposed = GateThresholds(publish_above=-1.0, flag_below=-1.5, critical_floor=-2.3)
    with django_assert_num_queries(1):
        simulation = threshold_simulation(catalog=catalog, thresholds=proposed)
    assert simulation.current.sentences == {"publish": 4, "review": 4, "flag": 1}
    assert simulation.current.descriptions == {"publish": 2, "review": 2, "flag": 1}
    assert simulation.proposed.sentences == {"publish": 5, "review": 3, "flag": 1}
    assert simulation.sentences_total == 9 and simulation.descriptions_total == 5
    # apply it for real and compare
    Thresholds.objects.create(catalog=catalog, publish_above=-1.0, flag_below=-1.5, critical_floor=-2.3)
    sentences_regate(catalog=catalog)
    in_scope = Sentence.objects.filter(
        description__product__catalog=catalog, description__status__in=[S.REVIEW, S.PUBLISHED]
    )
    actual = {band: in_scope.filter(band=band).count() for band in ("publish", "review", "flag")}
    assert actual == simulation.proposed.sentences
    published = Description.objects.filter(product__catalog=catalog, status=S.PUBLISHED).count()
    assert published == simulation.proposed.descriptions["publish"]
    after = threshold_simulation(catalog=catalog, thresholds=proposed)
    assert after.current == after.proposed == simulation.proposed


def test_global_simulation_is_one_query_over_catalogs_without_their_own_thresholds(django_assert_num_queries):
    governed = _scored_catalog()
    overridden = _scored_catalog()
    Thresholds.objects.create(catalog=overridden, publish_above=-0.5, flag_below=-1.5, critical_floor=-2.3)
    with django_assert_num_queries(1):
        simulation = threshold_simulation(catalog=None, thresholds=GateThresholds(-1.0, -1.5, -2.3))
    alone = threshold_simulation(catalog=governed, thresholds=GateThresholds(-1.0, -1.5, -2.3))
    assert simulation == alone


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_threshold_page_is_for_admins_only(client, role):
    catalog = CatalogFactory()
    client, _ = client_for(client, role)
    for url in (reverse("thresholds"), reverse("thresholds_catalog", args=[catalog.pk])):
        get = client.get(url)
        post = client.post(url, {"publish_above": "-1", "flag_below": "-2", "critical_floor": "-3", "action": "save"})
        if role == "anonymous":
            assert get.status_code == 302 and get["Location"].startswith(reverse("login"))
            assert post.status_code == 302 and post["Location"].startswith(reverse("login"))
        elif role in ("reviewer", "editor"):
            assert get.status_code == 403 and post.status_code == 403
        else:
            assert get.status_code == 200 and post.status_code == 302
    if role != "admin":
        assert not Thresholds.objects.exists()
        assert not AuditEvent.objects.filter(action="thresholds_changed").exists()


def test_htmx_simulation_returns_the_fragment_with_moved_counts(client):
    catalog = _scored_catalog()
    client, _ = client_for(client, "admin")
    url = reverse("thresholds_catalog", args=[catalog.pk])
    page = client.get(url).content.decode()
    assert "not whether the text is true" in page and 'hx-trigger="input delay:250ms, change"' in page
    fragment = client.get(url, {"publish_above": "-1", "flag_below": "-1.5", "critical_floor": "-2.3"}, **HX)
    html = fragment.content.decode()
    assert fragment.status_code == 200 and html.lstrip().startswith('<section id="simulation"')
    assert 'data-band="publish" data-kind="sentences">5<' in html
    assert not Thresholds.objects.exists()  # simulating saves nothing


def test_saving_regates_audits_and_shows_what_changed(client):
    catalog = _scored_catalog()
    client, admin = client_for(client, "admin")
    url = reverse("thresholds_catalog", args=[catalog.pk])
    response = client.post(
        url, {"publish_above": "-1", "flag_below": "-1.5", "critical_floor": "-2.3", "action": "save"}
    )
    assert response.status_code == 302 and response["Location"] == url
    assert thresholds_for_catalog(catalog_id=catalog.pk) == GateThresholds(-1.0, -1.5, -2.3)
    event = AuditEvent.objects.get(action="thresholds_changed")
    assert event.actor == admin and event.before["publish_above"] == -0.5 and event.after["publish_above"] == -1.0
    # the -0.3/-0.8 description now publishes, and so does the one whose only non-publish
    # sentence a reviewer had approved
    assert event.after["published"] == 2
    page = client.get(url).content.decode()
    assert "Thresholds saved." in page and "2 descriptions published" in page
    regated = AuditEvent.objects.filter(action="regated")
    assert regated.count() == 2
    assert all(reverse("review", args=[e.description_id]) in page for e in regated)
    # global thresholds are untouched by a catalog's change
    assert not Thresholds.objects.filter(catalog__isnull=True).exists()


def test_preview_button_does_not_save(client):
    catalog = _scored_catalog()
    client, _ = client_for(client, "admin")
    url = reverse("thresholds_catalog", args=[catalog.pk])
    response = client.post(
        url, {"publish_above": "-1", "flag_below": "-1.5", "critical_floor": "-2.3", "action": "preview"}
    )
    assert response.status_code == 200 and 'data-band="publish" data-kind="sentences">5<' in response.content.decode()
    assert not Thresholds.objects.exists()


@pytest.mark.parametrize(
    "values",
    [
        {"publish_above": "-2", "flag_below": "-1"},  # publish below flag
        {"publish_above": "0.5", "flag_below": "-1"},  # positive logprob
        {"publish_above": "abc", "flag_below": "-1"},
        {"publish_above": "nan", "flag_below": "-1"},
    ],
)
def test_bad_values_are_refused_and_nothing_changes(client, values):
    catalog = _scored_catalog()
    client, _ = client_for(client, "admin")
    url = reverse("thresholds_catalog", args=[catalog.pk])
    before = list(Sentence.objects.order_by("id").values_list("band", flat=True))
    response = client.post(url, {"critical_floor": "-2.3", "action": "save", **values})
    assert response.status_code == 422 and 'role="alert"' in response.content.decode()
    assert not Thresholds.objects.exists()
    assert list(Sentence.objects.order_by("id").values_list("band", flat=True)) == before

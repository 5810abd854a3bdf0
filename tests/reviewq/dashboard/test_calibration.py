"""Calibration math, its queries and charts; the dashboard figures; both pages per role."""

import xml.etree.ElementTree as ET
from datetime import timedelta
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from reviewq.core.models import AuditEvent, DescriptionStatus
from reviewq.dashboard.calibration import calibration_data, dashboard_metrics
from reviewq.dashboard.charts import Marker, bar_chart_svg, line_chart_svg
from reviewq.dashboard.stats import (
    ScoreBucket,
    bucket_shares,
    curve_at,
    reliability_points,
    review_curve,
    threshold_for_catch_rate,
)
from tests.factories import CatalogFactory
from tests.reviewq.editor_data import ROLE_NAMES, client_for, make_description, role_user

S = DescriptionStatus


# --- pure math ------------------------------------------------------------------------------


def test_bucket_shares_merge_and_sort():
    buckets = bucket_shares([(-0.5, 4, 1), (-1.0, 2, 2), (-0.5, 4, 1)])
    assert [(b.low, b.total, b.needed_human) for b in buckets] == [(-1.0, 2, 2), (-0.5, 8, 2)]
    assert buckets[1].share == 0.25 and buckets[0].high == pytest.approx(-0.9)


def test_review_curve_runs_from_least_to_all_review():
    buckets = [
        ScoreBucket(low=-2.0, total=10, needed_human=8),
        ScoreBucket(low=-1.0, total=10, needed_human=2),
        ScoreBucket(low=-0.2, total=20, needed_human=0),
    ]
    curve = review_curve(buckets, always_total=5, always_needed=5)
    # 45 sentences, 15 needed a human; the 5 always-reviewed ones are caught at any threshold
    assert curve[0].review_load == pytest.approx(5 / 45) and curve[0].catch_rate == pytest.approx(5 / 15)
    assert [round(p.threshold, 6) for p in curve[1:]] == [-1.9, -0.9, -0.1]
    assert curve[1].catch_rate == pytest.approx(13 / 15) and curve[1].review_load == pytest.approx(15 / 45)
    assert curve[-1].review_load == 1.0 and curve[-1].catch_rate == 1.0
    loads = [p.review_load for p in curve]
    assert loads == sorted(loads)


def test_threshold_for_target_is_the_cheapest_reaching_it():
    buckets = [
        ScoreBucket(low=-2.0, total=10, needed_human=8),
        ScoreBucket(low=-1.0, total=10, needed_human=2),
        ScoreBucket(low=-0.2, total=20, needed_human=0),
    ]
    curve = review_curve(buckets)
    assert threshold_for_catch_rate(curve, 0.8).threshold == pytest.approx(-1.9)
    assert threshold_for_catch_rate(curve, 0.81).threshold == pytest.approx(-0.9)
    assert threshold_for_catch_rate(curve, 1.0).threshold == pytest.approx(-0.9)
    assert threshold_for_catch_rate([], 0.5) is None
    # the current threshold sits on the last edge at or below it
    assert curve_at(curve, -0.5).catch_rate == pytest.approx(1.0) and curve_at(curve, -0.5).review_load == 0.5


def test_reliability_points_average_predictions_per_bucket():
    points = reliability_points([(0.1, 4, 1, 0.6), (0.0, 0, 0, 0.0), (0.9, 2, 2, 1.9)])
    assert [(p.low, p.predicted, p.observed) for p in points] == [(0.1, 0.15, 0.25), (0.9, 0.95, 1.0)]


def test_charts_are_well_formed_svg_with_text_labels_and_shapes():
    svg = line_chart_svg(
        title='Catch <rate> & "load"',
        x_label="load",
        y_label="catch",
        points=[(0, 0), (0.5, 0.9), (1, 1)],
        x_range=(0, 1),
        diagonal=True,
        markers=[Marker(x=0.5, y=0.9, label="now <here>")],
    )
    root = ET.fromstring(str(svg))
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg" and root.get("role") == "img"
    assert root.find(f"{ns}title").text == 'Catch <rate> & "load"'
    texts = [t.text for t in root.iter(f"{ns}text")]
    assert "now <here>" in texts and "50%" in texts  # labels, not colour, carry meaning
    assert root.find(f".//{ns}polygon[@class='marker']") is not None
    bars = ET.fromstring(str(bar_chart_svg(title="t", x_label="x", y_label="y", bars=[("-0.5", 0.25, 4)])))
    assert "25%" in [t.text for t in bars.iter(f"{ns}text")]


# --- queries --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_calibration_data_labels_reviewer_outcomes_by_score():
    catalog = CatalogFactory()
    make_description(catalog=catalog, sentences=[(-0.05, "publish", "approved"), (-0.08, "publish", "approved")])
    make_description(catalog=catalog, sentences=[(-1.25, "review", "edited"), (-1.21, "review", "approved")])
    make_description(catalog=catalog, sentences=[(-2.5, "flag", "rejected"), (None, "review", "edited")])
    make_description(catalog=catalog, sentences=[(-0.3, "publish", "")])  # undecided: no label
    make_description(sentences=[(-0.05, "publish", "rejected")])  # another catalog
    data = calibration_data(catalog=catalog)
    assert data.labelled == 6 and data.needed_human == 3
    assert (data.always_total, data.always_needed) == (1, 1)  # no logprobs: always reviewed
    by_low = {round(b.low, 1): (b.total, b.needed_human) for b in data.buckets}
    assert by_low == {-0.1: (2, 0), -1.3: (2, 1), -2.5: (1, 1)}
    assert data.curve[-1].review_load == 1.0 and data.curve[-1].catch_rate == 1.0
    assert sum(p.total for p in data.reliability) == 6
    assert calibration_data(catalog=None).labelled == 7


@pytest.mark.django_db
def test_dashboard_metrics_are_computed_from_stored_rows():
    catalog = CatalogFactory()
    reviewer = role_user("reviewer")
    now = timezone.now()
    make_description(catalog=catalog, sentences=[(-2.0, "flag", ""), (-0.8, "review", "")])
    make_description(catalog=catalog, sentences=[(-0.8, "review", ""), (-0.1, "publish", "")])
    make_description(catalog=catalog, sentences=[(-0.8, "review", "approved")])  # nothing pending
    auto = make_description(
        catalog=catalog,
        status=S.PUBLISHED,
        sentences=[(-0.1, "publish", ""), (-0.2, "publish", "")],
        generated_at=now - timedelta(minutes=10),
        published_at=now,
    )
    reviewed = make_description(
        catalog=catalog,
        status=S.PUBLISHED,
        sentences=[(-0.9, "review", "edited"), (-1.0, "review", "approved"), (-2.0, "flag", "rejected")],
        generated_at=now - timedelta(minutes=50),
        published_at=now,
    )
    AuditEvent.objects.create(action="review_approved", actor=reviewer, description=reviewed)
    # The audit log is append-only (a trigger on PostgreSQL): the old row is written in the past.
    with mock.patch("django.utils.timezone.now", return_value=now - timedelta(days=30)):
        AuditEvent.objects.create(action="review_approved", actor=reviewer, description=auto)  # outside the window
    metrics = dashboard_metrics(catalog=catalog)
    assert metrics.queue_by_band == {"flag": 1, "review": 1, "publish": 1} and metrics.queue_total == 3
    assert [(r.reviewer, r.decided) for r in metrics.reviewers] == [(reviewer.username, 1)]
    assert metrics.published == 2 and metrics.auto_published == 1 and metrics.auto_publish_rate == 0.5
    assert (metrics.edited_sentences, metrics.published_sentences) == (1, 4)  # the removed one is not published
    assert metrics.median_time_to_publish == timedelta(minutes=30)
    assert metrics.median_time_to_publish_text == "30 min 0 s"
    assert dashboard_metrics(catalog=CatalogFactory()).queue_total == 0


# --- pages ----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLE_NAMES)
def test_calibration_page_is_for_admins(client, role):
    catalog = CatalogFactory()
    make_description(catalog=catalog, sentences=[(-0.05, "publish", "approved"), (-1.25, "review", "edited")])
    client, _ = client_for(client, role)
    response = client.get(reverse("calibration"), {"catalog": catalog.pk, "target": "90"})
    if role == "anonymous":
        assert response.status_code == 302
    elif role in ("reviewer", "editor"):
        assert response.status_code == 403
    else:
        html = response.content.decode()
        assert response.status_code == 200
        assert html.count("<svg") == 3 and "not whether the text is true" in html
        assert 'id="target-answer"' in html and "-1.20" in html  # publish above -1.2 catches it
        assert "<table" in html


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLE_NAMES)
def test_dashboard_is_for_editors_and_admins(client, role):
    make_description(sentences=[(-2.0, "flag", "")])
    client, _ = client_for(client, role)
    response = client.get(reverse("dashboard"))
    if role == "anonymous":
        assert response.status_code == 302
    elif role == "reviewer":
        assert response.status_code == 403
    else:
        assert response.status_code == 200 and 'id="queue-flag">1<' in response.content.decode()


@pytest.mark.django_db
def test_calibration_judges_a_regated_sentence_by_the_score_of_its_generated_text():
    catalog = CatalogFactory()
    description = make_description(catalog=catalog, sentences=[(-1.25, "review", "edited")])
    generated = {"mean_logprob": -1.25, "risk": 0.55, "hard_flag": False, "has_warning": False}
    # As a reviewer's edit leaves it: the typed text has no logprobs and a risk of its own.
    description.sentences.update(mean_logprob=None, risk=0.27, generated_score=generated)
    data = calibration_data(catalog=catalog)
    assert (data.always_total, [(round(b.low, 1), b.total) for b in data.buckets]) == (0, [(-1.3, 1)])
    assert [(p.low, p.predicted) for p in data.reliability] == [(0.5, pytest.approx(0.55))]

"""Second-review figures: escape rate with its interval, agreement (kappa), per-reviewer figures,
resolving disagreements, and the admin's sampling rates."""

from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone
from scipy.stats import beta
from sklearn.metrics import cohen_kappa_score

from reviewq.core.audit import AuditAction, audit_rows
from reviewq.core.models import AuditEvent, Catalog, QASample, QAVerdict
from reviewq.core.roles import roles_ensure
from reviewq.dashboard.qa import (
    EscapeRate,
    QASettingsError,
    qa_agreement,
    qa_disagreement_resolve,
    qa_disagreements,
    qa_escape_rates,
    qa_reviewer_figures,
)
from reviewq.dashboard.stats import Agreement
from reviewq.gating.labels import sentence_labels_list
from reviewq.review.qa import qa_review_submit
from tests.factories import UserFactory
from tests.reviewq.qa_data import published_by_gate, published_by_review, sampled_catalog

pytestmark = pytest.mark.django_db


def test_escape_rate_text_and_clopper_pearson_interval():
    rate = EscapeRate(catalog="Bottles", model="m1", reason="auto", errors=3, sampled=120)
    assert rate.text() == "auto-published: 3 errors in 120 sampled, 2.5%, 95% CI 0.5-7.1%"
    low, high = rate.interval
    # Exact two-sided Clopper-Pearson bounds: Beta quantiles at 2.5% and 97.5%.
    assert low == pytest.approx(beta.ppf(0.025, 3, 118), abs=1e-9)
    assert high == pytest.approx(beta.ppf(0.975, 4, 117), abs=1e-9)
    none = EscapeRate(catalog="Bottles", model="m1", reason="approved", errors=0, sampled=40)
    assert none.text() == "reviewer-approved: 0 errors in 40 sampled, 0.0%, 95% CI 0.0-8.8%"


def test_kappa_against_a_hand_computed_table():
    # first ok/second ok 20, ok/wrong 5, wrong/ok 10, wrong/wrong 15: p_o = 35/50 = 0.7;
    # p_e = 0.5 * 0.4 + 0.5 * 0.6 = 0.5; kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4.
    table = {(False, False): 20, (False, True): 5, (True, False): 10, (True, True): 15}
    agreement = Agreement(table)
    assert agreement.percent == pytest.approx(70.0)
    assert agreement.kappa == pytest.approx(0.4)
    first = [a for (a, _), n in table.items() for _ in range(n)]
    second = [b for (_, b), n in table.items() for _ in range(n)]
    assert agreement.kappa == pytest.approx(cohen_kappa_score(first, second))
    assert Agreement({(False, False): 7}).kappa is None  # chance agreement is total
    assert Agreement({}).percent is None


@pytest.fixture
def people():
    roles_ensure()
    users = [UserFactory(username=name) for name in ("ann", "bob", "cy", "admin1")]
    for user in users[:3]:
        user.groups.add(Group.objects.get(name="reviewer"))
    users[3].groups.add(Group.objects.get(name="admin"))
    return users


def _qa(sample, reviewer, verdicts):
    return qa_review_submit(sample=sample, reviewer=reviewer, verdicts=dict(enumerate(verdicts)))


def test_agreement_per_pair_and_overall_from_the_database(people):
    ann, bob, cy, _ = people
    catalog = sampled_catalog()
    # ann approves all three, bob says one is wrong; ann edits sentence 1, bob agrees it was wrong.
    _qa(published_by_review(reviewer=ann, catalog=catalog), bob, ["ok", "wrong", "ok"])
    _qa(published_by_review(reviewer=ann, catalog=catalog, edit=1), bob, ["ok", "wrong", "ok"])
    # cy removes sentence 2, ann says it was fine.
    _qa(published_by_review(reviewer=cy, catalog=catalog, remove=2), ann, ["ok", "ok", "ok"])
    # An auto-published sample has no first person: not in the agreement figures.
    _qa(published_by_gate(catalog=catalog), cy, ["wrong", "ok"])
    pairs, overall = qa_agreement()
    by_pair = {(p.first, p.second): p.agreement for p in pairs}
    assert set(by_pair) == {("ann", "bob"), ("cy", "ann")}
    assert by_pair[("ann", "bob")].table == {(False, False): 4, (False, True): 1, (True, True): 1}
    assert by_pair[("cy", "ann")].table == {(False, False): 2, (True, False): 1}
    assert overall.n == 9 and overall.agreed == 7
    first = [False] * 4 + [False] + [True] + [False] * 2 + [True]
    second = [False] * 4 + [True] + [True] + [False] * 2 + [False]
    assert overall.kappa == pytest.approx(cohen_kappa_score(first, second))
    assert len(qa_disagreements()) == 2


def test_escape_rates_count_samples_with_a_wrong_unchanged_sentence(people):
    ann, bob, _, _ = people
    catalog = sampled_catalog()
    _qa(published_by_gate(catalog=catalog), bob, ["ok", "wrong"])  # escape
    _qa(published_by_gate(catalog=catalog), bob, ["ok", "ok"])
    _qa(published_by_review(reviewer=ann, catalog=catalog, edit=1), bob, ["ok", "wrong", "ok"])  # fixed by ann
    _qa(published_by_review(reviewer=ann, catalog=catalog), bob, ["wrong", "ok", "ok"])  # ann missed it
    published_by_gate(catalog=catalog)  # sampled, not reviewed yet: not counted
    rates = {r.reason: (r.errors, r.sampled) for r in qa_escape_rates(catalog=catalog)}
    assert rates == {"auto": (1, 2), "approved": (1, 2)}
    assert qa_escape_rates(catalog=sampled_catalog()) == []


def test_reviewer_figures_from_decisions_and_verdicts(people):
    ann, bob, _, _ = people
    catalog = sampled_catalog()
    one = published_by_review(reviewer=ann, catalog=catalog, edit=1)
    two = published_by_review(reviewer=ann, catalog=catalog, remove=0)
    published_by_review(reviewer=ann, catalog=catalog)
    _qa(one, bob, ["ok", "ok", "ok"])  # ann's edit overturned (bob: the generated sentence was fine)
    _qa(two, bob, ["wrong", "ok", "ok"])  # ann's removal upheld
    figures = {f.reviewer: f for f in qa_reviewer_figures()}
    ann_figures = figures["ann"]
    assert (ann_figures.items, ann_figures.sentences, ann_figures.changed) == (3, 9, 2)
    assert (ann_figures.checked, ann_figures.overturned) == (6, 1)
    assert ann_figures.median_time is not None and ann_figures.median_time < timedelta(minutes=1)
    assert "bob" not in figures  # QA verdicts are not first decisions


def test_median_time_per_item_is_claim_to_decision_from_the_audit_log(people):
    ann, bob, _, _ = people
    descriptions = [published_by_gate(catalog=sampled_catalog()).description for _ in range(4)]
    t0 = timezone.now() - timedelta(days=1)

    def row(action, actor, description, minutes):
        # auto_now_add stamps the row with timezone.now(): the clock is set for each row.
        at = t0 + timedelta(minutes=minutes)
        with mock.patch("django.utils.timezone.now", return_value=at):
            audit_rows(action=action, actor=actor, rows=[{"description_id": description.pk}])
        assert AuditEvent.objects.order_by("-id").first().created_at == at

    for description, minutes in zip(descriptions[:3], (2, 4, 9), strict=True):
        row(AuditAction.REVIEW_CLAIMED, ann, description, -60)  # an older claim: the latest one counts
        row(AuditAction.REVIEW_CLAIMED, ann, description, 0)
        row(AuditAction.REVIEW_CLAIMED, bob, description, 1)  # someone else's claim does not count
        row(AuditAction.REVIEW_APPROVED, ann, description, minutes)
    row(AuditAction.REVIEW_REJECTED, ann, descriptions[3], 5)  # never claimed (bulk): no time
    figures = {f.reviewer: f for f in qa_reviewer_figures()}
    assert figures["ann"].items == 4
    assert figures["ann"].median_time == timedelta(minutes=4)
    assert figures["ann"].median_time_text == "4 min 0 s"


def test_resolving_a_disagreement_is_audited_and_the_gate_learns_the_resolved_label(people):
    ann, bob, _, admin = people
    sample = published_by_review(reviewer=ann, catalog=sampled_catalog())
    _qa(sample, bob, ["ok", "wrong", "ok"])
    verdict = QAVerdict.objects.get(sample=sample, sentence__index=1)
    errors = sorted(label.error for label in sentence_labels_list())
    assert errors == [False, False, True]  # the QA verdict overrides ann's approval
    assert [label.kind for label in sentence_labels_list() if label.error] == ["qa"]
    qa_disagreement_resolve(verdict=verdict, label="ok", actor=admin)
    assert sorted(label.error for label in sentence_labels_list()) == [False, False, False]
    event = AuditEvent.objects.get(action=AuditAction.QA_DISAGREEMENT_RESOLVED)
    assert (event.actor, event.sentence_index, event.before["verdict"], event.after) == (
        admin,
        1,
        "wrong",
        {"resolved": "ok"},
    )
    with pytest.raises(QASettingsError):
        qa_disagreement_resolve(verdict=verdict, label="maybe", actor=admin)


def test_auto_published_sentences_a_qa_review_checked_become_labels(people):
    _, bob, _, _ = people
    sample = published_by_gate(catalog=sampled_catalog())
    assert sentence_labels_list() == []  # nobody checked them
    _qa(sample, bob, ["ok", "wrong"])
    assert sorted((label.kind, label.error) for label in sentence_labels_list()) == [("qa", False), ("qa", True)]


def test_the_agreement_page_and_setting_rates(client, people):
    ann, bob, _, admin = people
    catalog = sampled_catalog(auto=0.0, approved=0.0)
    client.force_login(admin)
    response = client.post(reverse("qa_rates", args=[catalog.pk]), {"rate_auto": "5", "rate_approved": "12.5"})
    assert response.status_code == 302
    catalog.refresh_from_db()
    assert (catalog.qa_rate_auto, catalog.qa_rate_approved) == (0.05, 0.125)
    event = AuditEvent.objects.get(action=AuditAction.QA_RATES_CHANGED)
    assert event.after == {"qa_rate_auto": 0.05, "qa_rate_approved": 0.125} and event.actor == admin
    bad = client.post(reverse("qa_rates", args=[catalog.pk]), {"rate_auto": "150", "rate_approved": "nan"})
    assert bad.status_code == 400
    catalog.refresh_from_db()
    assert catalog.qa_rate_auto == 0.05
    assert AuditEvent.objects.filter(action=AuditAction.QA_RATES_CHANGED).count() == 1
    sample = published_by_review(reviewer=ann, catalog=sampled_catalog())
    _qa(sample, bob, ["ok", "wrong", "ok"])
    page = client.get(reverse("qa_agreement")).content.decode()
    assert "ann" in page and "bob" in page and 'id="agreement-overall"' in page
    verdict = QAVerdict.objects.get(sample=sample, sentence__index=1)
    assert client.post(reverse("qa_resolve", args=[verdict.pk]), {"label": "wrong"}).status_code == 302
    verdict.refresh_from_db()
    assert (verdict.resolved, verdict.resolved_by) == ("wrong", admin)
    assert client.post(reverse("qa_resolve", args=[verdict.pk]), {"label": "x"}).status_code == 400


def test_the_dashboard_shows_the_measured_escape_rate(client, people):
    _, bob, _, admin = people
    catalog = sampled_catalog()
    _qa(published_by_gate(catalog=catalog), bob, ["ok", "wrong"])
    client.force_login(admin)
    page = client.get(reverse("dashboard")).content.decode()
    assert "auto-published: 1 error in 1 sampled, 100.0%, 95% CI 2.5-100.0%" in page
    assert QASample.objects.filter(status="done").count() == 1
    assert Catalog.objects.count() == 1
    assert timezone.now()

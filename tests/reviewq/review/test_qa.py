"""The second (QA) review: who may do it, blindness, verdicts, and sending wrong live copy back."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from reviewq.core.audit import AuditAction
from reviewq.core.models import AuditEvent, Description, DescriptionStatus, QASample, QAVerdict
from reviewq.core.roles import roles_ensure
from reviewq.review.history import revision_list
from reviewq.review.qa import QA_WRONG_REASON, QARefused, qa_review_submit, qa_sample_take, qa_samples_for
from tests.factories import UserFactory
from tests.reviewq.qa_data import EDITED_TEXT, published_by_gate, published_by_review, sampled_catalog

pytestmark = pytest.mark.django_db
S = DescriptionStatus


@pytest.fixture
def people():
    roles_ensure()
    first, second, third = (UserFactory(username=name) for name in ("firstperson", "qaperson", "thirdperson"))
    for user in (first, second, third):
        user.groups.add(Group.objects.get(name="reviewer"))
    return first, second, third


def test_the_second_reviewers_page_shows_nothing_of_the_first_decision(client, people):
    first, second, _ = people
    sample = published_by_review(reviewer=first, catalog=sampled_catalog(), edit=1, remove=2)
    client.force_login(second)
    html = client.get(reverse("qa_review", args=[sample.pk])).content.decode()
    sentences = list(sample.description.sentences.order_by("index"))
    # The sentences as generated, with their scores...
    for sentence in sentences:
        assert sentence.text.strip() in html
    assert "risk 0.90" in html and "low probability in sentence 2" in html
    # ... and nothing of who decided them or how.
    for leak in ("firstperson", EDITED_TEXT.strip(), "Approved", "approved", "Edited", "edited", "Removed", "removed",
                 "auto-published", "Auto-published", "reviewer-approved", "Reviewer-approved", "decision-"):  # fmt: skip
        assert leak not in html, leak
    # The queue does not say why an item was drawn either.
    queue = client.get(reverse("qa_queue")).content.decode()
    assert sample.description.product.name in queue
    assert "firstperson" not in queue and "approved" not in queue.lower()


def test_the_product_review_pages_stay_hidden_from_its_qa_reviewer_until_the_review_is_saved(client, people):
    first, second, third = people
    sample = published_by_review(reviewer=first, catalog=sampled_catalog(), edit=1)
    live = sample.description
    qa_sample_take(sample=sample, reviewer=second)
    client.force_login(second)
    for query in ("", "?tab=history"):
        response = client.get(reverse("review", args=[live.pk]) + query)
        html = response.content.decode()
        assert response.status_code == 403, query
        assert "firstperson" not in html and EDITED_TEXT.strip() not in html
        assert reverse("qa_review", args=[sample.pk]) in html
    # Others still see it; the QA reviewer again once the QA review is saved.
    client.force_login(third)
    assert "firstperson" in client.get(reverse("review", args=[live.pk]) + "?tab=history").content.decode()
    qa_review_submit(sample=sample, reviewer=second, verdicts={0: "ok", 1: "ok", 2: "ok"})
    client.force_login(second)
    assert client.get(reverse("review", args=[live.pk]) + "?tab=history").status_code == 200


def test_whoever_decided_first_gets_no_qa_of_it(client, people):
    first, second, _ = people
    sample = published_by_review(reviewer=first, catalog=sampled_catalog())
    assert list(qa_samples_for(user=first)) == []
    assert list(qa_samples_for(user=second)) == [sample]
    client.force_login(first)
    assert client.get(reverse("qa_review", args=[sample.pk])).status_code == 404
    with pytest.raises(QARefused):
        qa_review_submit(sample=sample, reviewer=first, verdicts={0: "ok", 1: "ok", 2: "ok"})
    assert not QAVerdict.objects.exists()


def test_a_taken_sample_is_the_takers_alone(people):
    first, second, third = people
    catalog = sampled_catalog()
    older = published_by_review(reviewer=first, catalog=catalog)
    sample = published_by_review(reviewer=first, catalog=catalog)
    qa_sample_take(sample=sample, reviewer=second)
    assert list(qa_samples_for(user=second, mine_only=True)) == [sample]
    assert list(qa_samples_for(user=second)) == [sample, older]  # mine first, then the oldest free
    assert list(qa_samples_for(user=third)) == [older]
    with pytest.raises(QARefused):
        qa_sample_take(sample=sample, reviewer=third)
    assert AuditEvent.objects.filter(action=AuditAction.QA_SAMPLE_TAKEN, actor=second).count() == 1


def test_wrong_auto_published_copy_goes_back_as_a_draft_and_the_live_copy_stays(client, people):
    _, second, _ = people
    sample = published_by_gate(catalog=sampled_catalog())
    live = sample.description
    client.force_login(second)
    response = client.post(reverse("qa_review", args=[sample.pk]), {"s0": "ok", "s1": "wrong"})
    assert response.status_code == 302
    sample.refresh_from_db()
    assert (sample.status, sample.qa_reviewer_id) == ("done", second.pk)
    assert dict(sample.verdicts.values_list("sentence__index", "verdict")) == {0: "ok", 1: "wrong"}
    live.refresh_from_db()
    assert live.status == S.PUBLISHED  # stays live until the fix is published
    draft = sample.fix
    assert draft.status == S.REVIEW and draft.product_id == live.product_id and draft.source_id == live.pk
    reopened = draft.sentences.get(index=1)
    assert (reopened.band, reopened.decision) == ("flag", "")
    assert QA_WRONG_REASON in reopened.reasons
    assert draft.sentences.get(index=0).band == "publish"
    assert AuditEvent.objects.filter(action=AuditAction.QA_SENT_BACK, description=draft, actor=second).exists()
    revisions = {r.description.pk: r for r in revision_list(product=live.product)}
    assert revisions[draft.pk].why == f"Sent back by a QA review of revision {live.pk}: QA review: sentence(s) 2 wrong"
    assert revisions[draft.pk].created_by == "qaperson"
    event = AuditEvent.objects.get(action=AuditAction.QA_REVIEWED, description=live)
    assert event.after["escaped"] == [1] and event.after["fix"] == draft.pk


def test_wrong_on_a_sentence_the_reviewer_edited_is_no_escape(people):
    first, second, _ = people
    sample = published_by_review(reviewer=first, catalog=sampled_catalog(), edit=1)
    result = qa_review_submit(sample=sample, reviewer=second, verdicts={0: "ok", 1: "wrong", 2: "ok"})
    assert (result.wrong, result.escaped, result.fix) == (1, False, None)
    assert Description.objects.filter(product_id=sample.description.product_id).count() == 1


def test_an_incomplete_review_is_refused_and_writes_nothing(client, people):
    _, second, _ = people
    sample = published_by_gate(catalog=sampled_catalog())
    client.force_login(second)
    response = client.post(reverse("qa_review", args=[sample.pk]), {"s0": "ok", "s1": "maybe"})
    assert response.status_code == 422
    assert "Sentence 2" in response.content.decode()
    sample.refresh_from_db()
    assert (sample.status, sample.qa_reviewer_id) == ("open", None)
    assert not QAVerdict.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="qa_review").exists()
    with pytest.raises(QARefused):
        qa_review_submit(sample=sample, reviewer=second, verdicts={0: "ok"})


def test_a_done_sample_leaves_the_queue(people):
    _, second, third = people
    sample = published_by_gate(catalog=sampled_catalog())
    qa_review_submit(sample=sample, reviewer=second, verdicts={0: "ok", 1: "ok"})
    assert list(qa_samples_for(user=third)) == []
    with pytest.raises(QARefused):
        qa_review_submit(sample=QASample.objects.get(pk=sample.pk), reviewer=third, verdicts={0: "ok", 1: "ok"})

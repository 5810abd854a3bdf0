from datetime import timedelta

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from generation.providers import reset_provider_cache
from generation.regeneration_requests import sentence_regeneration_claim, sentence_regeneration_pending
from generation.sentence_regeneration import sentence_regeneration_store
from generation.tasks import regenerate_sentence_task
from generation.types import Alternative, Completion, TokenResult
from reviewq.core.models import AuditEvent, Description, ErrorCategory, SentenceRegeneration, Token
from reviewq.review.detail import review_detail
from reviewq.review.regeneration import sentence_regeneration_request
from reviewq.review.sentences import sentence_edit, sentence_remove
from tests.factories import UserFactory
from tests.reviewq.review_data import make_review_description

pytestmark = pytest.mark.django_db


def _completion(pieces, *, text=None):
    tokens = tuple(
        TokenResult(
            text=t,
            bytes=t.encode(),
            logprob=lp,
            alternatives=(Alternative(text=t, logprob=lp), Alternative(text=" x", logprob=-3.0)),
        )
        for t, lp in pieces
    )
    return Completion(
        text=text or "".join(t for t, _ in pieces),
        tokens=tokens,
        finish_reason="stop",
        model="test-model",
        provider="openai",
    )


def _assert_consistent(description):
    description.refresh_from_db()
    sentences = list(description.sentences.order_by("index"))
    assert "".join(s.text for s in sentences) == description.text
    offset = 0
    for sentence in sentences:
        assert (sentence.char_start, sentence.char_end) == (offset, offset + len(sentence.text))
        offset = sentence.char_end
        tokens = list(sentence.tokens.order_by("position"))
        assert "".join(t.text for t in tokens) == sentence.text
    tokens = list(Token.objects.filter(description=description).order_by("position"))
    assert [t.position for t in tokens] == list(range(len(tokens)))
    assert all(description.text[t.char_start : t.char_start + len(t.text)] == t.text for t in tokens)


def _request(description, index=1, version=1):
    reviewer = UserFactory()
    sentence = description.sentences.get(index=index)
    return sentence_regeneration_request(sentence=sentence, reviewer=reviewer, expected_version=version), reviewer


def test_store_replaces_the_sentence_shifts_what_follows_and_regates(django_capture_on_commit_callbacks):
    description = make_review_description()
    with django_capture_on_commit_callbacks() as callbacks:
        request, _ = _request(description)
    assert len(callbacks) == 1  # the task is enqueued after commit
    assert sentence_regeneration_pending(description_id=description.pk).keys() == {1}
    assert sentence_regeneration_claim(request_id=request.pk, lease_seconds=60) is not None
    completion = _completion(
        [
            ("\n", -0.1),
            ("It", -0.05),
            (" holds", -0.1),
            (" 750", -0.2),
            (" millilitres", -0.3),
            (" of", -0.01),
            (" water", -0.1),
            (".", -0.01),
            (" Extra", -0.2),
            (".", -0.1),
        ]
    )
    assert sentence_regeneration_store(request=request, completion=completion) == "regenerated"
    _assert_consistent(description)
    sentence = description.sentences.get(index=1)
    assert sentence.text == " It holds 750 millilitres of water."  # first sentence only, original spacing
    assert (sentence.decision, sentence.band in ("publish", "review", "flag")) == ("", True)
    assert description.sentences.get(index=2).text == " Made of sturdy steel."
    description.refresh_from_db()
    assert description.version == 3  # request + store
    done = AuditEvent.objects.get(action="sentence_regenerated")
    assert done.before["text"] == " It holds 900 ml." and done.after["text"] == sentence.text
    assert sentence_regeneration_pending(description_id=description.pk) == {}


def test_store_gives_the_new_sentence_its_agreement_with_the_other_rewrites():
    description = make_review_description()
    request, _ = _request(description)
    assert sentence_regeneration_claim(request_id=request.pk, lease_seconds=60) is not None
    completion = _completion([("It", -0.05), (" holds", -0.1), (" 600", -0.2), (" ml", -0.1), (".", -0.01)])
    others = ("It holds 750 ml.", "The bottle holds 750 ml of water.")
    assert sentence_regeneration_store(request=request, completion=completion, other_candidates=others) == "regenerated"
    sentence = description.sentences.get(index=1)
    assert (sentence.signals["n_samples"], sentence.signals["n_values_alone"]) == (2, 1)
    assert "'600 ml' stated by this sample only, by none of the 2 other samples" in sentence.reasons


def test_regenerating_a_removed_sentence_drops_its_error_category():
    """The new sentence is undecided, and an undecided sentence has no category (a DB constraint)."""
    description = make_review_description()
    reviewer = UserFactory()
    sentence = sentence_remove(
        sentence=description.sentences.get(index=1),
        reviewer=reviewer,
        expected_version=1,
        category=ErrorCategory.objects.get(key="1"),
    )
    request = sentence_regeneration_request(sentence=sentence, reviewer=reviewer, expected_version=2)
    assert sentence_regeneration_claim(request_id=request.pk, lease_seconds=60) is not None
    completion = _completion([("It", -0.05), (" holds", -0.1), (" 750", -0.2), (" ml", -0.1), (".", -0.01)])
    assert sentence_regeneration_store(request=request, completion=completion) == "regenerated"
    sentence.refresh_from_db()
    assert (sentence.text, sentence.decision, sentence.error_category) == (" It holds 750 ml.", "", None)


def test_a_redelivered_or_superseded_request_is_not_claimed_twice():
    description = make_review_description()
    request, reviewer = _request(description)
    assert sentence_regeneration_claim(request_id=request.pk, lease_seconds=60) is not None
    assert sentence_regeneration_claim(request_id=request.pk, lease_seconds=60) is None  # within the lease
    SentenceRegeneration.objects.filter(pk=request.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert sentence_regeneration_claim(request_id=request.pk, lease_seconds=0) is not None  # lease ran out
    newer = sentence_regeneration_request(
        sentence=description.sentences.get(index=1), reviewer=reviewer, expected_version=2
    )
    assert sentence_regeneration_claim(request_id=request.pk, lease_seconds=0) is None
    assert sentence_regeneration_claim(request_id=newer.pk, lease_seconds=60) is not None


def test_store_drops_the_result_if_the_sentence_changed_meanwhile():
    description = make_review_description()
    request, reviewer = _request(description)
    sentence_edit(
        sentence=description.sentences.get(index=1), reviewer=reviewer, text="It holds 750 ml.", expected_version=2
    )
    before = list(Token.objects.filter(description=description).values_list("position", "text"))
    assert (
        sentence_regeneration_store(request=request, completion=_completion([("New", -0.1), (".", -0.1)])) == "failed"
    )
    assert list(Token.objects.filter(description=description).values_list("position", "text")) == before
    assert description.sentences.get(index=1).edited_text == " It holds 750 ml."
    assert AuditEvent.objects.filter(action="sentence_regeneration_failed").count() == 1
    view = review_detail(description_id=description.pk, user=reviewer).sentences[1]
    assert not view.regenerating and "changed" in view.regeneration_failed


def test_task_regenerates_through_the_openai_provider_and_a_redelivery_is_a_no_op(fake_openai):
    description = make_review_description()
    request, _ = _request(description, index=2)
    with override_settings(
        LLM_PROVIDER="openai", LLM_BASE_URL=fake_openai.base_url, LLM_API_KEY="test-key", LLM_MODEL="fake-model"
    ):
        reset_provider_cache()
        try:
            assert regenerate_sentence_task.apply(args=[request.pk]).get() == "regenerated"
            assert regenerate_sentence_task.apply(args=[request.pk]).get() == "skipped"
        finally:
            reset_provider_cache()
    _assert_consistent(description)
    sentence = description.sentences.get(index=2)
    assert sentence.text != " Made of sturdy steel." and sentence.text.startswith(" ")
    assert fake_openai.requests_total == 1
    assert "Made of sturdy steel." in str(next(iter(fake_openai.requests)))


def test_review_page_polls_a_regenerating_sentence_and_moves_to_the_new_version(client):
    from django.contrib.auth.models import Group

    from reviewq.core.roles import REVIEWER, roles_ensure

    roles_ensure()
    reviewer = UserFactory(username="rita")
    reviewer.groups.add(Group.objects.get(name=REVIEWER))
    client.force_login(reviewer)
    description = make_review_description()
    url = reverse("review_sentence", args=[description.pk, 1])
    response = client.post(url, {"action": "regenerate", "version": 1}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert 'hx-trigger="every 2s"' in body and "Regenerating" in body
    request = SentenceRegeneration.objects.get()
    sentence_regeneration_claim(request_id=request.pk, lease_seconds=60)
    sentence_regeneration_store(
        request=request, completion=_completion([("Holds", -0.1), (" 750", -0.1), (" ml", -0.1), (".", -0.1)])
    )
    poll = client.get(
        reverse("review", args=[description.pk]),
        {"fragment": "sentence", "index": 1, "version": 2},
        HTTP_HX_REQUEST="true",
    )
    assert "Holds" in poll.content.decode() and "every 2s" not in poll.content.decode()
    assert poll["HX-Trigger"] == '{"reviewq:version": {"version": 3}}'
    stale = client.get(
        reverse("review", args=[description.pk]),
        {"fragment": "sentence", "index": 1, "version": 1},
        HTTP_HX_REQUEST="true",
    )
    assert "HX-Trigger" not in stale
    assert Description.objects.get(pk=description.pk).version == 3

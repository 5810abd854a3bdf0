"""Sentence regeneration requests are rows of their own, claimed with a conditional UPDATE."""

import pytest
from django.db import IntegrityError, transaction

from generation.regeneration_requests import (
    sentence_regenerated_version,
    sentence_regeneration_claim,
    sentence_regeneration_release,
    sentence_regeneration_state,
)
from generation.sentence_regeneration import sentence_regeneration_store
from generation.types import Completion, TokenResult
from reviewq.core.models import AuditEvent, SentenceRegeneration
from reviewq.review.regeneration import sentence_regeneration_request
from tests.factories import UserFactory
from tests.reviewq.review_data import make_review_description

pytestmark = pytest.mark.django_db
R = SentenceRegeneration.Status


def _completion(text):
    return Completion(
        text=text,
        tokens=(TokenResult(text=text, bytes=text.encode(), logprob=-0.1),),
        finish_reason="stop",
        model="m",
        provider="openai",
    )


def test_a_newer_request_closes_the_open_one_and_its_late_result_is_dropped():
    description = make_review_description()
    reviewer = UserFactory()
    sentence = description.sentences.get(index=1)
    first = sentence_regeneration_request(sentence=sentence, reviewer=reviewer, expected_version=1)
    claim = sentence_regeneration_claim(request_id=first.pk, lease_seconds=60)
    second = sentence_regeneration_request(sentence=sentence, reviewer=reviewer, expected_version=2)
    first.refresh_from_db()
    assert (first.status, second.status) == (R.FAILED, R.REQUESTED)
    # The first worker answers late: its result is not stored over the newer request.
    assert sentence_regeneration_store(request=claim.request, completion=_completion("Late.")) == "skipped"
    assert description.sentences.get(index=1).text == " It holds 900 ml."
    state = sentence_regeneration_state(description_id=description.pk)
    assert state.open.keys() == {1} and state.failures == {}


def test_the_database_keeps_one_open_request_per_sentence():
    description = make_review_description()
    SentenceRegeneration.objects.create(description=description, sentence_index=1, original_text="a")
    with pytest.raises(IntegrityError), transaction.atomic():
        SentenceRegeneration.objects.create(description=description, sentence_index=1, original_text="b")


def test_a_released_claim_is_claimed_again_and_done_gives_the_next_version():
    description = make_review_description()
    request = sentence_regeneration_request(
        sentence=description.sentences.get(index=2), reviewer=UserFactory(), expected_version=1
    )
    claim = sentence_regeneration_claim(request_id=request.pk, lease_seconds=60)
    assert sentence_regeneration_release(request=claim.request)
    claim = sentence_regeneration_claim(request_id=request.pk, lease_seconds=60)
    assert claim is not None and claim.request.attempts == 2
    assert sentence_regeneration_store(request=claim.request, completion=_completion("Steel.")) == "regenerated"
    request.refresh_from_db()
    assert (request.status, request.result_version, request.lease_until) == (R.DONE, 3, None)
    assert sentence_regenerated_version(description_id=description.pk, index=2, page_version=2) == 3
    assert sentence_regenerated_version(description_id=description.pk, index=2, page_version=1) is None
    assert sentence_regeneration_claim(request_id=request.pk, lease_seconds=0) is None  # finished
    # Every step is in the audit log for History; none of it is read back.
    actions = list(AuditEvent.objects.filter(sentence_index=2).order_by("id").values_list("action", flat=True))
    assert actions == [
        "sentence_regeneration_requested",
        "sentence_regeneration_started",
        "sentence_regeneration_started",
        "sentence_regenerated",
    ]

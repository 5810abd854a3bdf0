import pytest
from django.core.cache import cache

from bench.seed import seed_descriptions
from reviewq.core.models import Description, Sentence, Token
from reviewq.review.detail import review_detail
from reviewq.review.queue import QueueFilters, queue_counts
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_counts():
    cache.clear()  # queue band counts are cached for a few seconds; tests share the process


def test_seed_writes_consistent_descriptions_sentences_and_tokens():
    result = seed_descriptions(descriptions=12, sentences_per_description=3, tokens_per_sentence=5, catalogs=2)
    assert (result.descriptions, result.sentences, result.tokens) == (12, 36, 180)
    assert Token.objects.count() == 180 and Sentence.objects.count() == 36
    for description in Description.objects.all():
        sentences = list(description.sentences.order_by("index"))
        assert "".join(s.text for s in sentences) == description.text
        for sentence in sentences:
            tokens = list(sentence.tokens.order_by("position"))
            assert "".join(t.text for t in tokens) == sentence.text
            assert all(description.text[t.char_start : t.char_start + len(t.text)] == t.text for t in tokens)
    user = UserFactory()
    counts = queue_counts(user=user, filters=QueueFilters())
    assert counts.flag + counts.review + counts.publish == counts.total
    assert counts.total == Description.objects.filter(status="review").count()
    detail = review_detail(description_id=Description.objects.first().pk, user=user)
    assert len(detail.sentences) == 3

from collections import Counter

import pytest
from django.core.cache import cache
from django.db.models import Count, Q

from bench.seed import seed_descriptions
from reviewq.core.models import Description, Product, Sentence, Token
from reviewq.review.detail import review_detail
from reviewq.review.queue import QueueFilters, queue_counts
from reviewq.review.revisions import revision_live_diff
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


def test_seed_with_revisions_writes_archived_live_and_draft_revisions_as_the_model_allows():
    result = seed_descriptions(
        descriptions=60, sentences_per_description=2, tokens_per_sentence=3, review_share=0.8, revisions=True
    )
    assert result.descriptions == Description.objects.count() == 60
    assert result.products == Product.objects.count() < 60
    assert Token.objects.count() == 60 * 6
    statuses = Counter(Description.objects.values_list("status", flat=True))
    assert set(statuses) == {"archived", "published", "review"}
    per_product = Description.objects.values("product").annotate(
        live=Count("pk", filter=Q(status="published")), drafts=Count("pk", filter=Q(status="review"))
    )
    assert max(p["live"] for p in per_product) == 1 and max(p["drafts"] for p in per_product) == 1
    beside_live = Description.objects.filter(status="review", product__descriptions__status="published")
    assert beside_live.exists()
    assert not Description.objects.filter(status__in=["archived", "published"], published_at__isnull=True).exists()
    draft = beside_live.first()
    assert revision_live_diff(draft=draft)  # the review page's diff against the live copy

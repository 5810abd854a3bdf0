"""The database itself refuses bad states, whatever code writes them."""

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from reviewq.core.models import Description, Sentence, Thresholds, Token
from tests.factories import CatalogFactory, DescriptionFactory, ProductFactory, SentenceFactory, TokenFactory

pytestmark = pytest.mark.django_db


def _rejected(**update):
    def run(model, pk):
        with pytest.raises(IntegrityError), transaction.atomic():
            model.objects.filter(pk=pk).update(**update)

    return run


def test_sku_unique_per_catalog_but_not_across():
    product = ProductFactory(sku="A-1")
    ProductFactory(sku="A-1")  # another catalog: fine
    with pytest.raises(IntegrityError), transaction.atomic():
        ProductFactory(catalog=product.catalog, sku="A-1")


def test_sku_cannot_be_empty():
    with pytest.raises(IntegrityError), transaction.atomic():
        ProductFactory(sku="")


def test_one_description_per_product():
    description = DescriptionFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Description.objects.create(product=description.product)


@pytest.mark.parametrize(
    "update",
    [
        {"status": "bogus"},
        {"version": 0},
        {"status": "published", "published_at": None},
        {"status": "failed", "error": ""},
    ],
)
def test_description_rejects_bad_states(update):
    description = DescriptionFactory()
    _rejected(**update)(Description, description.pk)


def test_published_with_time_and_failed_with_error_are_fine():
    description = DescriptionFactory()
    Description.objects.filter(pk=description.pk).update(status="published", published_at=timezone.now())
    Description.objects.filter(pk=description.pk).update(status="failed", error="boom")


@pytest.mark.parametrize(
    "update",
    [
        {"band": "maybe"},
        {"decision": "approved"},  # a decision needs a time
        {"decision": "bogus", "decided_at": timezone.now()},
        {"char_start": 10, "char_end": 5},
    ],
)
def test_sentence_rejects_bad_states(update):
    sentence = SentenceFactory()
    _rejected(**update)(Sentence, sentence.pk)


def test_sentence_index_unique_per_description():
    sentence = SentenceFactory(index=0)
    with pytest.raises(IntegrityError), transaction.atomic():
        SentenceFactory(description=sentence.description, index=0)


def test_token_position_unique_and_logprob_not_positive():
    token = TokenFactory(position=0)
    with pytest.raises(IntegrityError), transaction.atomic():
        TokenFactory(sentence=token.sentence, position=0)
    _rejected(logprob=0.5)(Token, token.pk)
    Token.objects.filter(pk=token.pk).update(logprob=None)  # no logprobs from the provider is allowed


def test_thresholds_one_global_row_and_one_per_catalog():
    Thresholds.objects.create()
    with pytest.raises(IntegrityError), transaction.atomic():
        Thresholds.objects.create()
    catalog = CatalogFactory()
    Thresholds.objects.create(catalog=catalog)
    with pytest.raises(IntegrityError), transaction.atomic():
        Thresholds.objects.create(catalog=catalog)


@pytest.mark.parametrize(
    "values",
    [{"publish_above": -2.0, "flag_below": -1.0}, {"publish_above": 0.5}, {"critical_floor": 1.0}],
)
def test_thresholds_must_be_ordered_logprobs(values):
    with pytest.raises(IntegrityError), transaction.atomic():
        Thresholds.objects.create(**values)

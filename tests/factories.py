import factory
from django.contrib.auth import get_user_model

from reviewq.core.models import Catalog, Description, Product, Sentence, Token


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests-1")


class CatalogFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Catalog

    name = factory.Sequence(lambda n: f"Catalog {n}")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    catalog = factory.SubFactory(CatalogFactory)
    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"Steel water bottle {n}")
    attributes = factory.LazyFunction(
        lambda: {"material": "stainless steel", "capacity": "750 ml", "colour": "blue", "keeps cold": "24 h"}
    )


class DescriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Description

    product = factory.SubFactory(ProductFactory)
    status = Description.Status.QUEUED


class SentenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sentence

    description = factory.SubFactory(DescriptionFactory)
    index = factory.Sequence(lambda n: n)
    text = "A sturdy bottle."
    char_start = 0
    char_end = factory.LazyAttribute(lambda o: o.char_start + len(o.text))


class TokenFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Token

    sentence = factory.SubFactory(SentenceFactory)
    description = factory.LazyAttribute(lambda o: o.sentence.description)
    position = factory.Sequence(lambda n: n)
    char_start = 0
    text = "A"
    bytes = factory.LazyAttribute(lambda o: o.text.encode())
    logprob = -0.1
    alternatives = factory.LazyFunction(lambda: [["A", -0.1], ["The", -2.5]])

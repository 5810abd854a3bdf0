import pytest

from tests.factories import CatalogFactory, ProductFactory, UserFactory


@pytest.fixture
def catalog(db):
    return CatalogFactory()


@pytest.fixture
def product(catalog):
    return ProductFactory(catalog=catalog)


@pytest.fixture
def user(db):
    return UserFactory()

from functools import partial

import pytest

from generation.providers import reset_provider_cache
from generation.verifier import reset_verifier_providers
from tests.factories import CatalogFactory, ProductFactory, UserFactory
from tests.fakes.fake_openai import FakeOpenAI


@pytest.fixture
def catalog(db):
    return CatalogFactory()


@pytest.fixture
def product(catalog):
    return ProductFactory(catalog=catalog)


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def fake_openai():
    """A real fake OpenAI HTTP server on 127.0.0.1 with an ephemeral port (see .base_url)."""
    with FakeOpenAI(hold_seconds=10.0) as server:
        yield server


@pytest.fixture
def fresh_providers():
    """Forget cached providers before and after a test that changes LLM_* settings."""
    reset_provider_cache()
    reset_verifier_providers()
    yield
    reset_provider_cache()
    reset_verifier_providers()


@pytest.fixture
def openai_settings(settings, fake_openai, fresh_providers):
    """Settings for the OpenAI-compatible provider against the fake server of `fake_openai`."""
    settings.LLM_PROVIDER = "openai"
    settings.LLM_BASE_URL = fake_openai.base_url
    settings.LLM_API_KEY = "test"
    settings.LLM_MODEL = "fake-model"
    settings.LLM_TIMEOUT = 2.0
    settings.LLM_CANDIDATES = 1
    settings.REDIS_URL = ""
    return settings


@pytest.fixture
def celery_eager():
    """Tasks run in the process that sends them (CELERY_TASK_ALWAYS_EAGER), their errors raised:
    a request whose transaction commits runs what it sent before it returns."""
    from reviewq.celery import app

    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@pytest.fixture
def run_tasks(celery_eager, django_capture_on_commit_callbacks):
    """`with run_tasks(): client.post(...)`: in a test inside a transaction, what the requests
    send on commit runs eagerly when the block ends, as a worker would run it."""
    return partial(django_capture_on_commit_callbacks, execute=True)

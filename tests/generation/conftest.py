import pytest

from generation.fake_openai import FakeOpenAI
from generation.providers import reset_provider_cache


@pytest.fixture
def fake_openai():
    """A real fake OpenAI HTTP server on 127.0.0.1 with an ephemeral port (see .base_url)."""
    with FakeOpenAI(hold_seconds=10.0) as server:
        yield server


@pytest.fixture
def fresh_providers():
    """Forget cached providers before and after a test that changes LLM_* settings."""
    reset_provider_cache()
    yield
    reset_provider_cache()

import pytest
from django.core.management import CommandError, call_command

from reviewq.core.models import Description, DescriptionStatus, Token
from tests.factories import CatalogFactory, ProductFactory

pytestmark = pytest.mark.django_db(transaction=True)
S = DescriptionStatus


@pytest.fixture
def shop():
    catalog = CatalogFactory(name="Shop")
    return catalog, ProductFactory.create_batch(3, catalog=catalog)


def test_generate_queues_each_product_once_and_enqueues_after_commit(shop, capsys, monkeypatch):
    from generation import tasks

    sent = []
    monkeypatch.setattr(
        tasks.generate_description_task, "apply_async", lambda args, kwargs=None, **options: sent.append(args[0])
    )
    monkeypatch.setattr(  # a bulk run's chunk task: its products
        tasks.generate_descriptions_task, "apply_async", lambda args, kwargs=None, **options: sent.extend(args[0])
    )
    _catalog, products = shop
    call_command("generate", catalog="Shop")
    assert "Queued 3 products of 'Shop'" in capsys.readouterr().out
    assert sorted(sent) == sorted(p.pk for p in products)
    assert Description.objects.filter(status=S.QUEUED).count() == 3
    call_command("generate", catalog="Shop", only_missing=True)
    assert "Queued 0 products" in capsys.readouterr().out
    assert len(sent) == 3


def test_generate_inline_runs_without_a_worker(shop, settings, fake_openai, fresh_providers, capsys):
    settings.LLM_PROVIDER, settings.LLM_BASE_URL, settings.LLM_API_KEY = "openai", fake_openai.base_url, "k"
    settings.LLM_MODEL = "fake-model"
    settings.REDIS_URL = ""
    fake_openai.script("rate_limit")  # retried inline after Retry-After
    fake_openai.retry_after = 0.1
    call_command("generate", catalog="Shop", inline=True)
    out = capsys.readouterr().out
    assert "3 products:" in out
    assert Description.objects.filter(status__in=[S.REVIEW, S.PUBLISHED]).count() == 3, (
        out,
        list(Description.objects.values_list("status", "error")),
    )
    assert Token.objects.count() > 0


def test_generate_wait_times_out_clearly_without_a_worker(shop, monkeypatch):
    from generation import tasks

    monkeypatch.setattr(tasks.generate_description_task, "apply_async", lambda args, kwargs=None, **options: None)
    with pytest.raises(CommandError, match="Timed out after 1 s with 3 products unfinished"):
        call_command("generate", catalog="Shop", wait=True, timeout=1)


def test_generate_unknown_catalog_is_a_clear_error():
    with pytest.raises(CommandError, match="No catalog named 'Nope'"):
        call_command("generate", catalog="Nope")

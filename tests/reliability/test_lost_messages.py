"""A SIGKILLed worker on the SQLite broker (`make run`'s default): kombu's SQLAlchemy transport
never redelivers the messages that worker had taken, so the descriptions it was generating come
back only through generation.recover_stale, run by the next worker's embedded beat (as
`manage.py serve` starts it) and on its worker_ready. Real worker processes, the fake OpenAI
server over HTTP, the suite's database; short lease and recovery interval."""

import time

import pytest
from django.db import connection

from reviewq.core.models import AuditEvent, Description
from tests.factories import CatalogFactory, ProductFactory
from tests.fakes.fake_openai import FakeOpenAI
from tests.reliability.harness import Worker, database_url, run_check, send_generation, wait_until, worker_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration, pytest.mark.slow]

RECOVERY = {
    "LLM_TIMEOUT": "5",
    "GENERATION_LEASE_SECONDS": "4",
    "GENERATION_REQUEUE_AFTER_SECONDS": "4",
    "GENERATION_RECOVERY_INTERVAL_SECONDS": "1",
    "GENERATION_MAX_ATTEMPTS": "12",
}


def test_sigkilled_worker_on_the_sqlite_broker_is_recovered_by_the_next_workers_beat(tmp_path):
    catalog = CatalogFactory()
    ids = [p.pk for p in ProductFactory.create_batch(6, catalog=catalog)]
    for product_id in ids:
        Description.objects.create(product_id=product_id)
    descriptions = Description.objects.filter(product__catalog=catalog)
    broker = f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}"  # private: the default queue is ours
    with FakeOpenAI(latency=1.5) as fake:
        env = worker_env(
            database=database_url(connection.settings_dict), broker=broker, llm_base_url=fake.base_url, **RECOVERY
        )
        first = Worker(env=env, queue="celery", concurrency=2, log_dir=tmp_path, name="first")
        second = None
        try:
            send_generation(broker=broker, queue="celery", product_ids=ids, chunk=3)
            assert wait_until(
                lambda: descriptions.filter(status="generating").exists(),
                timeout=60,
                poll=0.1,
                alive=first.assert_alive,
            )
            first.kill()
            killed_at = time.monotonic()
            held = set(descriptions.filter(status="generating").values_list("pk", flat=True))
            second = Worker(
                env=env,
                queue="celery",
                concurrency=2,
                log_dir=tmp_path,
                name="second",
                args=("--beat", "--schedule", str(tmp_path / "celerybeat-schedule")),
            )
            done = wait_until(
                lambda: not descriptions.exclude(status__in=("review", "published", "failed")).exists(),
                timeout=60,
                alive=second.assert_alive,
            )
            recovered = time.monotonic() - killed_at
        finally:
            log = (second.stop() if second else "") + first.stop()
    check = run_check(catalog_id=catalog.pk)
    assert done and check.ok, (check, log[-3000:])
    assert held  # the kill really hit work in progress
    assert check.statuses.get("failed", 0) == 0, check
    requeued = set(
        AuditEvent.objects.filter(action="generation_requeued", description__in=held).values_list(
            "description_id", flat=True
        )
    )
    assert requeued == held, (held, requeued, log[-3000:])  # back through the sweep, not a redelivery
    print(f"SQLite broker, SIGKILL with {len(held)} generating: {check.statuses} {recovered:.1f} s after the kill")

"""A real Celery worker process generates a catalog against the fake OpenAI server.

Runs against whatever the suite runs on: SQLite + the embedded SQLite broker by default,
Postgres + Redis in CI (.ci/run sets DATABASE_URL and CELERY_BROKER_URL).
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings
from django.db import connection

from reviewq.core.models import Description, DescriptionStatus, Sentence, Token
from tests.factories import CatalogFactory, ProductFactory
from tests.fakes.fake_openai import FakeOpenAI

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]
S = DescriptionStatus
ROOT = Path(__file__).resolve().parents[2]
TERMINAL = (S.REVIEW, S.PUBLISHED, S.FAILED, S.REJECTED)


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _broker_url(tmp_path) -> str:
    if settings.CELERY_BROKER_URL.startswith("memory://"):
        return f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}"
    return settings.CELERY_BROKER_URL


@pytest.fixture
def worker_env(tmp_path):
    with FakeOpenAI(latency=0.2, fault_rates={"rate_limit": 0.15, "server_error": 0.1}, retry_after=0.5) as fake:
        broker = _broker_url(tmp_path)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "reviewq.settings",
            "SECRET_KEY": "integration-test-secret",
            "DATABASE_URL": _database_url(),
            "CELERY_BROKER_URL": broker,
            "LLM_PROVIDER": "openai",
            "LLM_BASE_URL": fake.base_url,
            "LLM_API_KEY": "test",
            "LLM_MODEL": "fake-model",
            "LLM_TIMEOUT": "5",
            "LLM_MAX_IN_FLIGHT": "4",
            "GENERATION_MAX_ATTEMPTS": "10",
        }
        # A private queue so a leftover worker on this machine cannot take our messages.
        queue = f"it-{os.getpid()}-{time.monotonic_ns()}"
        yield fake, env, broker, queue


def _start_worker(env, queue) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "reviewq",
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            "8",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-Q",
            queue,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _stop(worker: subprocess.Popen) -> str:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
    return worker.stdout.read() if worker.stdout else ""


def test_real_worker_generates_every_product_exactly_once(worker_env):
    fake, env, broker, queue = worker_env
    catalog = CatalogFactory()
    products = ProductFactory.create_batch(12, catalog=catalog)
    for product in products:
        Description.objects.create(product=product)

    sender = Celery("reviewq-test", broker=broker)
    worker = _start_worker(env, queue)
    try:
        for product in products:
            sender.send_task("generation.generate_description", args=[product.pk], queue=queue)
        # a duplicate delivery of the same work must not generate twice
        sender.send_task("generation.generate_description", args=[products[0].pk], queue=queue)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if Description.objects.filter(product__catalog=catalog, status__in=TERMINAL).count() == len(products):
                break
            assert worker.poll() is None, _stop(worker)
            time.sleep(0.5)
    finally:
        log = _stop(worker)
    sender.close()

    descriptions = list(Description.objects.filter(product__catalog=catalog))
    assert len(descriptions) == len(products), log[-3000:]
    assert all(d.status in (S.REVIEW, S.PUBLISHED) for d in descriptions), (
        [(d.status, d.error) for d in descriptions],
        log[-4000:],
    )
    assert fake.max_in_flight <= 4  # the in-flight cap held across the worker's threads
    for description in descriptions:
        tokens = list(Token.objects.filter(description=description).order_by("position"))
        assert "".join(t.text for t in tokens) == description.text
        assert Sentence.objects.filter(description=description).count() >= 1
    faults = sum(fake.fault_counts.values())
    assert fake.requests_total == len(products) + faults  # one successful call per product

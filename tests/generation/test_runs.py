"""Generation runs: start (with the run's provider options), progress, cancel, retry, and two
runs on one catalog never duplicating work."""

from datetime import timedelta

import pytest
from django.utils import timezone

from generation.queueing import description_claim_for_generation
from generation.runs import (
    RunRefused,
    run_cancel,
    run_finish_if_done,
    run_progress,
    run_retry_failed,
    run_start,
)
from generation.tasks import generate_description_task
from reviewq.core.models import AuditEvent, Description, DescriptionStatus, GenerationRun
from tests.factories import CatalogFactory, ProductFactory, UserFactory

S = DescriptionStatus
R = GenerationRun.Status


@pytest.fixture
def openai_settings(openai_settings):
    openai_settings.LLM_MODEL_CHOICES = ["other-model"]
    return openai_settings


def _catalog(n=3):
    catalog = CatalogFactory()
    ProductFactory.create_batch(n, catalog=catalog)
    return catalog


@pytest.mark.django_db
def test_start_queues_every_product_for_the_run_and_enqueues_after_commit(django_capture_on_commit_callbacks):
    catalog = _catalog(3)
    editor = UserFactory()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = run_start(catalog=catalog, actor=editor, mode=GenerationRun.Mode.ALL)
    assert len(callbacks) == 1  # one task for the three (a chunk), sent only after commit
    assert run.status == R.RUNNING and run.queued == 3 and run.created_by == editor
    assert set(Description.objects.values_list("run_id", "status")) == {(run.pk, S.QUEUED)}
    assert AuditEvent.objects.filter(action="run_started", catalog=catalog).count() == 1


@pytest.mark.django_db
def test_two_runs_on_one_catalog_do_not_duplicate_work(django_capture_on_commit_callbacks):
    catalog = _catalog(4)
    with django_capture_on_commit_callbacks(execute=False) as first_tasks:
        first = run_start(catalog=catalog, actor=None, mode=GenerationRun.Mode.ALL)
    description = Description.objects.filter(run=first).first()
    description_claim_for_generation(product_id=description.product_id, lease_seconds=60)
    with django_capture_on_commit_callbacks(execute=False) as second_tasks:
        second = run_start(catalog=catalog, actor=None, mode=GenerationRun.Mode.ALL)
    assert len(first_tasks) == 1 and len(second_tasks) == 0  # the first: one chunk task of 4
    assert second.queued == 0 and second.status == R.FINISHED  # nothing left for it: done at once
    # QUEUED and GENERATING rows still belong to the first run
    assert Description.objects.filter(run=first).count() == 4
    assert Description.objects.filter(status=S.GENERATING).count() == 1


@pytest.mark.django_db
def test_only_missing_and_only_failed_modes_pick_their_products(django_capture_on_commit_callbacks):
    catalog = _catalog(3)
    done, failed, _missing = catalog.products.order_by("sku")
    Description.objects.create(product=done, status=S.REVIEW)
    Description.objects.create(product=failed, status=S.FAILED, error="boom")
    with django_capture_on_commit_callbacks(execute=False):
        only_failed = run_start(catalog=catalog, actor=None, mode=GenerationRun.Mode.FAILED)
    assert list(Description.objects.filter(run=only_failed).values_list("product_id", flat=True)) == [failed.pk]
    with django_capture_on_commit_callbacks(execute=False):
        only_missing = run_start(catalog=catalog, actor=None, mode=GenerationRun.Mode.MISSING)
    assert list(Description.objects.filter(run=only_missing).values_list("product_id", flat=True)) == [_missing.pk]
    assert Description.objects.get(product=done).status == S.REVIEW


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"prompt_template": "Describe {colour}"}, "unknown placeholder"),
        ({"candidates": 9}, "between 1 and 8"),
        ({"candidates": 0}, "between 1 and 8"),
        ({"provider": "anthropic"}, "not configured"),
        ({"model": "gpt-unknown"}, "not configured"),
        ({"mode": "everything"}, "Unknown mode"),
    ],
)
def test_bad_options_are_refused_and_nothing_is_written(options, message):
    catalog = _catalog(2)
    with pytest.raises(RunRefused, match=message):
        run_start(catalog=catalog, actor=None, **options)
    assert not GenerationRun.objects.exists()
    assert not Description.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_run_generates_with_its_own_model_and_candidates_and_finishes(openai_settings, fake_openai):
    openai_settings.LLM_PRICE_PER_1K_TOKENS = 0.5
    catalog = _catalog(2)
    run = run_start(
        catalog=catalog,
        actor=None,
        mode=GenerationRun.Mode.ALL,
        provider="openai",
        model="other-model",
        candidates=2,
        prompt_template="Sell {name} ({sku}) in {sentences} sentences using:\n{attributes}",
    )
    # memory broker: run the queued tasks here, as a worker would
    for product_id in Description.objects.filter(run=run).values_list("product_id", flat=True):
        assert generate_description_task.apply(args=[product_id]).get() in (S.REVIEW, S.PUBLISHED)
    bodies = list(fake_openai.requests)
    assert len(bodies) == 2
    assert {b["model"] for b in bodies} == {"other-model"} and {b["n"] for b in bodies} == {2}
    assert all(b["messages"][1]["content"].startswith("Sell ") for b in bodies)
    run.refresh_from_db()
    assert run.status == R.FINISHED and run.finished_at is not None
    progress = run_progress(run_id=run.pk)
    assert progress.percent == 100 and progress.done == progress.total == 2 and not progress.polling
    assert progress.tokens > 0
    assert progress.estimated_cost == pytest.approx(progress.tokens / 1000 * 0.5, abs=1e-4)
    assert progress.per_minute is not None and progress.per_minute > 0
    assert set(Description.objects.values_list("model", flat=True)) == {"other-model"}


@pytest.mark.django_db
def test_cancel_drops_queued_work_keeps_in_flight_and_a_late_task_finds_nothing():
    catalog = _catalog(3)
    editor = UserFactory()
    run = run_start(catalog=catalog, actor=editor, mode=GenerationRun.Mode.ALL)
    in_flight = Description.objects.filter(run=run).order_by("id").first()
    description_claim_for_generation(product_id=in_flight.product_id, lease_seconds=60)

    assert run_cancel(run=run, actor=editor) == 2

    run.refresh_from_db()
    assert run.status == R.CANCELLED and run.finished_at is not None
    dropped = Description.objects.filter(run=run, status=S.CANCELLED)
    assert dropped.count() == 2 and set(dropped.values_list("error_code", flat=True)) == {""}
    assert Description.objects.get(pk=in_flight.pk).status == S.GENERATING  # finishes cleanly
    events = AuditEvent.objects.filter(action="generation_cancelled")
    assert events.count() == 2 and {e.actor for e in events} == {editor}
    assert set(events.values_list("description_id", flat=True)) == set(dropped.values_list("id", flat=True))
    # a redelivered task for a dropped product claims nothing
    assert generate_description_task.apply(args=[dropped.first().product_id]).get() == "skipped"
    progress = run_progress(run_id=run.pk)
    assert progress.polling  # still one in flight
    assert progress.failures_total == 0 and progress.counts[S.CANCELLED] == 2
    with pytest.raises(RunRefused):
        run_cancel(run=run, actor=editor)


@pytest.mark.django_db
def test_retry_failed_queues_them_again_and_runs_the_run_again(django_capture_on_commit_callbacks):
    catalog = _catalog(3)
    run = run_start(catalog=catalog, actor=None, mode=GenerationRun.Mode.ALL)
    run_cancel(run=run, actor=None)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        queued = run_retry_failed(run=run, actor=None)
    assert len(queued) == 3 and len(callbacks) == 1  # one chunk task
    run.refresh_from_db()
    assert run.status == R.RUNNING and run.finished_at is None
    assert set(Description.objects.filter(run=run).values_list("status", flat=True)) == {S.QUEUED}
    assert AuditEvent.objects.filter(action="run_retried").count() == 1


@pytest.mark.django_db
def test_retry_without_failures_is_refused():
    catalog = _catalog(1)
    run = run_start(catalog=catalog, actor=None, mode=GenerationRun.Mode.ALL)
    with pytest.raises(RunRefused):
        run_retry_failed(run=run, actor=None)
    assert Description.objects.get().status == S.QUEUED


@pytest.mark.django_db
def test_run_finishes_only_when_nothing_is_queued_or_generating():
    catalog = _catalog(2)
    run = run_start(catalog=catalog, actor=None, mode=GenerationRun.Mode.ALL)
    first, second = Description.objects.filter(run=run).order_by("id")
    Description.objects.filter(pk=first.pk).update(status=S.REVIEW)
    assert run_finish_if_done(description_id=first.pk) is False
    Description.objects.filter(pk=second.pk).update(status=S.FAILED, error="x")
    assert run_finish_if_done(description_id=second.pk) is True
    assert run_finish_if_done(run_id=run.pk) is False  # already finished: a no-op
    run.refresh_from_db()
    assert run.status == R.FINISHED


@pytest.mark.django_db
def test_progress_counts_states_tokens_and_failures_from_the_database():
    catalog = _catalog(4)
    run = run_start(catalog=catalog, actor=None, mode=GenerationRun.Mode.ALL)
    rows = list(Description.objects.filter(run=run).order_by("id"))
    later = run.created_at + timedelta(seconds=30)
    Description.objects.filter(pk=rows[0].pk).update(
        status=S.PUBLISHED, published_at=timezone.now(), generated_at=later, prompt_tokens=100, completion_tokens=50
    )
    Description.objects.filter(pk=rows[1].pk).update(
        status=S.REVIEW, generated_at=later, prompt_tokens=100, completion_tokens=30
    )
    Description.objects.filter(pk=rows[2].pk).update(status=S.FAILED, error="HTTP 500", error_code="server_error")
    progress = run_progress(run_id=run.pk)
    assert progress.counts[S.PUBLISHED] == 1 and progress.counts[S.REVIEW] == 1
    assert progress.counts[S.FAILED] == 1 and progress.counts[S.QUEUED] == 1
    assert (progress.total, progress.done, progress.percent) == (4, 3, 75)
    assert progress.tokens == 280
    assert progress.estimated_cost == 0  # the embedded default costs nothing
    assert progress.per_minute == pytest.approx(2 / 30 * 60)
    assert [(f.error_code, f.error) for f in progress.failures] == [("server_error", "HTTP 500")]
    assert progress.polling

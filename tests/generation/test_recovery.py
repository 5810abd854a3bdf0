"""Re-sending generation whose task message was lost: which rows count as abandoned, what is
written, and that the task goes to the broker only after commit."""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from generation.queueing import description_claim_for_generation
from generation.recovery import descriptions_requeue_stale
from generation.tasks import recover_stale_task
from reviewq.celery import app as celery_app
from reviewq.core.models import AuditEvent, Description, DescriptionStatus
from tests.factories import DescriptionFactory

pytestmark = pytest.mark.django_db
S = DescriptionStatus
LEASE = 240
REQUEUE_AFTER = 900


@pytest.fixture(autouse=True)
def recovery_settings(settings):
    settings.GENERATION_LEASE_SECONDS = LEASE
    settings.GENERATION_REQUEUE_AFTER_SECONDS = REQUEUE_AFTER
    settings.REDIS_URL = ""
    return settings


@pytest.fixture
def broker_sent():
    """What really reached the broker's default queue (emptied first): [(task name, args)]."""
    with celery_app.connection_for_write() as connection:
        queue = connection.SimpleQueue(celery_app.conf.task_default_queue)
        queue.clear()

        def sent() -> list[tuple[str, list]]:
            messages = []
            while True:
                try:
                    message = queue.get(block=False)
                except queue.Empty:
                    return messages
                message.ack()
                messages.append((message.headers["task"], message.payload[0]))

        yield sent
        queue.clear()
        queue.close()


def _description(status=S.QUEUED, *, idle: float, lease_left: float | None = None, now=None, **fields):
    """A description last touched `idle` seconds before `now`, its lease `lease_left` seconds from it."""
    now = now or timezone.now()
    if status == S.FAILED:
        fields.setdefault("error", "boom")
    if status == S.PUBLISHED:
        fields.setdefault("published_at", now)
    description = DescriptionFactory(status=status, **fields)
    Description.objects.filter(pk=description.pk).update(
        updated_at=now - timedelta(seconds=idle),
        lease_until=None if lease_left is None else now + timedelta(seconds=lease_left),
    )
    description.refresh_from_db()
    return description


def _requeue(now, django_capture_on_commit_callbacks, broker_sent):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        product_ids = descriptions_requeue_stale(now=now)
        assert broker_sent() == []  # nothing is sent before the transaction commits
    return product_ids, callbacks


def test_a_queued_row_untouched_past_requeue_after_is_sent_again_after_commit(
    django_capture_on_commit_callbacks, broker_sent
):
    now = timezone.now()
    stale = _description(idle=REQUEUE_AFTER + 1, now=now)
    fresh = _description(idle=REQUEUE_AFTER - 60, now=now)  # e.g. waiting on a retry's countdown
    product_ids, callbacks = _requeue(now, django_capture_on_commit_callbacks, broker_sent)
    assert product_ids == [stale.product_id]
    assert len(callbacks) == 1
    assert broker_sent() == [("generation.generate_description", [stale.product_id])]
    stale_after, fresh_after = Description.objects.get(pk=stale.pk), Description.objects.get(pk=fresh.pk)
    # Only updated_at moves: status and version stay, so no one's conditional update breaks.
    assert (stale_after.status, stale_after.version, stale_after.updated_at) == (S.QUEUED, stale.version, now)
    assert fresh_after.updated_at == fresh.updated_at


def test_a_generating_row_past_its_lease_is_sent_again_a_live_lease_is_not(
    django_capture_on_commit_callbacks, broker_sent
):
    now = timezone.now()
    expired = _description(S.GENERATING, idle=LEASE + 5, lease_left=-5, now=now)
    live = _description(S.GENERATING, idle=LEASE - 30, lease_left=30, now=now)
    # Lease run out but re-sent a moment ago: its message gets a lease's time to be claimed.
    resent = _description(S.GENERATING, idle=10, lease_left=-5, now=now)
    product_ids, _ = _requeue(now, django_capture_on_commit_callbacks, broker_sent)
    assert product_ids == [expired.product_id]
    assert broker_sent() == [("generation.generate_description", [expired.product_id])]
    assert Description.objects.get(pk=expired.pk).status == S.GENERATING  # the claim takes it over
    assert Description.objects.get(pk=live.pk).updated_at == live.updated_at
    assert Description.objects.get(pk=resent.pk).updated_at == resent.updated_at


def test_finished_rows_are_never_touched(django_capture_on_commit_callbacks, broker_sent):
    now = timezone.now()
    old = 10 * REQUEUE_AFTER
    finished = [_description(status, idle=old, now=now) for status in (S.REVIEW, S.PUBLISHED, S.REJECTED, S.FAILED)]
    before = {d.pk: (d.status, d.version, d.updated_at) for d in finished}
    product_ids, callbacks = _requeue(now, django_capture_on_commit_callbacks, broker_sent)
    assert product_ids == [] and callbacks == [] and broker_sent() == []
    assert {d.pk: (d.status, d.version, d.updated_at) for d in Description.objects.all()} == before
    assert not AuditEvent.objects.exists()


def test_queued_rows_wait_while_workers_are_busy(django_capture_on_commit_callbacks, broker_sent):
    """While a description is generating under a live lease the queue is still being drained: a
    long backlog's queued rows are behind, not lost, and are not sent twice."""
    now = timezone.now()
    backlog = _description(idle=REQUEUE_AFTER + 1, now=now)
    _description(S.GENERATING, idle=5, lease_left=LEASE - 5, now=now)
    assert _requeue(now, django_capture_on_commit_callbacks, broker_sent)[0] == []
    Description.objects.filter(status=S.GENERATING).update(status=S.REVIEW, lease_until=None)
    assert _requeue(now, django_capture_on_commit_callbacks, broker_sent)[0] == [backlog.product_id]


def test_each_row_is_sent_once_and_audited(django_capture_on_commit_callbacks, broker_sent):
    now = timezone.now()
    queued = _description(idle=REQUEUE_AFTER + 1, now=now)
    generating = _description(S.GENERATING, idle=LEASE + 5, lease_left=-5, now=now)
    first, _ = _requeue(now, django_capture_on_commit_callbacks, broker_sent)
    assert first == sorted([queued.product_id, generating.product_id])
    [(name, [product_ids])] = broker_sent()  # one chunk task for both (GENERATION_CHUNK_SIZE)
    assert name == "generation.generate_descriptions" and sorted(product_ids) == first
    # A second sweep right after (or one racing the first) finds nothing: the UPDATE re-checks.
    for later in (now, now + timedelta(seconds=1)):
        assert _requeue(later, django_capture_on_commit_callbacks, broker_sent)[0] == []
    assert broker_sent() == []
    events = {e.description_id: e for e in AuditEvent.objects.filter(action="generation_requeued")}
    assert set(events) == {queued.pk, generating.pk}
    assert events[queued.pk].before == {"status": S.QUEUED, "lease_until": None}
    assert events[queued.pk].after == {"status": S.QUEUED}
    assert events[generating.pk].before == {"status": S.GENERATING, "lease_until": generating.lease_until.isoformat()}
    assert all(e.actor is None for e in events.values())


def test_a_row_a_worker_claims_between_select_and_update_is_not_sent(django_capture_on_commit_callbacks, broker_sent):
    now = timezone.now()
    claimed = _description(idle=REQUEUE_AFTER + 1, now=now)
    other = _description(idle=REQUEUE_AFTER + 1, now=now)
    raced = []

    def worker_claims_first(execute, sql, params, many, context):
        if sql.startswith("UPDATE") and not raced:  # the sweep's UPDATE, after its SELECT
            raced.append("claiming")
            raced.append(description_claim_for_generation(product_id=claimed.product_id, lease_seconds=LEASE))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(worker_claims_first):
        product_ids, _ = _requeue(now, django_capture_on_commit_callbacks, broker_sent)
    assert raced[1].pk == claimed.pk
    assert product_ids == [other.product_id]
    assert broker_sent() == [("generation.generate_description", [other.product_id])]
    assert list(AuditEvent.objects.filter(action="generation_requeued").values_list("description_id", flat=True)) == [
        other.pk
    ]


def test_the_task_re_sends_and_reports_the_count(django_capture_on_commit_callbacks, broker_sent):
    now = timezone.now()
    stale = _description(idle=REQUEUE_AFTER + 60, now=now)
    with django_capture_on_commit_callbacks(execute=True):
        assert recover_stale_task.apply().get() == 1
    assert broker_sent() == [("generation.generate_description", [stale.product_id])]
    with django_capture_on_commit_callbacks(execute=True):
        assert recover_stale_task.apply().get() == 0


def test_beat_runs_the_recovery_task_every_interval():
    entry = django_settings.CELERY_BEAT_SCHEDULE["generation-recover-stale"]
    assert entry["task"] == recover_stale_task.name == "generation.recover_stale"
    assert entry["task"] in celery_app.tasks
    assert entry["schedule"] == float(django_settings.GENERATION_RECOVERY_INTERVAL_SECONDS) > 0
    assert entry["options"]["expires"] <= entry["schedule"]  # piled-up ticks are dropped, not run
    # A countdown retry (backoff capped at 300 s) is not taken for a lost message.
    assert django_settings.GENERATION_REQUEUE_AFTER_SECONDS > 300

"""Re-send generation for descriptions whose task message was lost.

kombu's SQLite transport (the `make run` default) never redelivers the messages of a SIGKILLed
worker, and a Redis broker without persistence forgets its queue on restart: the rows stay
QUEUED, or GENERATING under a lease that ran out, with nothing left to pick them up. The claim
(`description_claim_for_generation`) makes a second message for a row a no-op, so re-sending
is safe; this finds the rows that look abandoned and sends their task again.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from generation.dispatch import descriptions_enqueue
from reviewq.core.audit import AuditAction, audit_rows
from reviewq.core.models import Description, DescriptionStatus

logger = logging.getLogger(__name__)
S = DescriptionStatus


def _stale(*, now: datetime) -> Q:
    """Rows presumed abandoned at `now`.

    GENERATING: the lease ran out and nothing touched the row for a lease (so a row re-sent
    once gets a lease's time for that message to be claimed before it is sent again).
    QUEUED: untouched for GENERATION_REQUEUE_AFTER_SECONDS, longer than a retry's countdown
    (generation/tasks.py caps backoff at 300 s), so a row waiting on its retry is left alone;
    and only while no description is generating under a live lease: while workers are busy the
    queue is still being drained, and a long backlog's rows are behind, not lost.
    """
    lease = timedelta(seconds=settings.GENERATION_LEASE_SECONDS)
    stale = Q(status=S.GENERATING, lease_until__lt=now, updated_at__lt=now - lease)
    workers_busy = Description.objects.filter(status=S.GENERATING, lease_until__gte=now).exists()
    if not workers_busy:
        requeue_after = timedelta(seconds=settings.GENERATION_REQUEUE_AFTER_SECONDS)
        stale |= Q(status=S.QUEUED, updated_at__lt=now - requeue_after)
    return stale


@transaction.atomic
def descriptions_requeue_stale(*, now: datetime | None = None) -> list[int]:
    """Send generation again for abandoned rows (see `_stale`); returns their product ids.

    Only `updated_at` is touched (status and version stay, so a reviewer's or worker's
    conditional update is unaffected) and one AuditEvent is written per row. The UPDATE repeats
    the conditions, so of two sweeps racing, only the one whose UPDATE matched re-sends a row
    (told apart by the `updated_at` it wrote); tasks are sent after commit.
    """
    now = now or timezone.now()
    stale = _stale(now=now)
    rows = list(Description.objects.filter(stale).values("id", "product_id", "status", "lease_until"))
    if not rows:
        return []
    ids = [row["id"] for row in rows]
    Description.objects.filter(stale, pk__in=ids).update(updated_at=now)
    # A row a worker claimed (or another sweep touched) between the two statements is not ours.
    mine = set(Description.objects.filter(pk__in=ids, updated_at=now).values_list("id", flat=True))
    rows = [row for row in rows if row["id"] in mine]
    audit_rows(
        action=AuditAction.GENERATION_REQUEUED,
        rows=[
            {
                "description_id": row["id"],
                "before": {"status": row["status"], "lease_until": _iso(row["lease_until"])},
                "after": {"status": row["status"]},
                "note": "No worker picked it up: its task message was presumably lost, so it was sent again.",
            }
            for row in rows
        ],
        created_at=now,
    )
    descriptions_enqueue(product_ids=[row["product_id"] for row in rows])
    if rows:
        queued = sum(1 for row in rows if row["status"] == S.QUEUED)
        logger.warning(
            "re-sent generation for %d stale descriptions (%d queued, %d generating past their lease)",
            len(rows),
            queued,
            len(rows) - queued,
        )
    return sorted(row["product_id"] for row in rows)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None

"""0004 moves work in progress out of the audit log without losing any of it."""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import connection
from django.utils import timezone

from reviewq.core.models import AuditEvent, SentenceRegeneration
from tests.factories import UserFactory
from tests.reviewq.review_data import make_review_description

pytestmark = pytest.mark.django_db
migration = importlib.import_module("reviewq.core.migrations.0004_work_in_progress_from_audit_rows")


class _SchemaEditor:
    connection = connection

    def execute(self, sql, params=()):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def _event(action, description, index, *, actor=None, before=None, after=None, note=""):
    return AuditEvent.objects.create(
        action=action,
        description=description,
        sentence_index=index,
        actor=actor,
        before=before or {},
        after=after or {},
        note=note,
    )


def test_regeneration_requests_become_rows_with_their_ids_and_state():
    description = make_review_description()
    reviewer = UserFactory()
    asked = {"text": " It holds 900 ml.", "version": 1}
    done = _event("sentence_regeneration_requested", description, 1, actor=reviewer, before=asked)
    _event("sentence_regeneration_started", description, 1, after={"request": done.pk})
    _event("sentence_regenerated", description, 1, before={"version": 2}, after={"request": done.pk, "version": 3})
    superseded = _event("sentence_regeneration_requested", description, 2, actor=reviewer, before=asked)
    failed = _event("sentence_regeneration_requested", description, 0, actor=reviewer, before=asked)
    _event("sentence_regeneration_failed", description, 0, after={"request": failed.pk}, note="model said no")
    running = _event("sentence_regeneration_requested", description, 2, actor=reviewer, before=asked)
    _event("sentence_regeneration_started", description, 2, after={"request": running.pk})
    waiting = _event("sentence_regeneration_requested", description, 1, actor=reviewer, before=asked)

    migration.regenerations_from_audit(apps, _SchemaEditor())

    rows = {row.pk: row for row in SentenceRegeneration.objects.all()}
    assert {pk: rows[pk].status for pk in rows} == {
        done.pk: "done",
        superseded.pk: "failed",
        failed.pk: "failed",
        running.pk: "running",
        waiting.pk: "requested",
    }
    assert rows[done.pk].result_version == 3 and rows[done.pk].attempts == 1
    assert rows[failed.pk].note == "model said no"
    assert rows[running.pk].lease_until > timezone.now() - timedelta(seconds=5)
    assert rows[waiting.pk].original_text == " It holds 900 ml." and rows[waiting.pk].requested_by == reviewer
    assert rows[waiting.pk].created_at == waiting.created_at
    # New requests continue after the converted ids.
    newer = SentenceRegeneration.objects.create(description=description, sentence_index=0, original_text="x")
    assert newer.pk > max(rows)


def test_substitutions_in_force_move_to_the_sentence():
    description = make_review_description()
    substituted, typed = description.sentences.get(index=1), description.sentences.get(index=2)
    token = substituted.tokens.order_by("position")[1]
    tokens = list(substituted.tokens.order_by("position").values_list("position", "text"))
    edited = "".join(" 750" if pos == token.position else text for pos, text in tokens)
    substituted.decision, substituted.edited_text, substituted.decided_at = "edited", edited, timezone.now()
    substituted.save()
    typed.decision, typed.edited_text, typed.decided_at = "edited", " Typed by hand.", timezone.now()
    typed.save()
    _event("sentence_substituted", description, 1, after={"substitutions": {str(token.position): " 750"}})
    _event("sentence_substituted", description, 2, after={"substitutions": {"0": "stale"}})
    _event("sentence_edited", description, 2, after={"text": " Typed by hand."})

    migration.substitutions_from_audit(apps, _SchemaEditor())

    substituted.refresh_from_db()
    typed.refresh_from_db()
    assert substituted.substitutions == {str(token.position): " 750"}
    assert typed.substitutions == {}

"""Move work in progress out of the audit log, losing nothing (the audit rows stay as they are).

- Every sentence regeneration request (an AuditEvent "sentence_regeneration_requested") becomes
  a SentenceRegeneration with the same id, so a task message already queued with that id finds
  it: done/failed from its finishing row, failed when a newer request for the sentence
  superseded it, running (under the lease its "started" row gave it) or requested otherwise.
- The token substitutions in force (the latest text row of an edited sentence, when it is a
  "sentence_substituted" whose substitutions still rebuild the edited text) go to
  Sentence.substitutions.
"""

from datetime import timedelta

from django.conf import settings
from django.db import migrations

REQUESTED = "sentence_regeneration_requested"
STARTED = "sentence_regeneration_started"
DONE = "sentence_regenerated"
FAILED = "sentence_regeneration_failed"
TEXT_ACTIONS = ("sentence_approved", "sentence_edited", "sentence_substituted", "sentence_removed", "sentence_reset")


def regenerations_from_audit(apps, schema_editor):
    AuditEvent = apps.get_model("reviewq", "AuditEvent")
    SentenceRegeneration = apps.get_model("reviewq", "SentenceRegeneration")
    lease = timedelta(seconds=getattr(settings, "GENERATION_LEASE_SECONDS", 240))
    events = AuditEvent.objects.filter(
        action__in=[REQUESTED, STARTED, DONE, FAILED], description__isnull=False, sentence_index__isnull=False
    ).order_by("id")
    requests, progress = {}, {}
    for event in events.iterator():
        if event.action == REQUESTED:
            requests[event.pk] = event
        else:
            progress.setdefault(event.after.get("request"), []).append(event)
    latest = {}  # (description, sentence) -> newest request id
    for pk, event in requests.items():
        latest[(event.description_id, event.sentence_index)] = pk
    rows = []
    for pk, request in requests.items():
        mine = progress.get(pk, [])
        finished = [e for e in mine if e.action in (DONE, FAILED)]
        started = [e for e in mine if e.action == STARTED]
        row = SentenceRegeneration(
            id=pk,
            description_id=request.description_id,
            sentence_index=request.sentence_index,
            requested_by_id=request.actor_id,
            original_text=str(request.before.get("text", "")),
            attempts=len(started),
        )
        if finished:
            end = finished[-1]
            row.finished_at = end.created_at
            if end.action == DONE:
                row.status, row.result_version = "done", end.after.get("version") or request.after.get("version") or 1
            else:
                row.status, row.note = "failed", end.note or "Regeneration failed."
        elif latest[(request.description_id, request.sentence_index)] != pk:
            row.status, row.note, row.finished_at = "failed", "A newer request replaced it.", request.created_at
        elif started:
            row.status, row.lease_until = "running", started[-1].created_at + lease
        rows.append(row)
    SentenceRegeneration.objects.bulk_create(rows, batch_size=500)
    for row in rows:  # created_at is auto_now_add: keep the request's own time
        SentenceRegeneration.objects.filter(pk=row.pk).update(created_at=requests[row.pk].created_at)
    if rows and schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "SELECT setval(pg_get_serial_sequence('reviewq_sentenceregeneration', 'id'), "
            "(SELECT max(id) FROM reviewq_sentenceregeneration))"
        )


def substitutions_from_audit(apps, schema_editor):
    AuditEvent = apps.get_model("reviewq", "AuditEvent")
    Sentence = apps.get_model("reviewq", "Sentence")
    Token = apps.get_model("reviewq", "Token")
    for sentence in Sentence.objects.filter(decision="edited").iterator():
        last = (
            AuditEvent.objects.filter(
                description_id=sentence.description_id, sentence_index=sentence.index, action__in=TEXT_ACTIONS
            )
            .order_by("-created_at", "-id")
            .first()
        )
        if last is None or last.action != "sentence_substituted":
            continue
        substitutions = {str(int(k)): v for k, v in (last.after.get("substitutions") or {}).items()}
        tokens = Token.objects.filter(sentence_id=sentence.pk).order_by("position").values_list("position", "text")
        if "".join(substitutions.get(str(pos), text) for pos, text in tokens) == sentence.edited_text:
            Sentence.objects.filter(pk=sentence.pk).update(substitutions=substitutions)


class Migration(migrations.Migration):
    dependencies = [
        ("reviewq", "0003_sentence_regeneration_and_substitutions"),
    ]

    operations = [
        migrations.RunPython(regenerations_from_audit, migrations.RunPython.noop),
        migrations.RunPython(substitutions_from_audit, migrations.RunPython.noop),
    ]

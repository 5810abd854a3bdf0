"""The audit log: one registry of actions and labels; rows are only inserted (PostgreSQL refuses
UPDATE and DELETE, except the SET NULL of a deleted row's reference)."""

import pytest
from django.db import DatabaseError, connection, transaction

from reviewq.core.audit import AuditAction, UnknownAuditAction, audit_action_label, audit_record, audit_rows
from reviewq.core.models import AuditEvent, Description
from reviewq.review.history import description_history
from tests.factories import CatalogFactory, DescriptionFactory, UserFactory

pytestmark = pytest.mark.django_db
on_postgres = pytest.mark.skipif(connection.vendor != "postgresql", reason="the guard is a PostgreSQL trigger")


def test_every_action_has_its_own_label():
    labels = [action.label for action in AuditAction]
    assert len(set(labels)) == len(labels)
    assert all(label and label != action.value for action, label in zip(AuditAction, labels, strict=True))


def test_an_action_outside_the_registry_is_refused_and_nothing_is_written():
    description = DescriptionFactory()
    with pytest.raises(UnknownAuditAction):
        audit_record(action="sentence_approvd", description=description)
    with pytest.raises(UnknownAuditAction):
        audit_rows(action="made_up", rows=[{"description_id": description.pk}])
    assert not AuditEvent.objects.exists()


def test_history_labels_come_from_the_registry_and_old_names_stay_readable():
    description = DescriptionFactory()
    audit_record(action=AuditAction.SENTENCE_SUBSTITUTED, description=description, actor=UserFactory())
    AuditEvent.objects.create(action="renamed_long_ago", description=description)
    labels = [entry.label for entry in description_history(description=description)]
    assert labels == ["Renamed long ago", "Word substituted"]
    assert audit_action_label(AuditAction.REGATED) == "Re-gated after a threshold change"


@on_postgres
def test_postgres_refuses_to_update_or_delete_an_audit_row():
    event = audit_record(action=AuditAction.GENERATED, description=DescriptionFactory(), note="as written")
    for change in (
        lambda: AuditEvent.objects.filter(pk=event.pk).update(note="rewritten"),
        lambda: AuditEvent.objects.filter(pk=event.pk).update(description=DescriptionFactory()),
        lambda: AuditEvent.objects.filter(pk=event.pk).update(description=None, note="sneaked in"),
        lambda: AuditEvent.objects.filter(pk=event.pk).delete(),
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            change()
    event.refresh_from_db()
    assert (event.note, event.description_id is not None) == ("as written", True)


@on_postgres
def test_postgres_still_lets_deleting_a_description_catalog_or_user_unlink_their_audit_rows():
    actor, catalog = UserFactory(), CatalogFactory()
    description = DescriptionFactory()
    event = audit_record(action=AuditAction.GENERATED, description=description, actor=actor, note="kept")
    catalog_event = audit_record(action=AuditAction.CATALOG_IMPORTED, catalog=catalog)
    Description.objects.filter(pk=description.pk).delete()
    catalog.delete()
    actor.delete()
    event.refresh_from_db()
    catalog_event.refresh_from_db()
    assert (event.description_id, event.actor_id, event.note, event.action) == (None, None, "kept", "generated")
    assert catalog_event.catalog_id is None

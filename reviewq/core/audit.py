"""The audit log: who changed what, when. Rows are only ever inserted."""

from django.contrib.auth.models import AbstractBaseUser

from reviewq.core.models import AuditEvent, Description


def audit_actor(actor: AbstractBaseUser | None) -> AbstractBaseUser | None:
    """The user to record on a row: None for the system (workers, gate) and anonymous users."""
    return actor if actor is not None and actor.is_authenticated else None


def audit_record(
    *,
    action: str,
    actor: AbstractBaseUser | None = None,
    description: Description | None = None,
    sentence_index: int | None = None,
    catalog=None,
    before: dict | None = None,
    after: dict | None = None,
    note: str = "",
) -> AuditEvent:
    return AuditEvent.objects.create(
        action=action,
        actor=audit_actor(actor),
        description=description,
        sentence_index=sentence_index,
        catalog=catalog,
        before=before or {},
        after=after or {},
        note=note,
    )

"""The audit log: who changed what, when. Rows are only ever inserted (a trigger refuses UPDATE
and DELETE on PostgreSQL) and never read back as working state; History reads them.

AuditAction is the one registry of action names and their labels: every row the application
writes names one of them (audit_record and audit_rows refuse anything else).
"""

from collections.abc import Iterable
from datetime import datetime
from typing import cast

from django.contrib.auth.models import AbstractBaseUser, User
from django.db import models
from django.utils import timezone

from reviewq.core.bulk import rows_insert
from reviewq.core.models import AuditEvent, Catalog, Description


class AuditAction(models.TextChoices):
    # Generation
    GENERATION_QUEUED = "generation_queued", "Queued for generation"
    GENERATION_CLAIMED = "generation_claimed", "Generation started"
    GENERATION_RETRY = "generation_retry", "Generation will retry"
    GENERATION_FAILED = "generation_failed", "Generation failed"
    GENERATION_CANCELLED = "generation_cancelled", "Generation cancelled with its run"
    GENERATION_REQUEUED = "generation_requeued", "Generation sent again"
    GENERATED = "generated", "Generated"
    REGATED = "regated", "Re-gated after a threshold change"
    # Review
    REVIEW_ASSIGNED = "review_assigned", "Assigned for review"
    REVIEW_UNASSIGNED = "review_unassigned", "Assignment removed"
    REVIEW_CLAIMED = "review_claimed", "Opened for review"
    REVIEW_RELEASED = "review_released", "Review claim released"
    REVIEW_CLAIM_TAKEN_OVER = "review_claim_taken_over", "Review claim taken over"
    REVIEW_APPROVED = "review_approved", "Approved and published"
    REVIEW_REJECTED = "review_rejected", "Rejected"
    SENTENCE_APPROVED = "sentence_approved", "Sentence approved"
    SENTENCE_EDITED = "sentence_edited", "Sentence edited"
    SENTENCE_SUBSTITUTED = "sentence_substituted", "Word substituted"
    SENTENCE_REMOVED = "sentence_removed", "Sentence removed"
    SENTENCE_RESET = "sentence_reset", "Sentence decision undone"
    SENTENCE_CATEGORISED = "sentence_categorised", "Error category set"
    COMMENT_ADDED = "comment_added", "Comment"
    SENTENCE_REGENERATION_REQUESTED = "sentence_regeneration_requested", "Sentence regeneration requested"
    SENTENCE_REGENERATION_STARTED = "sentence_regeneration_started", "Sentence regeneration started"
    SENTENCE_REGENERATED = "sentence_regenerated", "Sentence regenerated"
    SENTENCE_REGENERATION_FAILED = "sentence_regeneration_failed", "Sentence regeneration failed"
    # Revisions
    REVISION_SUPERSEDED = "revision_superseded", "Replaced by a newer published revision"
    REVISION_REVERTED = "revision_reverted", "Reverted to an earlier revision"
    REVISION_PUBLISHED = "revision_published", "Revision published"
    DRAFT_DISCARDED = "draft_discarded", "Draft discarded"
    UNPUBLISHED = "unpublished", "Unpublished"
    # Second review (QA samples) and agreement
    QA_SAMPLED = "qa_sampled", "Drawn for a second (QA) review"
    QA_SAMPLE_TAKEN = "qa_sample_taken", "QA review taken"
    QA_REVIEWED = "qa_reviewed", "QA review done"
    QA_SENT_BACK = "qa_sent_back", "Sent back to review by a QA review"
    QA_RATES_CHANGED = "qa_rates_changed", "QA sampling rates changed"
    QA_DISAGREEMENT_RESOLVED = "qa_disagreement_resolved", "Disagreement resolved"
    # Catalogs, runs, settings, access
    CATALOG_IMPORTED = "catalog_import", "Catalog imported"
    CATALOG_GUIDELINES_CHANGED = "catalog_guidelines_changed", "Reviewer guidelines changed"
    CATALOG_IMPORT_CANCELLED = "catalog_import_cancelled", "Catalog import cancelled"
    RUN_STARTED = "run_started", "Generation run started"
    RUN_CANCELLED = "run_cancelled", "Generation run cancelled"
    RUN_RETRIED = "run_retried", "Generation run retried"
    THRESHOLDS_CHANGED = "thresholds_changed", "Thresholds changed"
    GATE_MODEL_FITTED = "gate_model_fitted", "Gate model fitted"
    GATE_MODEL_ADOPTED = "gate_model_adopted", "Gate model adopted"
    GATE_MODEL_REVERTED = "gate_model_reverted", "Gate model reverted"
    DESCRIPTION_DELETED = "description_deleted", "Description deleted"
    API_TOKEN_CREATED = "api_token_created", "API token created"
    API_TOKEN_REVOKED = "api_token_revoked", "API token revoked"
    # People (admins manage users within the three roles)
    USER_INVITED = "user_invited", "User invited"
    USER_ROLE_CHANGED = "user_role_changed", "User role changed"
    USER_DEACTIVATED = "user_deactivated", "User deactivated"
    USER_REACTIVATED = "user_reactivated", "User reactivated"


class UnknownAuditAction(ValueError):
    """An audit row names an action that is not in AuditAction."""


# AuditAction.values builds a fresh list through the enum machinery on every read.
_ACTION_VALUES = frozenset(AuditAction.values)


def audit_action_checked(action: str) -> str:
    if action not in _ACTION_VALUES:
        raise UnknownAuditAction(f"{action!r} is not an action in reviewq.core.audit.AuditAction")
    return action


def audit_action_label(action: str) -> str:
    """The human label of an action; rows written before an action was renamed keep a readable one."""
    if action in AuditAction.values:
        return AuditAction(action).label
    return action.replace("_", " ").capitalize()


def audit_actor(actor: AbstractBaseUser | None) -> User | None:
    """The user to record on a row: None for the system (workers, gate) and anonymous users."""
    if actor is None or not actor.is_authenticated:
        return None
    # Services take actors as AbstractBaseUser (request.user's type); an authenticated one is
    # a row of AUTH_USER_MODEL (auth.User), the type the actor foreign keys expect.
    return cast(User, actor)


def audit_record(
    *,
    action: str,
    actor: AbstractBaseUser | None = None,
    description: Description | None = None,
    sentence_index: int | None = None,
    catalog: Catalog | None = None,
    catalog_id: int | None = None,
    before: dict | None = None,
    after: dict | None = None,
    note: str = "",
) -> AuditEvent:
    return AuditEvent.objects.create(
        action=audit_action_checked(action),
        actor=audit_actor(actor),
        description=description,
        sentence_index=sentence_index,
        catalog_id=catalog.pk if catalog is not None else catalog_id,
        before=before or {},
        after=after or {},
        note=note,
    )


AUDIT_COLUMNS = ("action", "actor_id", "description_id", "catalog_id", "before", "after", "note", "created_at")


def audit_rows(
    *,
    action: str,
    actor: AbstractBaseUser | None = None,
    rows: Iterable[dict],
    created_at: datetime | None = None,
) -> int:
    """Insert one audit row per dict (description_id, catalog_id, before, after, note; all
    optional) in one go (COPY on PostgreSQL). Returns how many."""
    values = audit_values(action=action, actor=actor, rows=rows, created_at=created_at)
    rows_insert(AuditEvent, AUDIT_COLUMNS, values)
    return len(values)


def audit_values(
    *,
    action: str,
    actor: AbstractBaseUser | None = None,
    rows: Iterable[dict],
    created_at: datetime | None = None,
) -> list[tuple]:
    """audit_rows's rows as AUDIT_COLUMNS tuples, for a caller that inserts them in a statement
    of its own (reviewq.core.bulk.InsertForUpdated)."""
    action = audit_action_checked(action)
    actor_id = getattr(audit_actor(actor), "pk", None)
    created_at = created_at or timezone.now()
    return [
        (
            action,
            actor_id,
            row.get("description_id"),
            row.get("catalog_id"),
            row.get("before") or {},
            row.get("after") or {},
            row.get("note", ""),
            created_at,
        )
        for row in rows
    ]

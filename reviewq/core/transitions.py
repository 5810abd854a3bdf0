"""The one door for Description.status: every change is checked against TRANSITIONS, bumps the
version, keeps published_at and the lease right, and writes its audit row in the same transaction.
Every publish is also a QA draw (reviewq/core/qa.py), so no publishing path escapes sampling.

Nothing else writes Description.status, nor creates a Description (tests/reviewq/core/
test_status_writers.py scans the code for other writers):
- description_transition: one row, conditional on the status (and version) the caller saw;
- descriptions_transition: many rows, each with its own values and version (storing results,
  bulk approval);
- descriptions_transition_where: set-based, every row of a queryset in an allowed source status
  that meets a condition (requeue, claim, cancel, re-gate);
- descriptions_create_queued: new rows, "created" -> queued.
"""

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F, Model, Q, QuerySet
from django.utils import timezone

from reviewq.core.audit import AUDIT_COLUMNS, AuditAction, audit_action_checked, audit_rows, audit_values
from reviewq.core.bulk import InsertForUpdated, rows_update
from reviewq.core.models import DRAFT_STATUSES, AuditEvent, Description, DescriptionStatus, GenerationRun
from reviewq.core.qa import qa_samples_draw

S = DescriptionStatus

# The pseudo-status of a row that does not exist yet: creation is a transition too.
CREATED = "created"

# from-status -> statuses it may move to. Anything else is refused.
# A live revision (PUBLISHED) is never regenerated or re-reviewed in place: generation writes a
# draft beside it, and it leaves only by being superseded (a draft is published) or unpublished.
TRANSITIONS: dict[str, frozenset[str]] = {
    # New rows: generation queues one; a revert copies an earlier revision into a draft in review.
    CREATED: frozenset({S.QUEUED, S.REVIEW}),
    # A cancelled run returns a queued draft to what it was (REVIEW, REJECTED, FAILED) or CANCELLED.
    S.QUEUED: frozenset({S.GENERATING, S.FAILED, S.CANCELLED, S.REVIEW, S.REJECTED}),
    # GENERATING -> GENERATING: a worker reclaims a row whose lease ran out (its worker died).
    S.GENERATING: frozenset({S.GENERATING, S.QUEUED, S.REVIEW, S.PUBLISHED, S.FAILED}),
    # -> ARCHIVED: a draft is discarded (kept as an earlier revision, never deleted).
    S.REVIEW: frozenset({S.PUBLISHED, S.REJECTED, S.QUEUED, S.ARCHIVED}),
    S.PUBLISHED: frozenset({S.ARCHIVED}),  # superseded by a published draft, or unpublished
    S.REJECTED: frozenset({S.QUEUED, S.ARCHIVED}),
    S.FAILED: frozenset({S.QUEUED, S.ARCHIVED}),
    S.CANCELLED: frozenset({S.QUEUED, S.ARCHIVED}),
    S.ARCHIVED: frozenset(),  # an earlier revision is kept as it was; revert copies it
}


class InvalidTransition(Exception):
    """The description's status does not allow the requested change."""


class ConflictError(Exception):
    """The row changed since the caller read it (stale version or status)."""

    def __init__(self, message: str, *, current: Description | None = None):
        super().__init__(message)
        self.current = current


def transition_allowed(from_status: str, to_status: str) -> bool:
    return to_status in TRANSITIONS.get(from_status, frozenset())


@transaction.atomic
def description_transition(
    *,
    description: Description,
    to_status: str,
    action: str,
    actor: AbstractBaseUser | None = None,
    expected_version: int | None = None,
    note: str = "",
    fields: dict | None = None,
) -> Description:
    """Move `description` to `to_status` with a conditional UPDATE.

    The UPDATE matches the status (and version, when given) the caller saw, so a concurrent
    change makes it match nothing and raises ConflictError instead of overwriting.
    """
    from_status = description.status
    _transition_check(from_status, to_status)
    audit_action_checked(action)
    now = timezone.now()
    fields = _transition_fields(to_status, fields, now)
    match = Q(pk=description.pk, status=from_status)
    if expected_version is not None:
        match &= Q(version=expected_version)
    # Lock the row first: the live copy is archived only for a publish that will happen.
    if to_status == S.PUBLISHED and Description.objects.select_for_update().filter(match).exists():
        live_supersede(product_ids=[description.product_id], by={description.product_id: description.pk}, actor=actor)
    updated = Description.objects.filter(match).update(
        status=to_status, version=F("version") + 1, updated_at=now, **fields
    )
    if not updated:
        current = Description.objects.filter(pk=description.pk).first()
        raise ConflictError(
            "This description was changed by someone else; reload to see the newer version.",
            current=current,
        )
    audit_rows(action=action, actor=actor, rows=[_transition_event(description, to_status, note=note, fields=fields)])
    if to_status == S.PUBLISHED:
        qa_samples_draw(description_ids=[description.pk], action=action, actor=actor)
    if (
        expected_version is not None
        and expected_version == description.version
        and not any(hasattr(value, "resolve_expression") for value in fields.values())
    ):
        # The caller's copy was the row at the version the UPDATE matched: apply the same
        # changes to it instead of reading the row back.
        _transition_apply(description, to_status, fields, now)
    else:
        description.refresh_from_db()
    return description


@dataclass(frozen=True)
class TransitionRequest:
    description: Description  # the caller's copy, at `expected_version`
    to_status: str
    action: str
    expected_version: int
    note: str = ""
    fields: dict = field(default_factory=dict)


def descriptions_transition(
    requests: list[TransitionRequest],
    *,
    actor: AbstractBaseUser | None = None,
    condition: Q | None = None,
    then_insert: Sequence[InsertForUpdated] = (),
) -> list[Description | ConflictError]:
    """Many description_transition calls in one go, for storing many results at once: one
    conditional UPDATE for all the rows (reviewq.core.bulk.rows_update) and the INSERT of the
    moved rows' audit rows, one statement on PostgreSQL. A request whose row changed since its
    copy was read, or that fails `condition` (one Q for every row, checked in the same UPDATE),
    gets a ConflictError in its place in the result (and nothing written); the others go ahead.
    `then_insert`: rows of other tables keyed by description (a stored result's sentences and
    tokens), inserted in the same statement for the descriptions moved only.
    Field values must be plain values, not expressions; an illegal move raises before anything
    is written."""
    now = timezone.now()
    planned = []
    for request in requests:
        _transition_check(request.description.status, request.to_status)
        audit_action_checked(request.action)
        fields = _transition_fields(request.to_status, request.fields, now)
        if any(hasattr(value, "resolve_expression") for value in fields.values()):
            raise ValueError("descriptions_transition takes plain field values, not expressions")
        planned.append((request, fields))
    # A move to PUBLISHED locks rows, archives live copies and draws QA samples: one transaction.
    # Anything else is rows_update alone, atomic by itself (one statement on PostgreSQL), so it
    # opens none: a stored result for review costs no BEGIN and COMMIT round trips of its own.
    # No savepoint inside a caller's transaction (two round trips per call): the requests were
    # checked before, and a database error leaves the caller's transaction to roll back anyway.
    publishing = any(request.to_status == S.PUBLISHED for request, _ in planned)
    with transaction.atomic(savepoint=False) if publishing else contextlib.nullcontext():
        return _descriptions_write(planned, now=now, actor=actor, condition=condition, then_insert=then_insert)


def _descriptions_write(
    planned: list[tuple[TransitionRequest, dict]],
    *,
    now: datetime,
    actor: AbstractBaseUser | None,
    condition: Q | None,
    then_insert: Sequence[InsertForUpdated] = (),
) -> list[Description | ConflictError]:
    columns = sorted({name for _, fields in planned for name in fields} - {"status", "version", "updated_at"})
    candidates = [
        (request, fields) for request, fields in planned if request.expected_version == request.description.version
    ]
    publishing = [r.description for r, _ in candidates if r.to_status == S.PUBLISHED]
    if publishing:
        # Lock the rows that will be published, then archive their products' live copies.
        locked = set(
            Description.objects.select_for_update()
            .filter(condition or Q(), pk__in=[d.pk for d in publishing], status__in=[d.status for d in publishing])
            .values_list("pk", "version")
        )
        by = {d.product_id: d.pk for d in publishing if (d.pk, d.version) in locked}
        live_supersede(product_ids=list(by), by=by, actor=actor)
    # Each row's audit row goes in with the UPDATE (one statement): only the rows it moved get one.
    events = {
        request.description.pk: (
            request.action,
            _transition_event(request.description, request.to_status, note=request.note, fields=fields),
        )
        for request, fields in candidates
    }
    actions = sorted({action for action, _ in events.values()})
    audit = [
        row
        for action in actions
        for row in audit_values(
            action=action, actor=actor, rows=[event for a, event in events.values() if a == action], created_at=now
        )
    ]
    updated = set(
        rows_update(
            Description,
            match=("status", "version"),
            assign=("status", "version", "updated_at", *columns),
            rows=[
                (
                    request.description.pk,
                    request.description.status,
                    request.expected_version,
                    request.to_status,
                    request.expected_version + 1,
                    now,
                    *(
                        _plain(fields[name] if name in fields else getattr(request.description, name))
                        for name in columns
                    ),
                )
                for request, fields in candidates
            ],
            where=condition,
            then_insert=[InsertForUpdated(AuditEvent, AUDIT_COLUMNS, audit, key="description_id"), *then_insert],
        )
    )
    results: list[Description | ConflictError] = []
    for request, fields in planned:
        description = request.description
        if description.pk not in updated:  # changed meanwhile, or the caller's copy was not at expected_version
            results.append(
                ConflictError("This description was changed by someone else; reload to see the newer version.")
            )
            continue
        _transition_apply(description, request.to_status, fields, now)
        results.append(description)
    for action in actions:
        published = [
            pk
            for pk, (a, event) in events.items()
            if a == action and pk in updated and event["after"]["status"] == S.PUBLISHED
        ]
        qa_samples_draw(description_ids=published, action=action, actor=actor)
    return results


# Ids per set-based UPDATE: well under SQLite's and PostgreSQL's parameter limits.
IDS_PER_UPDATE = 5000


@transaction.atomic
def descriptions_transition_where(
    *,
    descriptions: QuerySet[Description],
    from_statuses: Iterable[str],
    to_status: str,
    action: str,
    actor: AbstractBaseUser | None = None,
    condition: Q | None = None,
    fields: dict | None = None,
    note: str = "",
) -> list[int]:
    """Move, set-based, every row of `descriptions` whose status is one of `from_statuses` and
    that meets `condition` to `to_status`; returns the ids moved, ascending.

    One conditional UPDATE per source status (and IDS_PER_UPDATE rows) repeats the status and
    the condition in its WHERE, so a row that changed since it was selected is left alone (a
    claim, a version check or a race with a worker stays a conditional UPDATE). `fields` may
    hold expressions (F("attempts") + 1); the audit row records the value they produced. One
    audit INSERT for all the rows moved.
    """
    sources = sorted(set(from_statuses))
    for source in sources:
        _transition_check(source, to_status)
    audit_action_checked(action)
    now = timezone.now()
    fields = _transition_fields(to_status, fields, now)
    computed = [name for name, value in fields.items() if hasattr(value, "resolve_expression")]
    plain = {name: value for name, value in fields.items() if name not in computed}
    condition = condition if condition is not None else Q()
    candidates = list(
        descriptions.filter(condition, status__in=sources).order_by("pk").values_list("pk", "status").distinct()
    )
    events = []
    for start in range(0, len(candidates), IDS_PER_UPDATE):
        chunk = dict(candidates[start : start + IDS_PER_UPDATE])
        if to_status == S.PUBLISHED:
            # Lock the rows about to go live, then archive their products' live copies first
            # (one live revision per product is a unique index).
            publishing = dict(
                Description.objects.select_for_update()
                .filter(pk__in=list(chunk), status__in=sources)
                .values_list("product_id", "pk")
            )
            live_supersede(product_ids=list(publishing), by=publishing, actor=actor)
        for source in sources:
            ids = [pk for pk, status in chunk.items() if status == source]
            if ids:
                Description.objects.filter(condition, pk__in=ids, status=source).update(
                    status=to_status, version=F("version") + 1, updated_at=now, **fields
                )
        # What this call's UPDATEs wrote (its `now` is the mark); the rows stay locked until commit.
        for row in Description.objects.filter(pk__in=list(chunk), status=to_status, updated_at=now).values(
            "pk", "version", *computed
        ):
            events.append(
                {
                    "description_id": row["pk"],
                    "before": {"status": chunk[row["pk"]], "version": row["version"] - 1},
                    "after": {"status": to_status, **_jsonable(plain), **{name: row[name] for name in computed}},
                    "note": note,
                }
            )
    audit_rows(action=action, actor=actor, rows=events, created_at=now)
    moved = sorted(event["description_id"] for event in events)
    if to_status == S.PUBLISHED:
        qa_samples_draw(description_ids=moved, action=action, actor=actor)
    return moved


@transaction.atomic
def descriptions_create_queued(
    *, product_ids: Iterable[int], run: GenerationRun | None = None, actor: AbstractBaseUser | None = None
) -> list[int]:
    """Create a QUEUED description for each product that has none ("created" -> queued), set-based,
    and audit each; a product that got one meanwhile is left alone. Returns the product ids
    queued, ascending."""
    _transition_check(CREATED, S.QUEUED)
    product_ids = sorted(set(product_ids))
    Description.objects.bulk_create(
        [Description(product_id=pid, status=S.QUEUED, run=run) for pid in product_ids], ignore_conflicts=True
    )
    # ignore_conflicts returns no ids: the new rows are the queued, never-changed ones.
    rows = list(
        Description.objects.filter(product_id__in=product_ids, status=S.QUEUED, version=1)
        .order_by("product_id")
        .values_list("pk", "product_id")
    )
    audit_rows(
        action=AuditAction.GENERATION_QUEUED,
        actor=actor,
        rows=[
            {"description_id": pk, "before": {"status": ""}, "after": {"status": S.QUEUED, "version": 1}}
            for pk, _ in rows
        ],
    )
    return [product_id for _, product_id in rows]


def _plain(value: Any) -> Any:
    """A field value as rows_update takes it: model instances by primary key."""
    return value.pk if isinstance(value, Model) else value


@transaction.atomic
def descriptions_delete(*, descriptions: QuerySet[Description], actor: AbstractBaseUser | None = None) -> int:
    """Delete descriptions (their sentences and tokens go with them). Their audit rows stay,
    unlinked, and one more per description records who deleted what. Returns how many."""
    rows = list(
        descriptions.order_by("pk").values(
            "pk",
            "status",
            "version",
            "product__sku",
            "product__name",
            "product__catalog_id",
            "product__catalog__name",
        )
    )
    audit_rows(
        action=AuditAction.DESCRIPTION_DELETED,
        actor=actor,
        rows=[
            {
                "catalog_id": row["product__catalog_id"],
                "before": {
                    "description": row["pk"],
                    "status": row["status"],
                    "version": row["version"],
                    "sku": row["product__sku"],
                    "product": row["product__name"],
                    "catalog": row["product__catalog__name"],
                },
                "note": f"{row['product__sku']}: description deleted",
            }
            for row in rows
        ],
    )
    Description.objects.filter(pk__in=[row["pk"] for row in rows]).delete()
    return len(rows)


def _transition_check(from_status: str, to_status: str) -> None:
    if not transition_allowed(from_status, to_status):
        raise InvalidTransition(f"A {from_status} description cannot become {to_status}.")


def _transition_fields(to_status: str, fields: dict | None, now: datetime) -> dict:
    """The caller's fields plus what every move to `to_status` sets."""
    fields = dict(fields or {})
    if to_status == S.PUBLISHED:
        fields.setdefault("published_at", now)
    if to_status in (S.QUEUED, S.REVIEW, S.REJECTED):
        fields.setdefault("published_at", None)
    if to_status != S.GENERATING:
        fields.setdefault("lease_until", None)
    return fields


def _transition_event(description: Description, to_status: str, *, note: str, fields: dict) -> dict:
    """The audit row of a transition (as audit_rows takes it), built before the caller's copy
    is updated."""
    return {
        "description_id": description.pk,
        "before": {"status": description.status, "version": description.version},
        "after": {"status": to_status, **_jsonable(fields)},
        "note": note,
    }


def _transition_apply(description: Description, to_status: str, fields: dict, now: datetime) -> None:
    for name, value in fields.items():
        setattr(description, name, value)
    description.status, description.version, description.updated_at = to_status, description.version + 1, now


def _jsonable(fields: dict) -> dict:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else _plain(v)) for k, v in fields.items()}


def live_supersede(*, product_ids: list[int], by: dict[int, int], actor: AbstractBaseUser | None) -> list[int]:
    """Archive the live revision of each product about to get a new one (`by`: product id -> the
    description being published): the one place a published description stops being live
    because another is published. Called inside the publishing transaction."""
    return descriptions_transition_where(
        descriptions=Description.objects.filter(product_id__in=product_ids).exclude(pk__in=list(by.values())),
        from_statuses=[S.PUBLISHED],
        to_status=S.ARCHIVED,
        action=AuditAction.REVISION_SUPERSEDED,
        actor=actor,
    )


@transaction.atomic
def description_create_draft(
    *, source: Description, actor: AbstractBaseUser | None, action: str, note: str = ""
) -> Description:
    """A new working draft (REVIEW, "created" -> review) of source's product with source's text
    and generation details; the caller copies its sentences and tokens. Refused while the
    product has a draft."""
    _transition_check(CREATED, S.REVIEW)
    audit_action_checked(action)
    if Description.objects.filter(product_id=source.product_id, status__in=DRAFT_STATUSES).exists():
        raise InvalidTransition("This product already has a draft; publish or discard it first.")
    copied = {
        name: getattr(source, name)
        for name in (
            "text",
            "provider",
            "model",
            "prompt",
            "finish_reason",
            "has_logprobs",
            "prompt_tokens",
            "completion_tokens",
            "risk",
            "generated_at",
        )
    }
    draft = Description.objects.create(product_id=source.product_id, status=S.REVIEW, source=source, **copied)
    audit_rows(
        action=action,
        actor=actor,
        rows=[
            {
                "description_id": draft.pk,
                "before": {"status": "", "source": source.pk, "source_status": source.status},
                "after": {"status": S.REVIEW, "version": draft.version},
                "note": note,
            }
        ],
    )
    return draft


@transaction.atomic
def descriptions_cancel_queued(
    *, descriptions: QuerySet[Description], actor: AbstractBaseUser | None, note: str
) -> list[int]:
    """Drop queued work (set-based, audited): each QUEUED row goes back to the status it was
    queued from (a draft under review stays under review), or to CANCELLED when it had none.
    Returns the ids dropped; rows a worker claimed meanwhile are left to finish."""
    dropped: list[int] = []
    queued = descriptions.filter(status=S.QUEUED)
    for to_status, condition in (
        (S.REVIEW, Q(queued_from=S.REVIEW)),
        (S.REJECTED, Q(queued_from=S.REJECTED)),
        (S.FAILED, Q(queued_from=S.FAILED)),
        (S.CANCELLED, ~Q(queued_from__in=[S.REVIEW, S.REJECTED, S.FAILED])),
    ):
        dropped += descriptions_transition_where(
            descriptions=queued,
            from_statuses=[S.QUEUED],
            to_status=to_status,
            action=AuditAction.GENERATION_CANCELLED,
            actor=actor,
            condition=condition,
            fields={"queued_from": ""},
            note=note,
        )
    return sorted(dropped)

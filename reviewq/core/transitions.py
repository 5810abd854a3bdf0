"""The one door for Description.status: every change is checked against TRANSITIONS, bumps the
version, keeps published_at and the lease right, and writes its audit row in the same transaction."""

from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F, Model, Q
from django.utils import timezone

from reviewq.core.audit import audit_actor
from reviewq.core.bulk import rows_insert, rows_update
from reviewq.core.models import DRAFT_STATUSES, AuditEvent, Description, DescriptionStatus

S = DescriptionStatus

# from-status -> statuses it may move to. Anything else is refused.
# A live revision (PUBLISHED) is never regenerated or re-reviewed in place: generation writes a
# draft beside it, and it leaves only by being superseded (a draft is published) or unpublished.
TRANSITIONS: dict[str, frozenset[str]] = {
    # A cancelled run returns a queued draft to what it was (REVIEW, REJECTED, FAILED) or CANCELLED.
    S.QUEUED: frozenset({S.GENERATING, S.FAILED, S.CANCELLED, S.REVIEW, S.REJECTED}),
    S.GENERATING: frozenset({S.QUEUED, S.REVIEW, S.PUBLISHED, S.FAILED}),
    S.REVIEW: frozenset({S.PUBLISHED, S.REJECTED, S.QUEUED, S.ARCHIVED}),
    S.PUBLISHED: frozenset({S.ARCHIVED}),
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
    now = timezone.now()
    fields = _transition_fields(to_status, fields, now)
    match = Q(pk=description.pk, status=from_status)
    if expected_version is not None:
        match &= Q(version=expected_version)
    # Lock the row first: the live copy is archived only for a publish that will happen.
    if to_status == S.PUBLISHED and Description.objects.select_for_update().filter(match).exists():
        live_supersede(
            product_ids=[description.product_id], by={description.product_id: description.pk}, actor=actor, now=now
        )
    updated = Description.objects.filter(match).update(
        status=to_status, version=F("version") + 1, updated_at=now, **fields
    )
    if not updated:
        current = Description.objects.filter(pk=description.pk).first()
        raise ConflictError(
            "This description was changed by someone else; reload to see the newer version.",
            current=current,
        )
    _transition_event(description, to_status, action=action, actor=actor, note=note, fields=fields).save()
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


@transaction.atomic
def descriptions_transition(
    requests: list[TransitionRequest], *, actor: AbstractBaseUser | None = None
) -> list[Description | ConflictError]:
    """Many description_transition calls in one go, for storing many results at once: one
    conditional UPDATE for all the rows (reviewq.core.bulk.rows_update) and one INSERT of their audit
    rows. A request whose row changed since its copy was read gets a ConflictError in its place
    in the result (and nothing written); the others go ahead. Field values must be plain
    values, not expressions."""
    now = timezone.now()
    planned = []
    for request in requests:
        _transition_check(request.description.status, request.to_status)
        fields = _transition_fields(request.to_status, request.fields, now)
        if any(hasattr(value, "resolve_expression") for value in fields.values()):
            raise ValueError("descriptions_transition takes plain field values, not expressions")
        planned.append((request, fields))
    columns = sorted({name for _, fields in planned for name in fields} - {"status", "version", "updated_at"})
    candidates = [
        (request, fields) for request, fields in planned if request.expected_version == request.description.version
    ]
    publishing = [r.description for r, _ in candidates if r.to_status == S.PUBLISHED]
    if publishing:
        # Lock the rows that will be published, then archive their products' live copies.
        locked = set(
            Description.objects.select_for_update()
            .filter(pk__in=[d.pk for d in publishing], status__in=[d.status for d in publishing])
            .values_list("pk", "version")
        )
        by = {d.product_id: d.pk for d in publishing if (d.pk, d.version) in locked}
        live_supersede(product_ids=list(by), by=by, actor=actor, now=now)
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
        )
    )
    results: list[Description | ConflictError] = []
    events = []
    for request, fields in planned:
        description = request.description
        if description.pk not in updated:  # changed meanwhile, or the caller's copy was not at expected_version
            results.append(
                ConflictError("This description was changed by someone else; reload to see the newer version.")
            )
            continue
        events.append(
            _transition_event(
                description, request.to_status, action=request.action, actor=actor, note=request.note, fields=fields
            )
        )
        _transition_apply(description, request.to_status, fields, now)
        results.append(description)
    rows_insert(
        AuditEvent,
        ("action", "actor_id", "description_id", "before", "after", "note", "created_at"),
        [(e.action, e.actor_id, e.description_id, e.before, e.after, e.note, now) for e in events],
    )
    return results


def _plain(value):
    """A field value as rows_update takes it: model instances by primary key."""
    return value.pk if isinstance(value, Model) else value


@transaction.atomic
def descriptions_delete(*, descriptions, actor: AbstractBaseUser | None = None) -> int:
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
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                action="description_deleted",
                actor=audit_actor(actor),
                catalog_id=row["product__catalog_id"],
                before={
                    "description": row["pk"],
                    "status": row["status"],
                    "version": row["version"],
                    "sku": row["product__sku"],
                    "product": row["product__name"],
                    "catalog": row["product__catalog__name"],
                },
                note=f"{row['product__sku']}: description deleted",
            )
            for row in rows
        ]
    )
    Description.objects.filter(pk__in=[row["pk"] for row in rows]).delete()
    return len(rows)


def _transition_check(from_status: str, to_status: str) -> None:
    if not transition_allowed(from_status, to_status):
        raise InvalidTransition(f"A {from_status} description cannot become {to_status}.")


def _transition_fields(to_status: str, fields: dict | None, now) -> dict:
    """The caller's fields plus what every move to `to_status` sets."""
    fields = dict(fields or {})
    if to_status == S.PUBLISHED:
        fields.setdefault("published_at", now)
    if to_status in (S.QUEUED, S.REVIEW, S.REJECTED):
        fields.setdefault("published_at", None)
    if to_status != S.GENERATING:
        fields.setdefault("lease_until", None)
    return fields


def _transition_event(description: Description, to_status: str, *, action, actor, note, fields) -> AuditEvent:
    """The audit row of a transition, built before the caller's copy is updated."""
    return AuditEvent(
        action=action,
        actor=audit_actor(actor),
        description=description,
        before={"status": description.status, "version": description.version},
        after={"status": to_status, **_jsonable(fields)},
        note=note,
    )


def _transition_apply(description: Description, to_status: str, fields: dict, now) -> None:
    for name, value in fields.items():
        setattr(description, name, value)
    description.status, description.version, description.updated_at = to_status, description.version + 1, now


def _jsonable(fields: dict) -> dict:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in fields.items()}


def live_supersede(*, product_ids: list[int], by: dict[int, int], actor, now) -> list[int]:
    """Archive the live revision of each product about to get a new one (set-based, audited):
    the one place a published description stops being live because another is published."""
    rows = list(
        Description.objects.filter(product_id__in=product_ids, status=S.PUBLISHED)
        .exclude(pk__in=list(by.values()))
        .values_list("pk", "product_id", "version")
    )
    if not rows:
        return []
    Description.objects.filter(pk__in=[pk for pk, _, _ in rows], status=S.PUBLISHED).update(
        status=S.ARCHIVED, version=F("version") + 1, updated_at=now, lease_until=None
    )
    rows_insert(
        AuditEvent,
        ("action", "actor_id", "description_id", "before", "after", "note", "created_at"),
        [
            (
                "revision_superseded",
                getattr(audit_actor(actor), "pk", None),
                pk,
                {"status": S.PUBLISHED, "version": version},
                {"status": S.ARCHIVED, "live": by[product_id]},
                "",
                now,
            )
            for pk, product_id, version in rows
        ],
    )
    return [pk for pk, _, _ in rows]


@transaction.atomic
def description_create_draft(
    *, source: Description, actor: AbstractBaseUser | None, action: str, note: str = ""
) -> Description:
    """A new working draft (REVIEW) of source's product with source's text and generation
    details; the caller copies its sentences and tokens. Refused while the product has a draft."""
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
    AuditEvent.objects.create(
        action=action,
        actor=audit_actor(actor),
        description=draft,
        before={"source": source.pk, "source_status": source.status},
        after={"status": S.REVIEW},
        note=note,
    )
    return draft


@transaction.atomic
def descriptions_cancel_queued(*, descriptions, actor: AbstractBaseUser | None, note: str) -> list[int]:
    """Drop queued work (set-based, audited): each QUEUED row goes back to the status it was
    queued from (a draft under review stays under review), or to CANCELLED when it had none.
    Returns the ids dropped; rows a worker claimed meanwhile are left to finish."""
    now = timezone.now()
    rows = list(descriptions.filter(status=S.QUEUED).values_list("pk", "queued_from", "version"))
    restore = {pk: q if q in (S.REVIEW, S.REJECTED, S.FAILED) else S.CANCELLED for pk, q, _ in rows}
    dropped: dict[int, str] = {}
    for to_status in set(restore.values()):
        ids = [pk for pk, back in restore.items() if back == to_status]
        matched = list(Description.objects.filter(pk__in=ids, status=S.QUEUED).values_list("pk", flat=True))
        Description.objects.filter(pk__in=matched, status=S.QUEUED).update(
            status=to_status, version=F("version") + 1, updated_at=now, lease_until=None, queued_from=""
        )
        dropped.update(dict.fromkeys(matched, to_status))
    versions = {pk: version for pk, _, version in rows}
    rows_insert(
        AuditEvent,
        ("action", "actor_id", "description_id", "before", "after", "note", "created_at"),
        [
            (
                "generation_cancelled",
                getattr(audit_actor(actor), "pk", None),
                pk,
                {"status": S.QUEUED, "version": versions[pk]},
                {"status": to_status},
                note,
                now,
            )
            for pk, to_status in sorted(dropped.items())
        ],
    )
    return sorted(dropped)

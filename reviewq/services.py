"""Writes to reviewq's data. Every status change goes through `description_transition` (or a
set-based sibling here), which refuses an illegal source state and writes an AuditEvent."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F, Model, Q
from django.utils import timezone

from .bulk import rows_insert, rows_update
from .models import AuditEvent, Description, DescriptionStatus, Product
from .models import Sentence, SentenceBand, SentenceDecision, Token
from .selectors import SENTENCE_TEXT_ACTIONS, sentence_substitutions

S = DescriptionStatus

# from-status -> statuses it may move to. Anything else is refused.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.QUEUED: frozenset({S.GENERATING, S.FAILED}),  # FAILED: a cancelled run drops it
    S.GENERATING: frozenset({S.QUEUED, S.REVIEW, S.PUBLISHED, S.FAILED}),
    S.REVIEW: frozenset({S.PUBLISHED, S.REJECTED, S.QUEUED}),
    S.PUBLISHED: frozenset({S.REVIEW, S.QUEUED}),
    S.REJECTED: frozenset({S.QUEUED}),
    S.FAILED: frozenset({S.QUEUED}),
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
    if expected_version is not None and expected_version == description.version and not any(
        hasattr(value, "resolve_expression") for value in fields.values()
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
    conditional UPDATE for all the rows (reviewq.bulk.rows_update) and one INSERT of their audit
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
    candidates = [(request, fields) for request, fields in planned if request.expected_version == request.description.version]
    updated = set(rows_update(
        Description,
        match=("status", "version"),
        assign=("status", "version", "updated_at", *columns),
        rows=[
            (
                request.description.pk, request.description.status, request.expected_version,
                request.to_status, request.expected_version + 1, now,
                *(_plain(fields[name] if name in fields else getattr(request.description, name)) for name in columns),
            )
            for request, fields in candidates
        ],
    ))
    results: list[Description | ConflictError] = []
    events = []
    for request, fields in planned:
        description = request.description
        if description.pk not in updated:  # changed meanwhile, or the caller's copy was not at expected_version
            results.append(ConflictError(
                "This description was changed by someone else; reload to see the newer version."
            ))
            continue
        events.append(_transition_event(
            description, request.to_status, action=request.action, actor=actor, note=request.note, fields=fields
        ))
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
            "pk", "status", "version", "product__sku", "product__name", "product__catalog_id",
            "product__catalog__name",
        )
    )
    AuditEvent.objects.bulk_create([
        AuditEvent(
            action="description_deleted",
            actor=audit_actor(actor),
            catalog_id=row["product__catalog_id"],
            before={
                "description": row["pk"], "status": row["status"], "version": row["version"],
                "sku": row["product__sku"], "product": row["product__name"], "catalog": row["product__catalog__name"],
            },
            note=f"{row['product__sku']}: description deleted",
        )
        for row in rows
    ])
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


@transaction.atomic
def descriptions_queue(
    *,
    products: Iterable[Product] | None = None,
    product_ids: Iterable[int] | None = None,
    actor: AbstractBaseUser | None = None,
    only_missing: bool = False,
    only_failed: bool = False,
    run=None,
) -> list[int]:
    """Queue generation for products, set-based; returns the product ids that were queued.

    Products without a description get a QUEUED one; FAILED ones are re-queued (unless
    only_missing); with neither flag, REVIEW/PUBLISHED/REJECTED ones are re-queued too
    (regenerate). QUEUED and GENERATING ones are left alone, so two runs on one catalog do
    not duplicate work. Rows it queues point at `run` (a GenerationRun) when given.
    """
    ids = set(product_ids or ()) | {p.pk for p in (products or ())}
    if not ids:
        return []
    existing = dict(Description.objects.filter(product_id__in=ids).values_list("product_id", "status"))
    missing = [] if only_failed else sorted(ids - existing.keys())
    if only_missing:
        requeue_from = []
    elif only_failed:
        requeue_from = [S.FAILED]
    else:
        requeue_from = [S.FAILED, S.REVIEW, S.PUBLISHED, S.REJECTED]
    now = timezone.now()
    Description.objects.bulk_create(
        [Description(product_id=pid, status=S.QUEUED, run=run) for pid in missing], ignore_conflicts=True
    )
    requeue = [
        (pid, status) for pid, status in existing.items() if status in requeue_from
    ]
    requeued_ids = []
    for status in {status for _, status in requeue}:
        pids = [pid for pid, s in requeue if s == status]
        Description.objects.filter(product_id__in=pids, status=status).update(
            status=S.QUEUED, version=F("version") + 1, updated_at=now, published_at=None,
            lease_until=None, attempts=0, run=run,
        )
        requeued_ids.extend(pids)
    rows = Description.objects.filter(product_id__in=[*missing, *requeued_ids]).values_list(
        "id", "product_id", "status"
    )
    before = {pid: status for pid, status in requeue}
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                action="generation_queued",
                actor=audit_actor(actor),
                description_id=did,
                before={"status": before.get(pid, "")},
                after={"status": S.QUEUED},
            )
            for did, pid, status in rows
            if status == S.QUEUED
        ]
    )
    return sorted({pid for _, pid, status in rows if status == S.QUEUED})


@transaction.atomic
def description_claim_for_generation(*, product_id: int, lease_seconds: int) -> Description | None:
    """Claim a product's QUEUED description (or a GENERATING one whose lease ran out, left by a
    worker that died) with one conditional UPDATE. Returns None when there is nothing to do,
    which is what a redelivered or duplicate message sees."""
    now = timezone.now()
    claimable = Q(status=S.QUEUED) | Q(status=S.GENERATING, lease_until__lt=now)
    row = Description.objects.filter(product_id=product_id).filter(claimable).values("id", "status").first()
    if row is None:
        return None
    updated = Description.objects.filter(claimable, pk=row["id"]).update(
        status=S.GENERATING,
        lease_until=now + timedelta(seconds=lease_seconds),
        attempts=F("attempts") + 1,
        version=F("version") + 1,
        updated_at=now,
    )
    if not updated:
        return None  # another worker won the race
    description = Description.objects.select_related("product__catalog").get(pk=row["id"])
    audit_record(
        action="generation_claimed",
        description=description,
        before={"status": row["status"]},
        after={"status": S.GENERATING, "attempt": description.attempts},
    )
    return description


# --- Review actions ------------------------------------------------------------------------
# A reviewer's write bumps Description.version with a conditional UPDATE that matches the
# version the reviewer's page showed, so two reviewers (or two tabs) never overwrite each
# other silently: the loser gets ConflictError carrying the current row. A review claim is a
# lock, not content: taking or renewing it does not bump the version.

REVIEW_CLAIM_DURATION = timedelta(minutes=20)


class ClaimHeld(Exception):
    """Someone else holds the review claim on this description and it has not expired."""

    def __init__(self, message: str, *, holder=None, until=None):
        super().__init__(message)
        self.holder = holder
        self.until = until


class ReviewIncomplete(Exception):
    """Sentences in the review or flag band still need a decision before publishing."""

    def __init__(self, message: str, *, pending: list[int]):
        super().__init__(message)
        self.pending = pending


def _claim_free(*, reviewer: AbstractBaseUser, now) -> Q:
    return (
        Q(review_claimed_by__isnull=True)
        | Q(review_claimed_by=reviewer)
        | Q(review_claimed_until__isnull=True)
        | Q(review_claimed_until__lt=now)
    )


def _claim_refused(*, pk: int, reviewer: AbstractBaseUser) -> ClaimHeld | InvalidTransition:
    current = Description.objects.select_related("review_claimed_by").get(pk=pk)
    if current.status != S.REVIEW:
        return InvalidTransition(f"This description is {current.get_status_display().lower()}, not in review.")
    holder = current.review_claimed_by
    return ClaimHeld(
        f"{holder.get_username() if holder else 'Another reviewer'} is reviewing this description.",
        holder=holder,
        until=current.review_claimed_until,
    )


def description_review_claim(*, description: Description, reviewer: AbstractBaseUser) -> Description:
    """Claim (or renew the claim on) a description in review for `reviewer`.

    Raises ClaimHeld when another reviewer's claim has not expired, InvalidTransition when the
    description is not in review. Taking a claim is audited; renewing one's own is not."""
    now = timezone.now()
    before = (
        Description.objects.filter(pk=description.pk)
        .values("review_claimed_by", "review_claimed_until")
        .first()
    )
    updated = (
        Description.objects.filter(pk=description.pk, status=S.REVIEW)
        .filter(_claim_free(reviewer=reviewer, now=now))
        .update(review_claimed_by=reviewer, review_claimed_until=now + REVIEW_CLAIM_DURATION)
    )
    if not updated:
        raise _claim_refused(pk=description.pk, reviewer=reviewer)
    renewed = (
        before is not None
        and before["review_claimed_by"] == reviewer.pk
        and before["review_claimed_until"] is not None
        and before["review_claimed_until"] >= now
    )
    if not renewed:
        audit_record(
            action="review_claimed",
            actor=reviewer,
            description=description,
            before={"claimed_by": before["review_claimed_by"] if before else None},
            after={"claimed_by": reviewer.pk, "until": (now + REVIEW_CLAIM_DURATION).isoformat()},
        )
    description.refresh_from_db()
    return description


def descriptions_review_release(
    *, description_ids: Iterable[int], reviewer: AbstractBaseUser
) -> list[int]:
    """Release review claims; returns the ids released. A reviewer releases their own claims;
    someone with reviewq.change_description (the admin role) releases anyone's."""
    ids = list(description_ids)
    rows = Description.objects.filter(pk__in=ids, review_claimed_by__isnull=False)
    if not reviewer.has_perm("reviewq.change_description"):
        rows = rows.filter(review_claimed_by=reviewer)
    held = list(rows.values_list("id", "review_claimed_by"))
    with transaction.atomic():
        Description.objects.filter(pk__in=[pk for pk, _ in held]).update(
            review_claimed_by=None, review_claimed_until=None
        )
        AuditEvent.objects.bulk_create(
            [
                AuditEvent(
                    action="review_released",
                    actor=reviewer,
                    description_id=pk,
                    before={"claimed_by": holder},
                    after={"claimed_by": None},
                )
                for pk, holder in held
            ]
        )
    return sorted(pk for pk, _ in held)


def description_review_release(*, description: Description, reviewer: AbstractBaseUser) -> bool:
    return bool(descriptions_review_release(description_ids=[description.pk], reviewer=reviewer))


def description_review_next(
    *,
    reviewer: AbstractBaseUser,
    candidates: Iterable[int],
    release: Description | None = None,
) -> Description | None:
    """Claim the first of `candidates` (description ids, riskiest first, from
    selectors.queue_next_candidates) that nobody else holds; release `release` first if the
    reviewer holds it. Returns None when every candidate was taken meanwhile."""
    if release is not None:
        description_review_release(description=release, reviewer=reviewer)
    for pk in candidates:
        if release is not None and pk == release.pk:
            continue
        try:
            return description_review_claim(description=Description(pk=pk), reviewer=reviewer)
        except (ClaimHeld, InvalidTransition):
            continue  # another reviewer won it, or it left review: try the next one
    return None


def description_review_lock(
    *, description_id: int, reviewer: AbstractBaseUser, expected_version: int
) -> Description:
    """Bump the version of a description in review if it still has `expected_version` and no
    one else holds its claim; renew the reviewer's claim. Raises ConflictError (stale version,
    with the current row), ClaimHeld or InvalidTransition and changes nothing otherwise."""
    now = timezone.now()
    updated = (
        Description.objects.filter(pk=description_id, status=S.REVIEW, version=expected_version)
        .filter(_claim_free(reviewer=reviewer, now=now))
        .update(
            version=F("version") + 1,
            updated_at=now,
            review_claimed_by=reviewer,
            review_claimed_until=now + REVIEW_CLAIM_DURATION,
        )
    )
    current = Description.objects.select_related("review_claimed_by").get(pk=description_id)
    if updated:
        return current
    if current.version != expected_version:
        raise ConflictError(
            "Someone changed this description since you opened it; nothing was saved. "
            "The newer version is shown below.",
            current=current,
        )
    raise _claim_refused(pk=description_id, reviewer=reviewer)


def _sentence_locked(*, sentence, reviewer: AbstractBaseUser, expected_version: int):
    """The sentence re-read after the description-level lock was taken."""
    description_review_lock(description_id=sentence.description_id, reviewer=reviewer, expected_version=expected_version)
    return Sentence.objects.select_related("description").get(pk=sentence.pk)


def _whitespace_kept(original: str, text: str) -> str:
    """`text` with the original sentence's leading and trailing whitespace, so the sentences
    still join into well-spaced copy."""
    stripped = original.strip()
    if not stripped:
        return text
    lead = original[: len(original) - len(original.lstrip())]
    trail = original[len(original.rstrip()) :]
    return f"{lead}{text.strip()}{trail}"


def _sentence_decide(
    *,
    sentence,
    reviewer: AbstractBaseUser,
    decision: str,
    edited_text: str,
    action: str,
    before_text: str,
    extra_after: dict | None = None,
):
    now = timezone.now()
    before = {"decision": sentence.decision, "text": before_text}
    Sentence.objects.filter(pk=sentence.pk).update(
        decision=decision,
        edited_text=edited_text,
        decided_by=reviewer if decision else None,
        decided_at=now if decision else None,
    )
    sentence.refresh_from_db()
    audit_record(
        action=action,
        actor=reviewer,
        description=sentence.description,
        sentence_index=sentence.index,
        before=before,
        after={"decision": decision, "text": sentence.current_text, **(extra_after or {})},
    )
    return sentence


@transaction.atomic
def sentence_approve(*, sentence, reviewer: AbstractBaseUser, expected_version: int):
    """Mark a sentence approved as written (an edited sentence stays edited)."""
    sentence = _sentence_locked(sentence=sentence, reviewer=reviewer, expected_version=expected_version)
    if sentence.decision == SentenceDecision.EDITED:
        return sentence
    return _sentence_decide(
        sentence=sentence,
        reviewer=reviewer,
        decision=SentenceDecision.APPROVED,
        edited_text="",
        action="sentence_approved",
        before_text=sentence.current_text,
    )


@transaction.atomic
def sentence_remove(*, sentence, reviewer: AbstractBaseUser, expected_version: int):
    """Leave the sentence out of the published text (decision "rejected", shown as removed)."""
    sentence = _sentence_locked(sentence=sentence, reviewer=reviewer, expected_version=expected_version)
    return _sentence_decide(
        sentence=sentence,
        reviewer=reviewer,
        decision=SentenceDecision.REJECTED,
        edited_text="",
        action="sentence_removed",
        before_text=sentence.current_text,
    )


@transaction.atomic
def sentence_reset(*, sentence, reviewer: AbstractBaseUser, expected_version: int):
    """Undo a decision: back to the generated text, undecided."""
    sentence = _sentence_locked(sentence=sentence, reviewer=reviewer, expected_version=expected_version)
    return _sentence_decide(
        sentence=sentence,
        reviewer=reviewer,
        decision=SentenceDecision.NONE,
        edited_text="",
        action="sentence_reset",
        before_text=sentence.current_text,
    )


class EditRefused(ValueError):
    """The edit is not a change (or is empty); the message says what to do instead."""


@transaction.atomic
def sentence_edit(*, sentence, reviewer: AbstractBaseUser, text: str, expected_version: int):
    """Replace a sentence's text. The generated text stays in Sentence.text and in the audit
    row; the reviewer's text goes to edited_text with decision "edited"."""
    if not text.strip():
        raise EditRefused("The new text is empty; remove the sentence instead.")
    sentence = _sentence_locked(sentence=sentence, reviewer=reviewer, expected_version=expected_version)
    new_text = _whitespace_kept(sentence.text, text)
    if new_text == sentence.text:
        # Typing the generated text back is an approval of it.
        return _sentence_decide(
            sentence=sentence,
            reviewer=reviewer,
            decision=SentenceDecision.APPROVED,
            edited_text="",
            action="sentence_approved",
            before_text=sentence.current_text,
        )
    if new_text == sentence.current_text:
        raise EditRefused("The text is unchanged.")
    return _sentence_decide(
        sentence=sentence,
        reviewer=reviewer,
        decision=SentenceDecision.EDITED,
        edited_text=new_text,
        action="sentence_edited",
        before_text=sentence.current_text,
    )


@transaction.atomic
def sentence_substitute(
    *, sentence, reviewer: AbstractBaseUser, position: int, alternative: str, expected_version: int
):
    """Replace one token of the sentence by one of its alternatives. Stored as an edit
    (edited_text); the original stays in Sentence.text and the audit row keeps the position,
    both texts and every substitution in force, so the page can still show the tokens.
    Choosing a token's original text again undoes its substitution."""
    sentence = _sentence_locked(sentence=sentence, reviewer=reviewer, expected_version=expected_version)
    token = Token.objects.filter(sentence=sentence, position=position).first()
    if token is None:
        raise EditRefused("That word is not part of this sentence.")
    choices = {alt[0] for alt in token.alternatives if alt} | {token.text}
    if alternative not in choices:
        raise EditRefused("That alternative was not offered for this word.")
    last = (
        AuditEvent.objects.filter(
            description_id=sentence.description_id, sentence_index=sentence.index, action__in=SENTENCE_TEXT_ACTIONS
        )
        .order_by("-created_at", "-id")
        .first()
    )
    if sentence.decision == SentenceDecision.EDITED:
        substitutions = sentence_substitutions(sentence=sentence, last_event=last)
        if not substitutions:
            raise EditRefused("This sentence was edited by hand; edit its text instead.")
    else:
        substitutions = {}
    # Keep the token's leading space if the alternative lacks one (" blue" -> "red").
    replacement = alternative
    if token.text[:1].isspace() and not alternative[:1].isspace() and alternative.strip():
        replacement = token.text[: len(token.text) - len(token.text.lstrip())] + alternative
    previous = substitutions.get(position, token.text)
    if replacement == token.text:
        substitutions.pop(position, None)
    else:
        substitutions[position] = replacement
    tokens = list(sentence.tokens.order_by("position").values_list("position", "text"))
    new_text = "".join(substitutions.get(pos, text) for pos, text in tokens)
    decision = SentenceDecision.EDITED if substitutions else SentenceDecision.NONE
    return _sentence_decide(
        sentence=sentence,
        reviewer=reviewer,
        decision=decision,
        edited_text=new_text if substitutions else "",
        action="sentence_substituted",
        before_text=sentence.current_text,
        extra_after={
            "position": position,
            "from": previous,
            "to": replacement,
            "original": token.text,
            "substitutions": {str(k): v for k, v in sorted(substitutions.items())},
        },
    )


def description_published_text(*, description: Description) -> str:
    """The current text of every sentence not removed, in order."""
    sentences = description.sentences.exclude(decision=SentenceDecision.REJECTED).order_by("index")
    return "".join(s.current_text for s in sentences).strip()


def description_pending_sentences(*, description: Description) -> list[int]:
    """Indexes of review/flag sentences nobody has decided yet (they block publishing)."""
    return list(
        description.sentences.filter(decision=SentenceDecision.NONE)
        .exclude(band=SentenceBand.PUBLISH)
        .order_by("index")
        .values_list("index", flat=True)
    )


@transaction.atomic
def description_approve(
    *,
    description: Description,
    reviewer: AbstractBaseUser,
    expected_version: int,
    approve_remaining: bool = False,
) -> Description:
    """Publish a description in review. Every review/flag sentence must be decided first;
    with approve_remaining the reviewer approves the undecided ones in the same step.
    The published text is the current text of the sentences not removed."""
    current = description_review_lock(description_id=description.pk, reviewer=reviewer, expected_version=expected_version)
    pending = description_pending_sentences(description=current)
    if pending and not approve_remaining:
        raise ReviewIncomplete(
            f"{len(pending)} sentence{'s' if len(pending) != 1 else ''} still need a decision.",
            pending=pending,
        )
    if pending:
        now = timezone.now()
        current.sentences.filter(index__in=pending).update(
            decision=SentenceDecision.APPROVED, decided_by=reviewer, decided_at=now
        )
    text = description_published_text(description=current)
    return description_transition(
        description=current,
        to_status=S.PUBLISHED,
        action="review_approved",
        actor=reviewer,
        expected_version=current.version,
        note=f"approved {len(pending)} undecided sentences with it" if pending else "",
        fields={"text": text, "review_claimed_by": None, "review_claimed_until": None},
    )


@transaction.atomic
def description_reject(
    *, description: Description, reviewer: AbstractBaseUser, expected_version: int, reason: str
) -> Description:
    """Reject a description in review; the reason is required and kept on the row."""
    reason = reason.strip()
    if not reason:
        raise EditRefused("Say why the description is rejected.")
    current = description_review_lock(description_id=description.pk, reviewer=reviewer, expected_version=expected_version)
    return description_transition(
        description=current,
        to_status=S.REJECTED,
        action="review_rejected",
        actor=reviewer,
        expected_version=current.version,
        note=reason,
        fields={"rejection_reason": reason, "review_claimed_by": None, "review_claimed_until": None},
    )


@dataclass(frozen=True, slots=True)
class BulkApproveResult:
    approved: list[int]
    skipped: dict[int, str]  # description id -> why it was left alone


@transaction.atomic
def descriptions_bulk_approve(
    *, versions: dict[int, int], reviewer: AbstractBaseUser
) -> BulkApproveResult:
    """Publish the confident descriptions of a confirmed selection (id -> version the
    reviewer confirmed). A description is confident when no review/flag sentence is left
    undecided; the others, those changed since confirmation and those someone else holds,
    are skipped and reported."""
    now = timezone.now()
    rows = {
        d.pk: d
        for d in Description.objects.filter(pk__in=versions.keys()).select_related("review_claimed_by")
    }
    pending_ids = set(
        Sentence.objects.filter(description_id__in=rows.keys(), decision=SentenceDecision.NONE)
        .exclude(band=SentenceBand.PUBLISH)
        .values_list("description_id", flat=True)
    )
    skipped: dict[int, str] = {}
    eligible = []
    for pk, version in versions.items():
        row = rows.get(pk)
        if row is None or row.status != S.REVIEW:
            skipped[pk] = "not in review any more"
        elif row.version != version:
            skipped[pk] = "changed since you selected it"
        elif (
            row.review_claimed_by_id not in (None, reviewer.pk)
            and row.review_claimed_until is not None
            and row.review_claimed_until >= now
        ):
            skipped[pk] = f"claimed by {row.review_claimed_by.get_username()}"
        elif pk in pending_ids:
            skipped[pk] = "has sentences that still need a decision"
        else:
            eligible.append(pk)
    texts: dict[int, list[str]] = {pk: [] for pk in eligible}
    for description_id, sentence_text, edited, decision in (
        Sentence.objects.filter(description_id__in=eligible)
        .exclude(decision=SentenceDecision.REJECTED)
        .order_by("description_id", "index")
        .values_list("description_id", "text", "edited_text", "decision")
    ):
        texts[description_id].append(edited if decision == SentenceDecision.EDITED else sentence_text)
    approved = []
    events = []
    for pk in eligible:
        text = "".join(texts[pk]).strip()
        # Text differs per row, so one conditional UPDATE each (selections are a page at most).
        if Description.objects.filter(pk=pk, status=S.REVIEW, version=versions[pk]).update(
            status=S.PUBLISHED,
            version=F("version") + 1,
            text=text,
            published_at=now,
            updated_at=now,
            lease_until=None,
            review_claimed_by=None,
            review_claimed_until=None,
        ):
            approved.append(pk)
            events.append(
                AuditEvent(
                    action="review_approved",
                    actor=reviewer,
                    description_id=pk,
                    before={"status": S.REVIEW, "version": versions[pk]},
                    after={"status": S.PUBLISHED, "text": text},
                    note="bulk approval of confident descriptions",
                )
            )
        else:
            skipped[pk] = "changed since you selected it"
    AuditEvent.objects.bulk_create(events)
    return BulkApproveResult(approved=sorted(approved), skipped=skipped)

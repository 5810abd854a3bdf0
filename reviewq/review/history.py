"""A description's history: its audit rows with labels and text diffs. The one reader of the
audit log for a description (it is never read back as working state)."""

import difflib
import re
from dataclasses import dataclass, field
from datetime import datetime

from reviewq.core.audit import AuditAction, audit_action_label
from reviewq.core.models import (
    DRAFT_STATUSES,
    AuditEvent,
    Comment,
    Description,
    DescriptionStatus,
    ErrorCategory,
    Product,
)

S = DescriptionStatus

# --- History -----------------------------------------------------------------------------


_DIFF_PIECES = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    label: str
    actor: str
    created_at: datetime
    note: str = ""
    sentence_index: int | None = None
    diff: list[tuple[str, str]] = field(default_factory=list)  # (op, text): op is "same", "del" or "ins"
    category: str = ""  # the error category a decision or rejection gave, as it was called then
    is_comment: bool = False


def text_diff(before: str, after: str) -> list[tuple[str, str]]:
    """Word-level diff for display (difflib), as (op, text) runs."""
    a, b = _DIFF_PIECES.findall(before), _DIFF_PIECES.findall(after)
    runs: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            runs.append(("same", "".join(a[i1:i2])))
            continue
        if op in ("delete", "replace"):
            runs.append(("del", "".join(a[i1:i2])))
        if op in ("insert", "replace"):
            runs.append(("ins", "".join(b[j1:j2])))
    return runs


def _username(user) -> str:
    return user.get_username() if user is not None else "system"


def description_history(*, description: Description) -> list[HistoryEntry]:
    """Every audited change to the description and every comment on it, newest first, with a
    text diff where the change touched text: a sentence's before/after, or the description's
    text against the text before it. Three queries."""
    events = list(
        AuditEvent.objects.filter(description=description)
        .exclude(action=AuditAction.COMMENT_ADDED)  # the comment itself is shown instead
        .select_related("actor")
        .order_by("created_at", "id")
    )
    # A rejection's row names its category by id (the transition's fields); labels for those.
    category_labels = dict(ErrorCategory.objects.values_list("pk", "label"))
    timed: list[tuple[datetime, int, HistoryEntry]] = []
    last_text = ""
    for event in events:
        diff: list[tuple[str, str]] = []
        if event.sentence_index is not None and "text" in event.after:
            diff = text_diff(str(event.before.get("text", "")), str(event.after["text"]))
        elif "text" in event.after:
            diff = text_diff(last_text, str(event.after["text"]))
            last_text = str(event.after["text"])
        category = event.after.get("category") or category_labels.get(event.after.get("rejection_category"), "")
        entry = HistoryEntry(
            label=audit_action_label(event.action),
            actor=_username(event.actor),
            created_at=event.created_at,
            note=event.note,
            sentence_index=event.sentence_index,
            diff=diff,
            category=str(category),
        )
        timed.append((event.created_at, 0, entry))
    for comment in Comment.objects.filter(description=description).select_related("author"):
        entry = HistoryEntry(
            label="Comment",
            actor=_username(comment.author) if comment.author else "a former user",
            created_at=comment.created_at,
            note=comment.text,
            is_comment=True,
        )
        timed.append((comment.created_at, 1, entry))
    timed.sort(key=lambda item: (item[0], item[1]))  # stable: audit rows keep their id order
    return [entry for _, _, entry in reversed(timed)]


# --- Revisions ---------------------------------------------------------------------------

# Audit actions that bring a revision into being, and how History words them.
CREATED_BY = {
    AuditAction.GENERATION_QUEUED: "Generated",
    AuditAction.REVISION_REVERTED: "Reverted",
    AuditAction.QA_SENT_BACK: "Sent back by a QA review",
}
ENDED_BY = {
    AuditAction.REVISION_SUPERSEDED: "Superseded",
    AuditAction.UNPUBLISHED: "Unpublished",
    AuditAction.DRAFT_DISCARDED: "Discarded",
}


@dataclass(frozen=True, slots=True)
class Revision:
    description: Description
    is_live: bool
    is_draft: bool
    created_at: datetime
    created_by: str  # a user name, or "system"
    why: str  # how it came to be: generated (by which run), reverted from which revision, ...
    published_at: datetime | None
    published_by: str
    ended: str  # how it stopped being live or the draft: superseded, unpublished (reason), ...


def revision_list(*, product: Product) -> list[Revision]:
    """The product's revisions, newest first, with who made each, when and why (two queries)."""
    descriptions = list(
        Description.objects.filter(product=product).order_by("-created_at", "-id").select_related("run")
    )
    events: dict[int, list[AuditEvent]] = {d.pk: [] for d in descriptions}
    for event in (
        AuditEvent.objects.filter(description_id__in=list(events)).select_related("actor").order_by("created_at", "id")
    ):
        events[event.description_id].append(event)
    return [_revision(description, events[description.pk]) for description in descriptions]


def _revision(description: Description, events: list[AuditEvent]) -> Revision:
    def who(event: AuditEvent | None) -> str:
        return event.actor.get_username() if event is not None and event.actor is not None else "system"

    created = next((e for e in events if e.action in CREATED_BY), None)
    published = next((e for e in reversed(events) if e.after.get("status") == S.PUBLISHED), None)
    ended = next((e for e in reversed(events) if e.after.get("status") == S.ARCHIVED), None)
    if created is not None and created.action == AuditAction.REVISION_REVERTED:
        why = f"Reverted to revision {created.before.get('source')}" + (f": {created.note}" if created.note else "")
    elif created is not None and created.action == AuditAction.QA_SENT_BACK:
        why = f"Sent back by a QA review of revision {created.before.get('source')}: {created.note}"
    elif description.run_id:
        why = f"Generated by run {description.run_id}"
    else:
        why = "Generated"
    ending = ""
    if ended is not None:
        ending = (
            ENDED_BY.get(ended.action, audit_action_label(ended.action))
            + f" by {who(ended)}"
            + (f": {ended.note}" if ended.note else "")
        )
    return Revision(
        description=description,
        is_live=description.status == S.PUBLISHED,
        is_draft=description.status in DRAFT_STATUSES,
        created_at=created.created_at if created else description.created_at,
        created_by=who(created),
        why=why,
        published_at=description.published_at,
        published_by=who(published) if published else "",
        ended=ending,
    )

"""A description's history: its audit rows with labels and text diffs. The one reader of the
audit log for a description (it is never read back as working state)."""

import difflib
import re
from dataclasses import dataclass

from reviewq.core.audit import audit_action_label
from reviewq.core.models import AuditEvent, Description

# --- History -----------------------------------------------------------------------------


_DIFF_PIECES = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    event: AuditEvent
    label: str
    actor: str
    diff: list[tuple[str, str]]  # (op, text): op is "same", "del" or "ins"


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


def description_history(*, description: Description) -> list[HistoryEntry]:
    """Every audited change to the description, newest first, with a text diff where the
    change touched text: a sentence's before/after, or the description's text against the
    text before it."""
    events = list(
        AuditEvent.objects.filter(description=description).select_related("actor").order_by("created_at", "id")
    )
    entries = []
    last_text = ""
    for event in events:
        diff: list[tuple[str, str]] = []
        if event.sentence_index is not None and "text" in event.after:
            diff = text_diff(str(event.before.get("text", "")), str(event.after["text"]))
        elif "text" in event.after:
            diff = text_diff(last_text, str(event.after["text"]))
            last_text = str(event.after["text"])
        entries.append(
            HistoryEntry(
                event=event,
                label=audit_action_label(event.action),
                actor=event.actor.get_username() if event.actor else "system",
                diff=diff,
            )
        )
    entries.reverse()
    return entries

"""Description.status has one door (reviewq/core/transitions.py), and the audit log one registry
of actions and one set of readers: these tests read the source and fail on a second door."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCANNED = ("reviewq", "generation")
THE_DOOR = "reviewq/core/transitions.py"
# Models whose own `status` is not Description's: their writes are theirs.
OTHER_STATUS_MODELS = {"GenerationRun", "SentenceRegeneration", "QASample"}
WRITE_METHODS = {"update", "create", "get_or_create", "update_or_create", "bulk_create", "bulk_update"}
RAW_STATUS_SQL = re.compile(r"UPDATE\s+\"?reviewq_description\"?\s", re.IGNORECASE)


def _app_files():
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if "/migrations/" not in relative:
                yield relative, path.read_text()


def _call_name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _root_name(node: ast.expr) -> str:
    """`Description` for Description.objects.filter(...).update: the name the chain starts from."""
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        elif isinstance(node, ast.Name):
            return node.id
        else:
            return ""


def _sets_status(call: ast.Call) -> bool:
    for keyword in call.keywords:
        if keyword.arg == "status":
            return True
        if (
            keyword.arg is None
            and isinstance(keyword.value, ast.Dict)
            and any(isinstance(k, ast.Constant) and k.value == "status" for k in keyword.value.keys)
        ):
            return True
    return False


def status_writes(source: str) -> list[str]:
    """Every place in `source` that writes Description.status (or creates a Description) or could,
    as "line: what". Conservative: a `.update(status=...)` on anything but another model with a
    status of its own counts."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Attribute) and t.attr == "status" for t in targets):
                found.append(f"{node.lineno}: assigns .status")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and RAW_STATUS_SQL.search(node.value):
            found.append(f"{node.lineno}: raw UPDATE of reviewq_description")
        elif isinstance(node, ast.Call):
            name, root = _call_name(node.func), _root_name(node.func)
            if name in WRITE_METHODS and root not in OTHER_STATUS_MODELS and _sets_status(node):
                found.append(f"{node.lineno}: .{name}(status=...)")
            elif name in WRITE_METHODS and root == "Description":
                if name != "update" or any(k.arg is None for k in node.keywords):
                    found.append(f"{node.lineno}: Description.objects.{name}(...)")
            elif name == "Description" and any(k.arg not in ("pk", "id") for k in node.keywords):
                found.append(f"{node.lineno}: builds a Description row")
            elif name in ("rows_insert", "rows_update") and node.args and _root_name(node.args[0]) == "Description":
                found.append(f"{node.lineno}: {name}(Description, ...)")
            elif name == "setattr" and len(node.args) > 1 and getattr(node.args[1], "value", None) == "status":
                found.append(f"{node.lineno}: setattr(..., 'status', ...)")
            elif name == "save" and any(
                k.arg == "update_fields" and "status" in ast.unparse(k.value) for k in node.keywords
            ):
                found.append(f"{node.lineno}: save(update_fields=[... 'status' ...])")
    return found


def test_only_transitions_writes_description_status():
    writers = {
        relative: hits for relative, source in _app_files() if relative != THE_DOOR and (hits := status_writes(source))
    }
    assert writers == {}, "Description.status is written outside reviewq/core/transitions.py"


def test_the_door_itself_is_found_by_the_scanner():
    # The scanner sees the real writes: transitions.py is full of them.
    assert status_writes((ROOT / THE_DOOR).read_text())


@pytest.mark.parametrize(
    "planted",
    [
        "Description.objects.filter(pk=1).update(status='published')",
        "rows.filter(status=S.QUEUED).update(status=S.FAILED, version=F('version') + 1)",
        "qs.update(**{'status': 'review'})",
        "Description.objects.filter(pk=1).update(**fields)",
        "Description.objects.bulk_create([Description(product_id=1, status='queued')])",
        "Description.objects.create(product=product)",
        "description.status = 'published'\ndescription.save()",
        "description.save(update_fields=['status', 'version'])",
        "setattr(description, 'status', 'failed')",
        "rows_update(Description, match=('version',), assign=('status',), rows=rows)",
        "cursor.execute('UPDATE reviewq_description SET status = %s', ['queued'])",
    ],
)
def test_the_scanner_catches_a_planted_second_door(planted):
    assert status_writes(f"def sneaky():\n    {planted.replace(chr(10), chr(10) + '    ')}\n")


@pytest.mark.parametrize(
    "innocent",
    [
        "GenerationRun.objects.filter(pk=1).update(status=R.FINISHED)",
        "SentenceRegeneration.objects.filter(pk=1).update(status=R.DONE)",
        "render(request, 'page.html', context, status=400)",
        "Description.objects.filter(status=S.REVIEW).update(version=F('version') + 1)",
        "description_review_claim(description=Description(pk=pk), reviewer=user)",
    ],
)
def test_the_scanner_leaves_other_status_fields_alone(innocent):
    assert status_writes(innocent) == []


# --- The audit log: one registry of actions, read by History (and displays) only ------------

# Who may query the audit log: the log itself, History, and the admin's displays.
AUDIT_READERS = {
    "reviewq/core/audit.py",
    "reviewq/review/history.py",
    "reviewq/dashboard/views.py",  # the thresholds page's "last change" display
    "reviewq/dashboard/calibration.py",  # review durations on the dashboard
    "reviewq/dashboard/qa.py",  # per-reviewer items decided and median time claim -> decision
    "reviewq/dashboard/admin.py",
}


def action_literals(source: str) -> list[str]:
    """`action="..."` / `action__in=(...)` given as string literals rather than AuditAction members
    (argparse's add_argument(action="store_true") aside)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or _call_name(node.func) == "add_argument":
            continue
        for keyword in node.keywords:
            if keyword.arg in ("action", "action__in"):
                for value in ast.walk(keyword.value):
                    if isinstance(value, ast.Constant) and isinstance(value.value, str):
                        found.append(f"{node.lineno}: {keyword.arg}={value.value!r}")
    return found


def test_audit_actions_are_named_through_the_registry():
    literals = {relative: hits for relative, source in _app_files() if (hits := action_literals(source))}
    assert literals == {}, "name audit actions with reviewq.core.audit.AuditAction"


def test_the_action_scanner_catches_a_literal():
    assert action_literals("audit_record(action='sentence_approved', actor=user)")
    assert action_literals("AuditEvent.objects.filter(action__in=('a', AuditAction.GENERATED))")
    assert action_literals("audit_record(action=AuditAction.GENERATED)") == []
    assert action_literals("parser.add_argument('--x', action='store_true')") == []


def test_only_history_and_displays_read_the_audit_log():
    readers = {relative for relative, source in _app_files() if "AuditEvent.objects" in source}
    assert readers <= AUDIT_READERS, f"the audit log is read as state by {sorted(readers - AUDIT_READERS)}"

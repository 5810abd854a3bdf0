"""Login throttling (django-axes) on /login/ and /admin/login/: by username and by address."""

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
LOGIN_PAGES = ("login", "admin:login")


def attempt(client: Client, page: str, username: str, password: str, ip: str = "10.0.0.1"):
    return client.post(reverse(page), {"username": username, "password": password}, REMOTE_ADDR=ip)


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_locked_out_after_n_failures_even_with_the_right_password(page):
    UserFactory(username="victim", password="right-password-1", is_staff=True)
    client = Client()
    limit = settings.AXES_FAILURE_LIMIT
    for _ in range(limit - 1):
        assert attempt(client, page, "victim", "wrong").status_code == 200  # the form again, with its error
    locked = attempt(client, page, "victim", "wrong")
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode() and "axes_reset" in locked.content.decode()
    # Locked: the right password does not help now, from here or from anywhere else.
    assert attempt(client, page, "victim", "right-password-1").status_code == 429
    assert attempt(Client(), page, "victim", "right-password-1", ip="10.9.9.9").status_code == 429


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_one_address_guessing_many_usernames_is_locked_out(page):
    UserFactory(username="other", password="right-password-1", is_staff=True)
    client = Client()
    for n in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, page, f"guess{n}", "wrong", ip="10.0.0.2")
    assert attempt(client, page, "other", "right-password-1", ip="10.0.0.2").status_code == 429
    assert attempt(Client(), page, "other", "right-password-1", ip="10.0.0.3").status_code == 302  # elsewhere: fine


def test_a_refused_login_does_not_hash_the_password(monkeypatch):
    """Locked out, the attempt never reaches the password hasher (the costly part)."""
    from django.contrib.auth.hashers import MD5PasswordHasher

    UserFactory(username="victim", password="right-password-1")
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "login", "victim", "wrong")
    calls = []
    monkeypatch.setattr(MD5PasswordHasher, "verify", lambda self, *a: calls.append(a) or False)
    monkeypatch.setattr(MD5PasswordHasher, "encode", lambda self, *a, **k: calls.append(a) or "md5$x$y")
    assert attempt(client, "login", "victim", "guess").status_code == 429
    assert calls == []


def test_axes_reset_unlocks():
    UserFactory(username="victim", password="right-password-1")
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "login", "victim", "wrong")
    assert attempt(client, "login", "victim", "right-password-1").status_code == 429
    call_command("axes_reset", verbosity=0)
    assert attempt(client, "login", "victim", "right-password-1").status_code == 302


def test_the_client_address_behind_a_trusted_proxy(settings):
    from django.test import RequestFactory

    from reviewq.security import client_ip

    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7")
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(request) == "10.0.0.9"  # no proxy configured: a client-sent header is ignored
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_ip(request) == "203.0.113.7"  # the entry our proxy appended, not the spoofed one

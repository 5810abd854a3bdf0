"""Project-level security wiring named in settings: login throttling, the client address behind a
proxy, and what an error report may show."""

import re

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.http import HttpRequest
from django.views.debug import SafeExceptionReporterFilter


class LoginThrottleBackend(AxesStandaloneBackend):
    """django-axes' lockout check, for web logins only: a call without a request (a shell, the
    test client's login()) is not a guess over the network, so it is not counted or refused."""

    def authenticate(self, request: HttpRequest | None, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address for login throttling. Behind TRUSTED_PROXY_COUNT proxies that each
    append to X-Forwarded-For, it is that many entries from the right (anything further left was
    sent by the client and cannot be trusted); with no proxy, REMOTE_ADDR."""
    count = settings.TRUSTED_PROXY_COUNT
    if count > 0:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        if len(hops) >= count:
            return hops[-count]
    return request.META.get("REMOTE_ADDR")


class SettingsMaskingFilter(SafeExceptionReporterFilter):
    """Django masks names matching API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE (so every
    *_KEY, *_PASSWORD and DATABASES' PASSWORD); this adds every *_URL setting (DATABASE_URL,
    CELERY_BROKER_URL and REDIS_URL may carry a password) and, whatever a setting is called,
    the password inside any "scheme://user:password@host" value (a cache LOCATION, say)."""

    hidden_settings = re.compile(r"API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|_URL$|DSN", flags=re.IGNORECASE)

    def cleanse_setting(self, key, value):
        if isinstance(key, str) and key.upper() in SAFE_URL_SETTINGS:
            return value
        value = super().cleanse_setting(key, value)
        if isinstance(value, str) and "@" in value:
            value = URL_PASSWORD.sub(rf"\1{self.cleansed_substitute}@", str(value))
        return value


# Not secrets: where static files and the login page live.
SAFE_URL_SETTINGS = frozenset({"STATIC_URL", "MEDIA_URL", "LOGIN_URL", "LOGIN_REDIRECT_URL", "LOGOUT_REDIRECT_URL"})
URL_PASSWORD = re.compile(r"(\w[\w+.-]*://[^:/@\s]*:)[^@\s]*@")

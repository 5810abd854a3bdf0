"""Every URL pattern x GET/POST x anonymous / no role / reviewer / editor / admin.

The URLs come from get_resolver(), so a new view (or a new admin model) fails
`test_table_covers_every_url_pattern` until its expected access is written down in ACCESS.
"""

import os
import re
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.resolvers import RegexPattern
from django.utils import timezone

from reviewq.core.models import (
    ApiToken,
    AuditEvent,
    Comment,
    DescriptionStatus,
    ErrorCategory,
    GenerationRun,
    QASample,
    QAVerdict,
    Sentence,
    Thresholds,
    Token,
)
from reviewq.core.roles import roles_ensure
from tests.factories import UserFactory
from tests.reviewq.review_data import make_review_description

ROOT = Path(__file__).resolve().parents[2]
ROLES = ("anonymous", "norole", "reviewer", "editor", "admin")
METHODS = ("GET", "POST")
STAFF = frozenset({"reviewer", "editor", "admin"})
EDITORS = frozenset({"editor", "admin"})
ADMINS = frozenset({"admin"})
EVERYONE = frozenset({"norole", "reviewer", "editor", "admin"})


@dataclass(frozen=True)
class Rule:
    """Who may use a URL. kind: "app" (LoginRequiredMiddleware, then method, then permission),
    "public" (login not required), "token" (API: bearer token only), "site" (Django admin:
    staff only, then the model permission)."""

    kind: str = "app"
    roles: frozenset = STAFF
    methods: tuple = ("GET",)
    admin_forbidden: frozenset = field(default_factory=frozenset)  # site: methods the admin role may not use
    special: tuple = ()  # ((role, method, outcome), ...) exceptions to the kind's rule


def expected(rule: Rule, role: str, method: str) -> str:
    for who, how, outcome in rule.special:
        if who in (role, "*") and how in (method, "*"):
            return outcome
    if rule.kind == "token":
        return "unauthorized" if method in rule.methods else "method_not_allowed"
    if rule.kind == "public":
        return "allowed" if method in rule.methods else "method_not_allowed"
    if rule.kind == "site":
        if role != "admin":  # only the admin role is staff
            return "login"
        return "forbidden" if method in rule.admin_forbidden else "allowed"
    if role == "anonymous":
        return "login"
    if method not in rule.methods:
        return "method_not_allowed"
    return "allowed" if role in rule.roles else "forbidden"


BOTH = ("GET", "POST")
POST = ("POST",)
APP = {
    "home": Rule(roles=EVERYONE),
    "login": Rule(kind="public", methods=BOTH),
    "logout": Rule(roles=EVERYONE, methods=POST),
    "queue": Rule(),
    "queue_next": Rule(methods=POST),
    "queue_open": Rule(methods=POST),
    "queue_bulk": Rule(methods=POST),
    "queue_filter_save": Rule(methods=POST),
    "queue_filter_delete": Rule(methods=POST),
    "queue_assign": Rule(roles=EDITORS, methods=POST),
    "review": Rule(),
    "review_decide": Rule(methods=POST),
    "review_revision": Rule(methods=POST),
    "review_sentence": Rule(methods=POST),
    "review_comment": Rule(methods=POST),
    # The second (QA) review: reviewers; the sample's first reviewer is someone else.
    "qa_queue": Rule(),
    "qa_review": Rule(methods=BOTH),
    "qa_take": Rule(methods=POST),
    "catalog_list": Rule(roles=EDITORS),
    "catalog_upload": Rule(roles=EDITORS, methods=BOTH),
    "catalog_upload_preview": Rule(roles=EDITORS, methods=BOTH),
    "catalog_upload_mapping": Rule(roles=EDITORS, methods=POST),
    "catalog_upload_cancel": Rule(roles=EDITORS, methods=POST),
    "catalog_detail": Rule(roles=EDITORS),
    "run_create": Rule(roles=EDITORS, methods=POST),
    "catalog_guidelines": Rule(roles=EDITORS, methods=POST),
    "run_detail": Rule(roles=EDITORS),
    "run_cancel": Rule(roles=EDITORS, methods=POST),
    "run_retry": Rule(roles=EDITORS, methods=POST),
    "thresholds": Rule(roles=ADMINS, methods=BOTH),
    "thresholds_catalog": Rule(roles=ADMINS, methods=BOTH),
    "calibration": Rule(roles=ADMINS),
    "gate_model": Rule(roles=ADMINS),
    "gate_model_fit": Rule(roles=ADMINS, methods=POST),
    "gate_model_adopt": Rule(roles=ADMINS, methods=POST),
    "gate_model_revert": Rule(roles=ADMINS, methods=POST),
    "gate_labels_export": Rule(roles=ADMINS),
    "dashboard": Rule(roles=EDITORS),
    "qa_agreement": Rule(roles=ADMINS),
    "qa_rates": Rule(roles=ADMINS, methods=POST),
    "qa_resolve": Rule(roles=ADMINS, methods=POST),
    "users": Rule(roles=ADMINS, methods=BOTH),
    "user_update": Rule(roles=ADMINS, methods=POST),
    # An invited user's one-time set-password link (an unknown token shows "invalid link").
    "password_reset_confirm": Rule(kind="public", methods=BOTH),
    "password_reset_complete": Rule(kind="public"),
    "catalog_export": Rule(roles=EDITORS),
    "api_catalogs": Rule(kind="token"),
    "api_products": Rule(kind="token"),
    "api_description": Rule(kind="token"),
    # Any other path under /api/v1/: a JSON 404 for everyone.
    "api_not_found": Rule(kind="public", methods=BOTH),
}
SITE = Rule(kind="site")
SITE_READ_ONLY = Rule(kind="site", admin_forbidden=frozenset(BOTH))
ADMIN_SITE = {
    "admin:index": SITE,
    "admin:login": Rule(kind="public", methods=BOTH),
    # Anyone may log out (POST); a non-staff user is sent to the admin index, not the login.
    "admin:logout": Rule(
        kind="site",
        special=(("anonymous", "*", "login"), ("admin", "GET", "method_not_allowed"), ("*", "*", "allowed")),
    ),
    "admin:password_change": SITE,
    "admin:password_change_done": Rule(kind="site", special=(("admin", "POST", "method_not_allowed"),)),
    # Without a valid field reference the autocomplete view refuses everyone.
    "admin:autocomplete": Rule(
        kind="site", special=(("admin", "GET", "forbidden"), ("admin", "POST", "method_not_allowed"))
    ),
    "admin:jsi18n": Rule(kind="site", special=(("admin", "POST", "method_not_allowed"),)),
    "admin:view_on_site": SITE,
    "admin:app_list": SITE,
    "admin:admin/(?P<url>.*)$": SITE,
}
# Per admin model: which of its pages the admin role may not use. Generated data, runs, API
# tokens and the audit log are read-only in the admin (tokens are made with `manage.py
# api_token`); the admin role may view groups but not change them. Descriptions cannot be
# added or changed there but may be deleted (which also deletes their audit rows).
READ_ONLY = {"add": BOTH, "change": POST, "delete": BOTH}
FORBIDDEN = dict.fromkeys(("changelist", "add", "history", "delete", "change"), BOTH)
ADMIN_MODELS = {
    "auth_group": READ_ONLY,
    "auth_user": {"delete": BOTH},
    "reviewq_catalog": {},
    "reviewq_product": {},
    "reviewq_description": {"add": BOTH, "change": POST},
    "reviewq_sentence": READ_ONLY,
    "reviewq_token": READ_ONLY,
    "reviewq_thresholds": {},
    "reviewq_errorcategory": {},
    "reviewq_comment": READ_ONLY,
    "reviewq_auditevent": READ_ONLY,
    "reviewq_generationrun": READ_ONLY,
    "reviewq_apitoken": READ_ONLY,
    # django-axes' login attempts: superusers only (the admin role has no axes permission).
    "axes_accessattempt": FORBIDDEN,
    "axes_accesslog": FORBIDDEN,
    "axes_accessfailurelog": FORBIDDEN,
}
for model, refused in ADMIN_MODELS.items():
    for page in ("changelist", "add", "history", "delete", "change"):
        ADMIN_SITE[f"admin:{model}_{page}"] = Rule(kind="site", admin_forbidden=frozenset(refused.get(page, ())))
    ADMIN_SITE[f"admin:admin/{model.replace('_', '/', 1)}/<path:object_id>/"] = SITE
# The admin role may change only its own password in the admin; `objects["user"]` is a reviewer.
ADMIN_SITE["admin:auth_user_password_change"] = Rule(kind="site", admin_forbidden=frozenset(BOTH))
ACCESS = {**APP, **ADMIN_SITE}


# --- enumerating the URL conf ------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    key: str  # "name", "namespace:name", or "namespace:route" for an unnamed pattern
    name: str | None
    route: str
    converters: dict
    regex: bool


def url_routes(resolver=None, prefix: str = "", namespace: str | None = None):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = (
                f"{namespace}:{entry.namespace}" if namespace and entry.namespace else (entry.namespace or namespace)
            )
            yield from url_routes(entry, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            full = prefix + str(entry.pattern)
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            key = name or f"{namespace}:{full}"
            yield Route(
                key, name, full, dict(getattr(entry.pattern, "converters", {})), isinstance(entry.pattern, RegexPattern)
            )


def dummy_kwargs(route: Route, objects: dict) -> dict:
    """A value per converter: real primary keys where the URL names an object."""
    kwargs = {}
    for kw, converter in route.converters.items():
        kind = type(converter).__name__
        if kw in ("pk", "catalog_pk"):
            name = route.name or ""
            if name.startswith(("review", "api_description")):
                value = objects["description"]
            elif name in ("qa_review", "qa_take"):
                value = objects["qa_sample"]
            elif name == "qa_resolve":
                value = objects["qa_verdict"]
            elif name.startswith("run_") and name != "run_create":
                value = objects["run"]
            else:
                value = objects["catalog"]
        elif kw == "object_id":
            model = route.route.split("/")[2]
            value = objects.get(model, 1)
        elif kw == "index":
            value = 1
        elif kw == "fmt":
            value = "csv"
        elif kw == "id":
            value = objects["user"]
        elif kw == "content_type_id" or kind == "IntConverter":
            value = 1
        else:
            value = "x" * 20
        kwargs[kw] = str(converter.to_url(value))
    return kwargs


def route_url(route: Route, objects: dict) -> str:
    if route.key == "admin:admin/(?P<url>.*)$":
        return "/admin/no-such-page/"
    if route.key == "api_not_found":
        return "/api/v1/no-such-endpoint/"
    if route.regex:  # admin:app_list
        return reverse(route.name, kwargs={"app_label": "reviewq"})
    kwargs = dummy_kwargs(route, objects)
    if route.name:
        return reverse(route.name, kwargs=kwargs)
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: kwargs[m.group(1)], route.route)


def test_table_covers_every_url_pattern():
    keys = {route.key for route in url_routes()}
    assert len(keys) > 80  # the walk really saw the app and the admin site
    assert sorted(keys - ACCESS.keys()) == [], "URL patterns with no expected access in ACCESS"
    assert sorted(ACCESS.keys() - keys) == [], "ACCESS entries for URL patterns that no longer exist"


# --- the matrix --------------------------------------------------------------------------------


@pytest.fixture
def objects(db):
    roles_ensure()
    description = make_review_description()
    catalog = description.product.catalog
    run = GenerationRun.objects.create(catalog=catalog)
    users = {}
    for role in ROLES[1:]:
        user = UserFactory(username=f"matrix-{role}", is_staff=(role == "admin"))
        if role != "norole":
            user.groups.add(Group.objects.get(name=role))
        users[role] = user
    sentence = Sentence.objects.filter(description=description).first()
    thresholds, _ = Thresholds.objects.get_or_create(catalog=None)
    token = ApiToken.objects.create(
        user=users["admin"], name="t", key_hash="0" * 64, prefix="rq_x", expires_at=timezone.now() + timedelta(days=1)
    )
    event = AuditEvent.objects.create(action="matrix")
    comment = Comment.objects.create(description=description, author=users["reviewer"], text="matrix")
    sampled = make_review_description(status=DescriptionStatus.PUBLISHED)
    qa_sample = QASample.objects.create(description=sampled, reason="auto", draw=0.1, rate=0.5)
    qa_verdict = QAVerdict.objects.create(
        sample=qa_sample, sentence=sampled.sentences.first(), verdict="wrong", decided_at=timezone.now()
    )
    who = {"username": "x", "ip_address": "10.0.0.1"}
    axes_rows = {
        "accessattempt": AccessAttempt.objects.create(**who, failures_since_start=1).pk,
        "accessfailurelog": AccessFailureLog.objects.create(**who).pk,
        "accesslog": AccessLog.objects.create(**who).pk,
    }
    return {
        "description": description.pk,
        "catalog": catalog.pk,
        "run": run.pk,
        "user": users["reviewer"].pk,
        "users": users,
        "group": Group.objects.get(name="reviewer").pk,
        "product": description.product_id,
        "sentence": sentence.pk,
        "token": Token.objects.filter(description=description).first().pk,
        "thresholds": thresholds.pk,
        "auditevent": event.pk,
        "generationrun": run.pk,
        "apitoken": token.pk,
        "comment": comment.pk,
        "errorcategory": ErrorCategory.objects.get(key="5").pk,
        "qa_sample": qa_sample.pk,
        "qa_verdict": qa_verdict.pk,
        **axes_rows,
    }


def observed(response) -> str:
    if response.status_code >= 500:
        return f"error {response.status_code}"
    if response.status_code in (401, 403, 405):
        return {401: "unauthorized", 403: "forbidden", 405: "method_not_allowed"}[response.status_code]
    location = response.get("Location", "") if response.status_code in (301, 302) else ""
    if location.startswith((reverse("login"), reverse("admin:login"))) and "next=" in location:
        return "login"
    return "allowed"


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(objects, role):
    user = objects["users"].get(role)
    wrong = []
    for route in url_routes():
        url = route_url(route, objects)
        rule = ACCESS[route.key]
        for method in METHODS:
            client = Client()
            if user is not None:
                client.force_login(user)
            response = client.generic(method, url)
            got, want = observed(response), expected(rule, role, method)
            if got != want:
                wrong.append(f"{method} {url} ({route.key}) as {role}: {got} ({response.status_code}), expected {want}")
    assert not wrong, "\n".join(wrong)


# --- CSRF ------------------------------------------------------------------------------------------


def test_every_post_without_a_csrf_token_is_refused(objects):
    """The admin role may POST almost everywhere: without the token every POST is refused."""
    checked = 0
    for route in url_routes():
        rule = ACCESS[route.key]
        if expected(rule, "admin", "POST") != "allowed":
            continue
        client = Client(enforce_csrf_checks=True)
        if route.key not in ("login", "admin:login"):
            client.force_login(objects["users"]["admin"])
        before = AuditEvent.objects.count()
        response = client.post(route_url(route, objects), {"action": "approve", "version": "1"})
        if route.key == "api_not_found":  # the token API uses no cookie, so it is CSRF-exempt
            assert response.status_code == 404 and response.json()["error"]
            continue
        assert response.status_code == 403, (route.key, response.status_code)
        assert b"CSRF verification failed" in response.content, route.key
        assert AuditEvent.objects.count() == before
        checked += 1
    assert checked >= 25


def test_post_with_the_csrf_token_is_accepted(objects):
    client = Client(enforce_csrf_checks=True)
    client.force_login(objects["users"]["reviewer"])
    client.get(reverse("queue"))
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    response = client.post(reverse("queue_next"), {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    response = client.post(reverse("catalog_upload"), {"csrfmiddlewaretoken": token})
    assert (
        response.status_code == 403 and b"CSRF verification failed" not in response.content
    )  # a reviewer: permission, not CSRF


def test_upload_view_checks_csrf_after_installing_its_size_limit(objects):
    """catalog_upload is csrf_exempt on the outside only so it can add its upload handler first."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(objects["users"]["editor"])
    response = client.post(reverse("catalog_upload"), {"catalog_name": "x"})
    assert response.status_code == 403 and b"CSRF verification failed" in response.content


# --- production settings ---------------------------------------------------------------------------


def production_env(tmp_path, **extra) -> dict:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "reviewq.settings",
        "REVIEWQ_DATA_DIR": str(tmp_path / "data"),
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "reviewq.example.com",
        "SECURE_SSL_REDIRECT": "1",
        "SECURE_HSTS_SECONDS": "31536000",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
        "SECURE_HSTS_PRELOAD": "1",
        **extra,
    }


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_catches_a_weak_production_setup(tmp_path):
    """The check above can fail: HSTS off and a short key are reported."""
    env = production_env(tmp_path, SECURE_HSTS_SECONDS="0", SECRET_KEY="short")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "security.W004" in result.stderr and "security.W009" in result.stderr


def test_session_and_password_hardening():
    from django.contrib.auth.password_validation import get_default_password_validators, validate_password
    from django.core.exceptions import ValidationError

    assert settings.SESSION_COOKIE_HTTPONLY and settings.SESSION_COOKIE_AGE <= 24 * 3600
    assert settings.X_FRAME_OPTIONS == "DENY" and settings.SECURE_CONTENT_TYPE_NOSNIFF
    assert len(get_default_password_validators()) >= 4
    for weak in ("password", "12345678", "short"):
        with pytest.raises(ValidationError):
            validate_password(weak)


# --- privilege escalation by the admin role ---------------------------------------------------


def _change_form(user, **extra) -> dict:
    """A complete POST for the admin's user change page, as the browser would send it."""
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on",
        "groups": [str(g.pk) for g in user.groups.all()],
        "last_login_0": "",
        "last_login_1": "",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }
    data.update(extra)
    return data


@pytest.fixture
def admin_role(objects):
    client = Client()
    client.force_login(objects["users"]["admin"])
    return client


def test_admin_role_cannot_make_itself_superuser(objects, admin_role):
    from django.contrib.auth.models import Permission

    me = objects["users"]["admin"]
    perm = Permission.objects.get(codename="delete_user")
    url = reverse("admin:auth_user_change", args=[me.pk])
    response = admin_role.post(
        url,
        _change_form(me, first_name="Mallory", is_superuser="on", is_staff="on", user_permissions=[str(perm.pk)]),
    )
    assert response.status_code == 302, response.content.decode()[:2000]  # the form saved ...
    me.refresh_from_db()
    assert me.first_name == "Mallory"
    assert not me.is_superuser and not me.user_permissions.exists()  # ... without the privileges


def test_admin_role_cannot_make_others_staff(objects, admin_role):
    other = objects["users"]["reviewer"]
    url = reverse("admin:auth_user_change", args=[other.pk])
    response = admin_role.post(url, _change_form(other, first_name="Eve", is_staff="on", is_superuser="on"))
    assert response.status_code == 302
    other.refresh_from_db()
    assert other.first_name == "Eve" and not other.is_staff and not other.is_superuser


def test_admin_role_assigns_only_the_three_roles(objects, admin_role):
    from django.contrib.auth.models import Permission

    powerful = Group.objects.create(name="powerful")
    powerful.permissions.add(Permission.objects.get(codename="delete_user"))
    other = objects["users"]["reviewer"]
    url = reverse("admin:auth_user_change", args=[other.pk])
    response = admin_role.post(url, _change_form(other, groups=[str(powerful.pk)]))
    assert response.status_code == 200 and "groups" in response.context["adminform"].form.errors
    assert not other.groups.filter(pk=powerful.pk).exists()
    editor = Group.objects.get(name="editor")
    assert admin_role.post(url, _change_form(other, groups=[str(editor.pk)])).status_code == 302
    assert list(other.groups.values_list("name", flat=True)) == ["editor"]


def test_admin_role_cannot_edit_a_superuser_or_change_passwords(objects, admin_role):
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    old_hash = root.password
    change = admin_role.post(reverse("admin:auth_user_change", args=[root.pk]), _change_form(root, is_active=""))
    assert change.status_code == 403
    for target in (root, objects["users"]["reviewer"]):
        before = target.password
        url = reverse("admin:auth_user_password_change", args=[target.pk])
        response = admin_role.post(url, {"password1": "N3w-pass-phrase!", "password2": "N3w-pass-phrase!"})
        assert response.status_code == 403
        target.refresh_from_db()
        assert target.password == before
    root.refresh_from_db()
    assert root.is_active and root.password == old_hash
    # Its own password: allowed.
    me = objects["users"]["admin"]
    own = admin_role.post(
        reverse("admin:auth_user_password_change", args=[me.pk]),
        {"password1": "N3w-pass-phrase!", "password2": "N3w-pass-phrase!", "usable_password": "true"},
    )
    assert own.status_code == 302


def test_a_superuser_still_grants_privileges(objects):
    client = Client()
    client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True))
    other = objects["users"]["reviewer"]
    response = client.post(reverse("admin:auth_user_change", args=[other.pk]), _change_form(other, is_staff="on"))
    assert response.status_code == 302
    other.refresh_from_db()
    assert other.is_staff

"""Read-only JSON API: token auth (Bearer, hash only stored, revocation), pagination, shapes;
the api_token command."""

import hashlib
import io
import re

import pytest
from django.core.management import call_command
from django.urls import reverse

from reviewq.catalogs.api import api_token_create, api_token_revoke
from reviewq.core.models import ApiToken, AuditEvent, DescriptionStatus
from tests.factories import CatalogFactory, ProductFactory, UserFactory
from tests.reviewq.editor_data import make_description, role_user

pytestmark = pytest.mark.django_db
S = DescriptionStatus


@pytest.fixture
def key():
    _, key = api_token_create(user=role_user("reviewer"), name="shop sync")
    return key


def _get(client, url, key=None, **params):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    return client.get(url, params, **headers)


# --- auth -----------------------------------------------------------------------------------


def test_only_the_hash_is_stored_and_the_key_authenticates(client, key):
    token = ApiToken.objects.get()
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest() and key not in token.key_hash
    assert token.prefix == key[:8]
    response = _get(client, reverse("api_catalogs"), key)
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert AuditEvent.objects.filter(action="api_token_created").exists()


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer rq_wrong", "Token {key}", "Basic dXNlcjpwdw==", "Bearer {key}x"],
)
def test_missing_or_wrong_credentials_are_401(client, key, header):
    headers = {"HTTP_AUTHORIZATION": header.format(key=key)} if header else {}
    response = client.get(reverse("api_products"), **headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer") and "error" in response.json()


def test_revoked_tokens_and_inactive_users_are_refused(client, key):
    token = ApiToken.objects.get()
    token.user.is_active = False
    token.user.save()
    assert _get(client, reverse("api_products"), key).status_code == 401
    token.user.is_active = True
    token.user.save()
    assert _get(client, reverse("api_products"), key).status_code == 200
    assert api_token_revoke(token=token) is True and api_token_revoke(token=token) is False
    assert _get(client, reverse("api_products"), key).status_code == 401


def test_a_user_without_read_permission_gets_403(client):
    _, key = api_token_create(user=UserFactory(), name="no role")
    assert _get(client, reverse("api_products"), key).status_code == 403


def test_a_session_is_not_enough_and_writes_are_refused(client, key):
    client.force_login(role_user("admin"))
    assert client.get(reverse("api_products")).status_code == 401
    response = client.post(reverse("api_products"), HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 405


# --- pagination and shapes ------------------------------------------------------------------


def test_products_are_paginated_with_links(client, key):
    catalog = CatalogFactory()
    for i in range(5):
        ProductFactory(catalog=catalog, sku=f"P-{i}")
    url = reverse("api_products")
    first = _get(client, url, key, catalog=catalog.pk, page_size=2).json()
    assert first["count"] == 5 and first["page"] == 1 and first["previous"] is None
    assert [p["sku"] for p in first["results"]] == ["P-0", "P-1"]
    second = client.get(first["next"], HTTP_AUTHORIZATION=f"Bearer {key}").json()
    assert [p["sku"] for p in second["results"]] == ["P-2", "P-3"] and second["previous"]
    last = _get(client, url, key, catalog=catalog.pk, page_size=2, page=3).json()
    assert [p["sku"] for p in last["results"]] == ["P-4"] and last["next"] is None
    beyond = _get(client, url, key, catalog=catalog.pk, page_size=2, page=9).json()
    assert beyond["results"] == [] and beyond["next"] is None
    assert _get(client, url, key, page_size="x").status_code == 400
    assert _get(client, url, key, page=0).status_code == 400


def test_page_size_is_capped(client, key, settings):
    settings.API_MAX_PAGE_SIZE = 3
    catalog = CatalogFactory()
    for i in range(5):
        ProductFactory(catalog=catalog, sku=f"P-{i}")
    body = _get(client, reverse("api_products"), key, page_size=100).json()
    assert body["page_size"] == 3 and len(body["results"]) == 3


def test_products_show_status_and_only_published_text(client, key):
    catalog = CatalogFactory(name="Shop")
    published = make_description(catalog=catalog, status=S.PUBLISHED)
    in_review = make_description(catalog=catalog)
    ProductFactory(catalog=catalog, sku="ZZ-none")
    body = _get(client, reverse("api_products"), key, catalog="Shop").json()
    by_sku = {p["sku"]: p for p in body["results"]}
    assert by_sku[published.product.sku]["published_text"] == published.text
    assert by_sku[published.product.sku]["status"] == "published"
    assert (
        by_sku[in_review.product.sku]["published_text"] is None and by_sku[in_review.product.sku]["status"] == "review"
    )
    assert by_sku["ZZ-none"]["status"] == "not_generated" and by_sku["ZZ-none"]["description_url"] is None
    assert set(by_sku[published.product.sku]) >= {"id", "sku", "name", "catalog", "published_at", "description_url"}
    only = _get(client, reverse("api_products"), key, status="published").json()
    assert [p["sku"] for p in only["results"]] == [published.product.sku]
    assert _get(client, reverse("api_products"), key, status="nope").status_code == 400


def test_description_has_sentences_with_scores_and_tokens_with_alternatives(client, key):
    description = make_description(
        status=S.REVIEW, sentences=[(-0.2, "publish", ""), (-1.8, "flag", "")], with_tokens=True
    )
    body = _get(client, reverse("api_description", args=[description.pk]), key).json()
    assert body["id"] == description.pk and body["status"] == "review" and body["published_text"] is None
    assert "not whether the text is true" in body["note"]
    first, second = body["sentences"]
    assert set(first) == {"index", "text", "current_text", "span", "band", "decision", "scores", "reasons"}
    assert first["span"] == [0, len(first["text"])] and second["span"][0] == first["span"][1]
    assert set(first["scores"]) == {"mean_logprob", "min_logprob", "critical_min_logprob", "risk"}
    assert second["band"] == "flag" and second["scores"]["mean_logprob"] == -1.8
    assert "a stored reason" in second["reasons"]
    assert any(r.startswith("mean logprob -1.8") for r in second["reasons"])  # threshold reason, derived
    tokens = body["tokens"]
    assert "".join(t["text"] for t in tokens) == description.text
    assert tokens[0]["alternatives"][0] == {"text": tokens[0]["text"], "logprob": -0.2}
    assert {t["sentence"] for t in tokens} == {0, 1}
    assert _get(client, reverse("api_description", args=[999999]), key).status_code == 404


def test_catalogs_list_counts(client, key):
    catalog = CatalogFactory(name="Shop")
    make_description(catalog=catalog, status=S.PUBLISHED)
    make_description(catalog=catalog)
    body = _get(client, reverse("api_catalogs"), key).json()
    assert body["results"] == [
        {
            "id": catalog.pk,
            "name": "Shop",
            "products": 2,
            "published": 1,
            "products_url": f"http://testserver{reverse('api_products')}?catalog={catalog.pk}",
        }
    ]


# --- command --------------------------------------------------------------------------------


def test_api_token_command_creates_lists_and_revokes(client):
    user = role_user("editor")
    out = io.StringIO()
    call_command("api_token", "create", "--user", user.username, "--name", "feed", stdout=out)
    key = re.search(r"^(rq_\S+)$", out.getvalue(), re.M).group(1)
    assert _get(client, reverse("api_catalogs"), key).status_code == 200
    listing = io.StringIO()
    call_command("api_token", "list", stdout=listing)
    assert key[:8] in listing.getvalue() and key not in listing.getvalue() and "active" in listing.getvalue()
    call_command("api_token", "revoke", key[:8], stdout=io.StringIO())
    assert _get(client, reverse("api_catalogs"), key).status_code == 401


# --- expiry, scope, JSON errors, bounded params, rate limit ---------------------------------


def test_tokens_expire(client, key):
    from datetime import timedelta

    from django.utils import timezone

    token = ApiToken.objects.get()
    assert timedelta(days=89) < token.expires_at - timezone.now() <= timedelta(days=90)
    assert token.scope == "read"
    long_ago = timezone.now() - timedelta(days=91)
    ApiToken.objects.filter(pk=token.pk).update(created_at=long_ago, expires_at=long_ago + timedelta(days=90))
    response = _get(client, reverse("api_catalogs"), key)
    assert response.status_code == 401 and "expired" in response.json()["error"]


def test_the_command_sets_the_expiry_and_refuses_a_missing_user():
    from datetime import timedelta

    from django.core.management.base import CommandError
    from django.utils import timezone

    user = role_user("reviewer")
    out = io.StringIO()
    call_command("api_token", "create", "--user", user.username, "--name", "feed", "--days", "7", stdout=out)
    token = ApiToken.objects.get()
    assert timedelta(days=6) < token.expires_at - timezone.now() <= timedelta(days=7)
    assert "expires" in out.getvalue()
    with pytest.raises(CommandError, match=r"No user named 'shop'.*invite one on the Users page"):
        call_command("api_token", "create", "--user", "shop", "--name", "shop sync")
    with pytest.raises(CommandError, match="1 to 3660 days"):
        call_command("api_token", "create", "--user", user.username, "--name", "x", "--days", "0")


def test_the_scope_is_constrained_in_the_database(key):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        ApiToken.objects.filter(prefix=key[:8]).update(scope="write")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("post", "/api/v1/products/", 405),  # was Django's HTML CSRF page
        ("put", "/api/v1/catalogs/", 405),
        ("delete", "/api/v1/descriptions/1/", 405),
        ("get", "/api/v1/nope/", 404),
        ("post", "/api/v1/nope/", 404),
        ("get", "/api/v1/descriptions/99999999999999999999999/", 404),
        ("get", "/api/v1/products/?page=9223372036854775807", 400),
        ("get", "/api/v1/products/?page=%C2%B2", 400),
        ("get", "/api/v1/products/?page_size=-1", 400),
        ("get", "/api/v1/products/?status=nope", 400),
        ("get", "/api/v1/products/?catalog=12345678901234567890123", 200),
        ("get", "/api/v1/descriptions/1/", 404),
    ],
)
def test_every_api_error_is_json(key, method, path, status):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = getattr(client, method)(path, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    if status >= 400:
        assert response.json()["error"]
    if status == 405:
        assert response["Allow"] == "GET, HEAD"


def test_unauthenticated_errors_are_json_too(client, db):
    for response in (client.get("/api/v1/products/"), client.post("/api/v1/products/"), client.get("/api/v1/x/")):
        assert response.status_code in (401, 404, 405) and response.json()["error"]


def test_a_per_token_rate_limit(client, key, settings):
    from django.core.cache import cache

    cache.clear()
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    codes = [_get(client, reverse("api_catalogs"), key).status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and 429 in codes[3:]
    limited = _get(client, reverse("api_catalogs"), key)
    assert limited.status_code == 429 and limited.json()["error"] and 0 < int(limited["Retry-After"]) <= 60
    _, other = api_token_create(user=role_user("reviewer"), name="other")
    assert _get(client, reverse("api_catalogs"), other).status_code == 200  # per token

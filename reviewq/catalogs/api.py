"""Read-only JSON API for scripts and shop systems, authenticated with API tokens.

    Authorization: Bearer rq_...

GET /api/v1/catalogs/                   catalogs with product counts
GET /api/v1/products/?catalog=ID        products with their live (published) text and draft status
GET /api/v1/descriptions/ID/            a description with sentences (span, band, scores,
                                        reasons) and tokens (logprob, alternatives)

Only a token's SHA-256 is stored; the key is shown once when created (`manage.py api_token`).
A token has a scope ("read": every endpoint here) and expires (API_TOKEN_DAYS, 90 by default).
The views are exempt from LoginRequiredMiddleware and CSRF (no cookie is used: the token is the
login), and every error, an unknown path or method included, is answered as JSON
{"error": ...}. With API_RATE_LIMIT_PER_MINUTE set, a token's requests beyond it get 429.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import timedelta
from functools import wraps

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q
from django.http import HttpRequest, JsonResponse
from django.urls import path, re_path, reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from reviewq.core.audit import AuditAction, audit_record
from reviewq.core.models import (
    DRAFT_STATUSES,
    ApiToken,
    ApiTokenScope,
    Catalog,
    Description,
    DescriptionStatus,
    Product,
)
from reviewq.core.selectors import description_published_text
from reviewq.gating.service import reason_text, sentence_reasons, thresholds_for_catalog
from reviewq.gating.truth import TRUTH_NOTE

KEY_PREFIX = "rq_"
API_PERMISSION = "reviewq.view_description"
LAST_USED_RESOLUTION = timedelta(minutes=1)
SAFE_METHODS = ("GET", "HEAD")
# Far beyond any catalog; keeps OFFSET (and page=2**63-1) a 400, never a database error.
MAX_PAGE = 1_000_000
MAX_PK = 2**63 - 1


# --- tokens: services and selectors ----------------------------------------------------------


def token_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@transaction.atomic
def api_token_create(
    *,
    user: AbstractBaseUser,
    name: str,
    days: int | None = None,
    scope: str = ApiTokenScope.READ,
    actor: AbstractBaseUser | None = None,
) -> tuple[ApiToken, str]:
    """A new token for `user`, valid `days` (API_TOKEN_DAYS by default); returns the row and the
    key, which is not stored anywhere."""
    name = name.strip()
    if not name:
        raise ValueError("Name the token (what uses it), e.g. 'shop sync'.")
    days = settings.API_TOKEN_DAYS if days is None else days
    if not 1 <= days <= 3660:
        raise ValueError(f"A token lasts 1 to 3660 days, not {days}.")
    if scope not in ApiTokenScope.values:
        raise ValueError(f"Unknown scope {scope!r}; scopes: {', '.join(ApiTokenScope.values)}.")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name[:100],
        key_hash=token_hash(key),
        prefix=key[:8],
        scope=scope,
        expires_at=timezone.now() + timedelta(days=days),
    )
    audit_record(
        action=AuditAction.API_TOKEN_CREATED,
        actor=actor,
        after={
            "token": token.pk,
            "user": user.get_username(),
            "name": token.name,
            "prefix": token.prefix,
            "scope": token.scope,
            "expires_at": token.expires_at.isoformat(),
        },
    )
    return token, key


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor: AbstractBaseUser | None = None) -> bool:
    """Revoke a token; False when it already was."""
    revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if revoked:
        audit_record(
            action=AuditAction.API_TOKEN_REVOKED,
            actor=actor,
            before={"token": token.pk, "prefix": token.prefix, "name": token.name},
        )
    return bool(revoked)


def api_token_list(*, user: AbstractBaseUser | None = None) -> list[ApiToken]:
    tokens = ApiToken.objects.select_related("user").order_by("-created_at", "-id")
    if user is not None:
        tokens = tokens.filter(user=user)
    return list(tokens)


def api_token_authenticate(*, key: str) -> ApiToken | None:
    """The live token for `key` (not revoked, not expired, user active), or None."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    digest = token_hash(key)
    token = ApiToken.objects.select_related("user").filter(key_hash=digest, revoked_at__isnull=True).first()
    if token is None or not hmac.compare_digest(token.key_hash, digest) or not token.user.is_active:
        return None
    if token.expires_at <= timezone.now():
        return None
    now = timezone.now()
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


# --- views ----------------------------------------------------------------------------------


def _error(status: int, message: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="reviewq"'
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _rate_limited(token: ApiToken) -> int | None:
    """Seconds until the token may ask again, when it is over API_RATE_LIMIT_PER_MINUTE; the
    count lives in the cache (shared between processes when CACHE_URL points at Redis)."""
    limit = settings.API_RATE_LIMIT_PER_MINUTE
    if limit <= 0:
        return None
    now = int(timezone.now().timestamp())
    key = f"api-rate:{token.pk}:{now // 60}"
    cache.add(key, 0, timeout=90)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=90)
        count = 1
    return 60 - now % 60 if count > limit else None


def token_required(view: Callable) -> Callable:
    @login_not_required
    @csrf_exempt  # no cookie authenticates here, so there is nothing to forge
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if request.method not in SAFE_METHODS:
            return _error(405, f"{request.method} is not allowed here; the API is read-only.", Allow="GET, HEAD")
        header = request.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return _error(401, "Send an API token: 'Authorization: Bearer <key>'.")
        token = api_token_authenticate(key=key.strip())
        if token is None:
            return _error(401, "Unknown, expired or revoked API token.")
        if token.scope != ApiTokenScope.READ or not token.user.has_perm(API_PERMISSION):
            return _error(403, "This token may not read descriptions.")
        retry_after = _rate_limited(token)
        if retry_after is not None:
            return _error(429, "Too many requests for this token; slow down.", Retry_After=str(retry_after))
        request.api_token = token
        return view(request, *args, **kwargs)

    return wrapper


@login_not_required
@csrf_exempt
def not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Any other path under the API: a JSON 404 rather than the site's HTML page."""
    return _error(404, "No such API endpoint; see /api/v1/catalogs/, /api/v1/products/, /api/v1/descriptions/<id>/.")


class PageForm(forms.Form):
    page = forms.IntegerField(min_value=1, max_value=MAX_PAGE, required=False)
    page_size = forms.IntegerField(min_value=1, max_value=MAX_PAGE, required=False)


class ProductFilterForm(PageForm):
    catalog = forms.CharField(max_length=200, required=False, strip=True)
    status = forms.ChoiceField(
        choices=[("", "any"), ("not_generated", "not generated"), *DescriptionStatus.choices], required=False
    )


def _form_error(form: forms.Form) -> JsonResponse:
    return _error(400, " ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items()))


def _page_params(form: PageForm) -> tuple[int, int]:
    page = form.cleaned_data.get("page") or 1
    size = form.cleaned_data.get("page_size") or settings.API_PAGE_SIZE
    return page, min(size, settings.API_MAX_PAGE_SIZE)


def _paginated(request: HttpRequest, queryset, *, page: int, size: int, item: Callable) -> dict:
    count = queryset.count()
    rows = list(queryset[(page - 1) * size : page * size])
    base = request.build_absolute_uri(request.path)

    def link(number: int) -> str:
        params = request.GET.copy()
        params["page"] = str(number)
        params["page_size"] = str(size)
        return f"{base}?{params.urlencode()}"

    return {
        "count": count,
        "page": page,
        "page_size": size,
        "next": link(page + 1) if page * size < count else None,
        "previous": link(page - 1) if page > 1 and (page - 1) * size < max(count, 1) else None,
        "results": [item(row) for row in rows],
    }


@token_required
def catalogs(request: HttpRequest) -> JsonResponse:
    form = PageForm(request.GET)
    if not form.is_valid():
        return _form_error(form)
    params = _page_params(form)
    rows = Catalog.objects.annotate(
        product_count=Count("products", distinct=True),
        published_count=Count(
            "products", filter=Q(products__descriptions__status=DescriptionStatus.PUBLISHED), distinct=True
        ),
    ).order_by("name", "id")
    return JsonResponse(
        _paginated(
            request,
            rows,
            page=params[0],
            size=params[1],
            item=lambda c: {
                "id": c.pk,
                "name": c.name,
                "products": c.product_count,
                "published": c.published_count,
                "products_url": request.build_absolute_uri(reverse("api_products")) + f"?catalog={c.pk}",
            },
        )
    )


@token_required
def products(request: HttpRequest) -> JsonResponse:
    form = ProductFilterForm(request.GET)
    if not form.is_valid():
        return _form_error(form)
    params = _page_params(form)
    # A product's live revision is what the shop gets; its draft is shown but never its text.
    rows = (
        Product.objects.select_related("catalog")
        .prefetch_related(
            Prefetch(
                "descriptions",
                queryset=Description.objects.filter(status=DescriptionStatus.PUBLISHED).only(
                    "id", "product_id", "status", "text", "published_at"
                ),
                to_attr="live_revisions",
            ),
            Prefetch(
                "descriptions",
                queryset=Description.objects.filter(status__in=DRAFT_STATUSES).only("id", "product_id", "status"),
                to_attr="draft_revisions",
            ),
        )
        .annotate(has_revisions=Exists(Description.objects.filter(product=OuterRef("pk"))))
        .order_by("catalog_id", "sku", "id")
    )
    catalog = form.cleaned_data["catalog"]
    if catalog:
        # An id (ASCII digits that fit the column) or a catalog name.
        if catalog.isascii() and catalog.isdigit() and int(catalog) <= MAX_PK:
            rows = rows.filter(catalog_id=int(catalog))
        else:
            rows = rows.filter(catalog__name=catalog)
    status = form.cleaned_data["status"]
    revisions = Description.objects.filter(product=OuterRef("pk"))
    if status == "not_generated":
        rows = rows.exclude(Exists(revisions))
    elif status:
        rows = rows.filter(Exists(revisions.filter(status=status)))

    def revision_url(description: Description | None) -> str | None:
        return request.build_absolute_uri(reverse("api_description", args=[description.pk])) if description else None

    def item(product: Product) -> dict:
        live = product.live_revisions[0] if product.live_revisions else None  # type: ignore[attr-defined]
        draft = product.draft_revisions[0] if product.draft_revisions else None  # type: ignore[attr-defined]
        shown = live or draft
        return {
            "id": product.pk,
            "sku": product.sku,
            "name": product.name,
            "catalog": {"id": product.catalog_id, "name": product.catalog.name},
            # "unpublished": only earlier revisions are left (the live one was unpublished).
            "status": shown.status if shown else ("unpublished" if product.has_revisions else "not_generated"),  # type: ignore[attr-defined]
            "published_text": live.text if live else None,
            "published_at": live.published_at.isoformat() if live and live.published_at else None,
            "description_id": shown.pk if shown else None,
            "description_url": revision_url(shown),
            "draft": {"id": draft.pk, "status": draft.status, "url": revision_url(draft)} if draft else None,
        }

    return JsonResponse(_paginated(request, rows, page=params[0], size=params[1], item=item))


def _alternatives(raw) -> list[dict]:
    return [
        {"text": alt[0], "logprob": alt[1]} for alt in raw or [] if isinstance(alt, (list, tuple)) and len(alt) >= 2
    ]


@token_required
def description(request: HttpRequest, pk: int) -> JsonResponse:
    row = Description.objects.select_related("product__catalog").filter(pk=pk).first() if pk <= MAX_PK else None
    if row is None:
        return _error(404, "No such description.")
    thresholds = thresholds_for_catalog(catalog_id=row.product.catalog_id)
    sentences = list(row.sentences.order_by("index"))
    tokens = row.tokens.order_by("position").values(
        "position", "text", "logprob", "alternatives", "char_start", sentence_index=F("sentence__index")
    )
    published = row.status == DescriptionStatus.PUBLISHED
    return JsonResponse(
        {
            "id": row.pk,
            "product": {
                "id": row.product_id,
                "sku": row.product.sku,
                "name": row.product.name,
                "catalog": {"id": row.product.catalog_id, "name": row.product.catalog.name},
            },
            "status": row.status,
            "version": row.version,
            "published_text": row.text if published else None,
            "current_text": description_published_text(description=row) if sentences else row.text,
            "published_at": row.published_at.isoformat() if row.published_at else None,
            "generated_at": row.generated_at.isoformat() if row.generated_at else None,
            "provider": row.provider,
            "model": row.model,
            "has_logprobs": row.has_logprobs,
            "risk": row.risk,
            "note": TRUTH_NOTE,
            "thresholds": {
                "publish_above": thresholds.publish_above,
                "flag_below": thresholds.flag_below,
                "critical_floor": thresholds.critical_floor,
            },
            "sentences": [
                {
                    "index": s.index,
                    "text": s.text,
                    "current_text": s.current_text,
                    "span": [s.char_start, s.char_end],
                    "band": s.band,
                    "decision": s.decision,
                    "scores": {
                        "mean_logprob": s.mean_logprob,
                        "min_logprob": s.min_logprob,
                        "critical_min_logprob": s.critical_min_logprob,
                        "risk": s.risk,
                    },
                    "reasons": [reason_text(r) for r in sentence_reasons(s, thresholds)],
                }
                for s in sentences
            ],
            "tokens": [
                {
                    "position": t["position"],
                    "text": t["text"],
                    "logprob": t["logprob"],
                    "char_start": t["char_start"],
                    "sentence": t["sentence_index"],
                    "alternatives": _alternatives(t["alternatives"]),
                }
                for t in tokens.iterator(chunk_size=2000)
            ],
        },
        json_dumps_params={"ensure_ascii": False},
    )


urlpatterns = [
    path("catalogs/", catalogs, name="api_catalogs"),
    path("products/", products, name="api_products"),
    path("descriptions/<int:pk>/", description, name="api_description"),
    re_path(r"^(?P<path>.*)$", not_found, name="api_not_found"),
]

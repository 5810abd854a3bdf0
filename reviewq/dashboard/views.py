"""Admins' and editors' pages beside the review queue: thresholds with the what-if simulator,
calibration from reviewer outcomes, the dashboard, and published-copy downloads.

Thresholds and calibration need reviewq.manage_thresholds (admins); the dashboard and the
downloads need reviewq.manage_catalogs (editors and admins).
"""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_safe

from reviewq.core.audit import AuditAction
from reviewq.core.forms import form_refused
from reviewq.core.models import AuditEvent, Catalog, DescriptionStatus
from reviewq.core.selectors import catalog_overview_list
from reviewq.dashboard.calibration import calibration_data, dashboard_metrics, threshold_simulation
from reviewq.dashboard.charts import calibration_charts
from reviewq.dashboard.forms import CalibrationForm, CatalogScopeForm, ThresholdsForm
from reviewq.dashboard.stats import curve_at, threshold_for_catch_rate
from reviewq.gating.service import thresholds_for_catalog, thresholds_update
from reviewq.gating.truth import TRUTH_NOTE

thresholds_required = permission_required("reviewq.manage_thresholds", raise_exception=True)
catalogs_required = permission_required("reviewq.manage_catalogs", raise_exception=True)


def _last_change(catalog: Catalog | None) -> dict | None:
    """The latest saved change for this scope and the descriptions it re-gated."""
    event = (
        AuditEvent.objects.filter(action=AuditAction.THRESHOLDS_CHANGED, catalog=catalog)
        .select_related("actor")
        .order_by("-id")
        .first()
    )
    if event is None:
        return None
    previous_id = (
        AuditEvent.objects.filter(action=AuditAction.THRESHOLDS_CHANGED, id__lt=event.id)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    ) or 0
    regated = list(
        AuditEvent.objects.filter(action=AuditAction.REGATED, id__gt=previous_id, id__lt=event.id)
        .select_related("description__product__catalog")
        .order_by("id")[:50]
    )
    return {"event": event, "regated": regated}


@require_http_methods(["GET", "POST"])
@thresholds_required
def thresholds(request: HttpRequest, catalog_pk: int | None = None) -> HttpResponse:
    catalog = get_object_or_404(Catalog, pk=catalog_pk) if catalog_pk is not None else None
    saved = thresholds_for_catalog(catalog_id=catalog.pk if catalog else None)
    has_override = catalog is not None and hasattr(catalog, "thresholds")
    form = ThresholdsForm(request.POST if request.method == "POST" else request.GET, saved=saved)
    errors = [] if form.is_valid() else form.messages()
    proposed = form.proposed
    url = reverse("thresholds_catalog", args=[catalog.pk]) if catalog else reverse("thresholds")
    saving = request.method == "POST" and form.saving
    if saving and not errors:
        try:
            result = thresholds_update(
                catalog=catalog,
                actor=request.user,
                publish_above=proposed.publish_above,
                flag_below=proposed.flag_below,
                critical_floor=proposed.critical_floor,
            )
        except ValueError as exc:
            errors.append(str(exc))
        else:
            messages.success(
                request,
                f"Thresholds saved. {result.sentences_changed} sentence(s) changed band; "
                f"{result.published} description(s) published, {result.back_to_review} sent back to review.",
            )
            return redirect(url)
    # Errors re-render the page: 422 for a POST, 400 for a hand-made GET; the live preview
    # (an htmx GET while the sliders move) shows them in its fragment.
    status = 200 if not errors else 422 if request.method == "POST" else 400
    simulation = threshold_simulation(catalog=catalog, thresholds=saved if errors else proposed)
    context = {
        "catalog": catalog,
        "catalogs": Catalog.objects.order_by("name"),
        "saved": saved,
        "proposed": proposed,
        "has_override": has_override,
        "simulation": simulation,
        "errors": errors,
        "changed": proposed != saved,
        "last_change": _last_change(catalog),
        "url": url,
        "truth_note": TRUTH_NOTE,
    }
    if request.htmx and request.method == "GET":
        return render(request, "dashboard/thresholds.html#simulation", context)
    return render(request, "dashboard/thresholds.html", context, status=status)


@require_safe
@thresholds_required
def calibration(request: HttpRequest) -> HttpResponse:
    form = CalibrationForm(request.GET)
    if not form.is_valid():
        return form_refused(form)
    catalog_id, target = form.cleaned_data["catalog"], form.cleaned_data["target"]
    catalog = get_object_or_404(Catalog, pk=catalog_id) if catalog_id else None
    data = calibration_data(catalog=catalog)
    thresholds_now = thresholds_for_catalog(catalog_id=catalog.pk if catalog else None)
    target_point = threshold_for_catch_rate(data.curve, target)
    context = {
        "catalog": catalog,
        "catalogs": Catalog.objects.order_by("name"),
        "data": data,
        "target": target,
        "target_percent": round(target * 100),
        "target_point": target_point,
        "current_point": curve_at(data.curve, thresholds_now.publish_above),
        "thresholds": thresholds_now,
        "charts": calibration_charts(data, thresholds=thresholds_now, target=target_point),
        "truth_note": TRUTH_NOTE,
    }
    return render(request, "dashboard/calibration.html", context)


@require_safe
@catalogs_required
def dashboard(request: HttpRequest) -> HttpResponse:
    form = CatalogScopeForm(request.GET)
    if not form.is_valid():
        return form_refused(form)
    catalog_id = form.cleaned_data["catalog"]
    catalog = get_object_or_404(Catalog, pk=catalog_id) if catalog_id else None
    metrics = dashboard_metrics(catalog=catalog)
    return render(
        request,
        "dashboard/dashboard.html",
        {
            "metrics": metrics,
            "catalog": catalog,
            "catalogs": Catalog.objects.order_by("name"),
            "truth_note": TRUTH_NOTE,
        },
    )


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "home.html",
        {"overviews": catalog_overview_list(), "statuses": DescriptionStatus.choices},
    )

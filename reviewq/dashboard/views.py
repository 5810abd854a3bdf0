"""Admins' and editors' pages beside the review queue: thresholds with the what-if simulator, the
fitted gate model (fit, adopt, revert at a stated escape target),
calibration from reviewer outcomes, the dashboard, and published-copy downloads.

Thresholds, the gate model and calibration need reviewq.manage_thresholds (admins); the
dashboard and the downloads need reviewq.manage_catalogs (editors and admins). People and
roles need auth.change_user (admins).
"""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from reviewq.core.audit import AuditAction
from reviewq.core.downloads import download_response
from reviewq.core.forms import form_refused
from reviewq.core.models import AuditEvent, Catalog, DescriptionStatus, GateModel, QAVerdict
from reviewq.core.selectors import catalog_overview_list
from reviewq.dashboard.calibration import calibration_data, dashboard_metrics, threshold_simulation
from reviewq.dashboard.charts import calibration_charts
from reviewq.dashboard.forms import (
    ROLE_CHOICES,
    CalibrationForm,
    CatalogScopeForm,
    GateFitForm,
    GateModelScopeForm,
    GateTargetForm,
    LabelExportForm,
    QARatesForm,
    QAResolveForm,
    ThresholdsForm,
    UserInviteForm,
    UserUpdateForm,
)
from reviewq.dashboard.gate_model import MIN_LABELS, gate_model_rows
from reviewq.dashboard.label_export import (
    label_cases,
    label_export_filename,
    stream_label_csv,
    stream_label_jsonl,
)
from reviewq.dashboard.qa import (
    QASettingsError,
    qa_agreement,
    qa_disagreement_resolve,
    qa_disagreements,
    qa_escape_rates,
    qa_rates_set,
    qa_reviewer_figures,
)
from reviewq.dashboard.stats import curve_at, threshold_for_catch_rate
from reviewq.dashboard.users import (
    UserManagementError,
    user_active_set,
    user_invite,
    user_list,
    user_role_set,
    user_set_password_path,
)
from reviewq.gating.gate_models import GateModelError, GateScope, gate_model_adopt, gate_model_fit, gate_model_revert
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


def _gate_model_url(
    *, catalog_id: int | None, target_escape: float, confidence: float, target_catch: float | None = None
) -> str:
    query = {"target_escape": f"{100 * target_escape:g}", "confidence": f"{100 * confidence:g}"}
    if target_catch is not None:
        query["target_catch"] = f"{100 * target_catch:g}"
    if catalog_id:
        query["catalog"] = str(catalog_id)
    return f"{reverse('gate_model')}?{urlencode(query)}"


@require_safe
@thresholds_required
def gate_model(request: HttpRequest) -> HttpResponse:
    form = GateTargetForm(request.GET)
    if not form.is_valid():
        return form_refused(form)
    catalog_id = form.cleaned_data["catalog"]
    catalog = get_object_or_404(Catalog, pk=catalog_id) if catalog_id else None
    target_escape, confidence = form.cleaned_data["target_escape"], form.cleaned_data["confidence"]
    target_catch = form.cleaned_data["target_catch"]
    context = {
        "catalog": catalog,
        "catalogs": Catalog.objects.order_by("name"),
        "rows": gate_model_rows(
            catalog=catalog, target_escape=target_escape, target_catch=target_catch, confidence=confidence
        ),
        "target_percent": f"{100 * target_escape:g}",
        "catch_percent": f"{100 * target_catch:g}",
        "confidence_percent": f"{100 * confidence:g}",
        "min_labels": MIN_LABELS,
        "truth_note": TRUTH_NOTE,
    }
    return render(request, "dashboard/gate_model.html", context)


@require_safe
@thresholds_required
def gate_labels_export(request: HttpRequest) -> HttpResponse:
    """The reviewer-labelled sentences of a scope as gate_eval JSONL or CSV, streamed."""
    form = LabelExportForm(request.GET)
    if not form.is_valid():
        return form_refused(form)
    data = form.cleaned_data
    catalog = get_object_or_404(Catalog, pk=data["catalog"]) if data["catalog"] else None
    cases = label_cases(model_name=data["model_name"], catalog_id=catalog.pk if catalog else None)
    chunks = stream_label_csv(cases) if data["format"] == "csv" else stream_label_jsonl(cases)
    scope = "-".join(part for part in (catalog.name if catalog else "all", data["model_name"]) if part)
    return download_response(
        chunks, fmt=data["format"], filename=label_export_filename(scope=scope, fmt=data["format"])
    )


@require_POST
@thresholds_required
def gate_model_fit_view(request: HttpRequest) -> HttpResponse:
    form = GateFitForm(request.POST)
    if not form.is_valid():
        return form_refused(form)
    data = form.cleaned_data
    catalog = get_object_or_404(Catalog, pk=data["catalog"]) if data["catalog"] else None
    try:
        fitted = gate_model_fit(
            model_name=data["model_name"],
            catalog=catalog,
            target_escape=data["target_escape"],
            target_catch=data["target_catch"],
            confidence=data["confidence"],
            actor=request.user,
        )
    except GateModelError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            f"Fitted {fitted.model_name} version {fitted.version} on {fitted.metrics['n_labels']} labels"
            + (" of all catalogs (too few in this one)." if fitted.fell_back else "."),
        )
    return redirect(
        _gate_model_url(
            catalog_id=data["catalog"],
            target_escape=data["target_escape"],
            confidence=data["confidence"],
            target_catch=data["target_catch"],
        )
    )


@require_POST
@thresholds_required
def gate_model_adopt_view(request: HttpRequest, pk: int) -> HttpResponse:
    chosen = get_object_or_404(GateModel, pk=pk)
    try:
        gate_model_adopt(gate_model=chosen, actor=request.user)
    except GateModelError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Adopted {chosen.model_name} version {chosen.version}.")
    return redirect(
        _gate_model_url(
            catalog_id=chosen.catalog_id,
            target_escape=chosen.target_escape,
            confidence=chosen.confidence,
            target_catch=chosen.target_catch,
        )
    )


@require_POST
@thresholds_required
def gate_model_revert_view(request: HttpRequest) -> HttpResponse:
    form = GateModelScopeForm(request.POST)
    if not form.is_valid():
        return form_refused(form)
    data = form.cleaned_data
    catalog = get_object_or_404(Catalog, pk=data["catalog"]) if data["catalog"] else None
    try:
        previous = gate_model_revert(
            scope=GateScope(model_name=data["model_name"], catalog=catalog), actor=request.user
        )
    except GateModelError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            f"Reverted {data['model_name']} to "
            + (f"version {previous.version}." if previous else "the hand-set gate (no fitted model)."),
        )
    return redirect(_gate_model_url(catalog_id=data["catalog"], target_escape=0.02, confidence=0.95))


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
            "escape_rates": qa_escape_rates(catalog=catalog),
            "catalog": catalog,
            "catalogs": Catalog.objects.order_by("name"),
            "truth_note": TRUTH_NOTE,
        },
    )


@require_safe
@thresholds_required
def qa_agreement_view(request: HttpRequest) -> HttpResponse:
    """Sampling rates per catalog, agreement between first and second reviews, per-reviewer
    figures and the disagreements to resolve."""
    pairs, overall = qa_agreement()
    return render(
        request,
        "dashboard/qa_agreement.html",
        {
            "catalogs": Catalog.objects.order_by("name"),
            "pairs": pairs,
            "overall": overall,
            "reviewers": qa_reviewer_figures(),
            "disagreements": qa_disagreements(),
        },
    )


@require_POST
@thresholds_required
def qa_rates_view(request: HttpRequest, catalog_pk: int) -> HttpResponse:
    catalog = get_object_or_404(Catalog, pk=catalog_pk)
    form = QARatesForm(request.POST)
    if not form.is_valid():
        return form_refused(form)
    qa_rates_set(
        catalog=catalog,
        rate_auto=form.cleaned_data["rate_auto"],
        rate_approved=form.cleaned_data["rate_approved"],
        actor=request.user,
    )
    messages.success(request, f"QA sampling rates of {catalog.name} saved.")
    return redirect("qa_agreement")


@require_POST
@thresholds_required
def qa_resolve_view(request: HttpRequest, pk: int) -> HttpResponse:
    verdict = get_object_or_404(QAVerdict, pk=pk)
    form = QAResolveForm(request.POST)
    if not form.is_valid():
        return form_refused(form)
    try:
        qa_disagreement_resolve(verdict=verdict, label=form.cleaned_data["label"], actor=request.user)
    except QASettingsError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Resolved as {form.cleaned_data['label']}; the gate learns this label.")
    return redirect("qa_agreement")


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "home.html",
        {"overviews": catalog_overview_list(), "statuses": DescriptionStatus.choices},
    )


users_required = permission_required("auth.change_user", raise_exception=True)


@require_http_methods(["GET", "POST"])
@users_required
def users(request: HttpRequest) -> HttpResponse:
    """People and roles; inviting shows the new user's set-password link once, on this response
    (not through messages, which may live in a cookie)."""
    form = UserInviteForm(request.POST if request.method == "POST" else None)
    invited = None
    if request.method == "POST":
        if not request.user.has_perm("auth.add_user"):
            raise PermissionDenied
        if form.is_valid():
            try:
                user = user_invite(actor=request.user, **form.cleaned_data)
            except UserManagementError as exc:
                form.add_error(None, str(exc))
            else:
                invited = {"user": user, "link": request.build_absolute_uri(user_set_password_path(user=user))}
                form = UserInviteForm()
    return render(
        request,
        "dashboard/users.html",
        {"form": form, "invited": invited, "people": user_list(), "role_choices": ROLE_CHOICES},
        status=400 if form.errors else 200,
    )


@require_POST
@users_required
def user_update(request: HttpRequest, pk: int) -> HttpResponse:
    user = get_object_or_404(get_user_model(), pk=pk)
    form = UserUpdateForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("users")
    action = form.cleaned_data["action"]
    try:
        if action == "role":
            user_role_set(actor=request.user, user=user, role=form.cleaned_data["role"])
            messages.success(request, f"{user.get_username()} is now {form.cleaned_data['role']}.")
        else:
            user_active_set(actor=request.user, user=user, active=action == "activate")
            messages.success(
                request, f"{user.get_username()} {'reactivated' if action == 'activate' else 'deactivated'}."
            )
    except UserManagementError as exc:
        messages.error(request, str(exc))
    return redirect("users")

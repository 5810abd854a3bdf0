"""Editors' pages: catalogs, the upload (preview, mapping, errors, import) and generation runs.

Every view needs reviewq.manage_catalogs (editors and admins); reviewers get 403 and anonymous
users the login page (LoginRequiredMiddleware).
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from generation.runs import (
    RunRefused,
    catalog_runs,
    run_cancel,
    run_mode_impacts,
    run_options,
    run_progress,
    run_retry_failed,
    run_start,
)
from reviewq.catalogs.exports import EXPORT_FORMATS, export_filename, published_rows, stream_csv, stream_jsonl
from reviewq.catalogs.forms import CatalogNameForm, CatalogUploadForm, ColumnMappingForm, GuidelinesForm, RunForm
from reviewq.catalogs.guidelines import GuidelinesRefused, catalog_guidelines_update
from reviewq.catalogs.imports import CatalogImportError, CatalogMapping, catalog_import, preview_catalog
from reviewq.catalogs.uploads import SizeLimitUploadHandler, upload_discard, upload_get, upload_stage
from reviewq.core.forms import form_refused
from reviewq.core.models import Catalog, DescriptionStatus, GenerationRun
from reviewq.core.selectors import catalog_overview_list, catalog_products

MANAGE_CATALOGS = "reviewq.manage_catalogs"
catalogs_required = permission_required(MANAGE_CATALOGS, raise_exception=True)
PREVIEW_ROWS = 20
PREVIEW_ERRORS = 100


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    return f"{n / 1024:.0f} KB" if n >= 1024 else f"{n} bytes"


@require_safe
@catalogs_required
def catalog_list(request: HttpRequest) -> HttpResponse:
    return render(request, "catalogs/catalogs.html", {"summaries": catalog_overview_list()})


# --- Upload: file -> preview (mapping, errors) -> import -------------------------------------


@csrf_exempt
@require_http_methods(["GET", "POST"])
def catalog_upload(request: HttpRequest) -> HttpResponse:
    # The size limit must be in place before anything reads the body (CSRF reads POST), so
    # the handler is added here and CSRF is checked right after.
    handler = SizeLimitUploadHandler(request, limit=settings.CATALOG_UPLOAD_MAX_BYTES)
    if request.method == "POST":
        request.upload_handlers.insert(0, handler)
    return _catalog_upload(request, handler=handler)


@csrf_protect
@catalogs_required
def _catalog_upload(request: HttpRequest, *, handler: SizeLimitUploadHandler) -> HttpResponse:
    limit = settings.CATALOG_UPLOAD_MAX_BYTES
    context = {
        "limit": _size(limit),
        "catalog_names": list(Catalog.objects.values_list("name", flat=True)),
    }
    if request.method == "GET":
        prefill = CatalogNameForm(request.GET)
        if not prefill.is_valid():
            return form_refused(prefill)
        context["catalog_name"] = prefill.cleaned_data["catalog"]
        return render(request, "catalogs/upload.html", context)
    form = CatalogUploadForm(request.POST, request.FILES)
    valid = form.is_valid()
    context["catalog_name"] = form.cleaned_data.get("catalog_name", "")  # shown again when it was valid
    upload = request.FILES.get("file")
    error = ""
    if handler.too_large or (upload is not None and upload.size > limit):
        error = f"The file is larger than the {_size(limit)} limit. Split it into smaller files and upload each."
    elif not valid:
        error = form.first_error()
    if error:
        context["error"] = error
        return render(request, "catalogs/upload.html", context, status=413 if handler.too_large else 400)
    upload = form.cleaned_data["file"]
    staged = upload_stage(
        session=request.session,
        user_id=request.user.pk,
        data=upload.read(),
        filename=upload.name or "",
        catalog_name=form.cleaned_data["catalog_name"],
    )
    return redirect("catalog_upload_preview", token=staged.token)


def _mapping(data: dict) -> CatalogMapping:
    return CatalogMapping(
        sku_column=data["sku_column"] or None,
        name_column=data["name_column"] or None,
        attributes_columns=data["attribute_columns"] if data["mapped"] else None,
    )


@require_http_methods(["GET", "POST"])
@catalogs_required
def catalog_upload_preview(request: HttpRequest, token: str) -> HttpResponse:
    found = upload_get(session=request.session, user_id=request.user.pk, token=token)
    if found is None:
        messages.error(request, "That upload is gone (imported, or older than a day). Upload the file again.")
        return redirect("catalog_upload")
    staged, data = found
    form = ColumnMappingForm(request.POST if request.method == "POST" else request.GET)
    if not form.is_valid():
        return form_refused(form)
    mapping = _mapping(form.cleaned_data)
    limit = settings.CATALOG_UPLOAD_MAX_BYTES
    import_errors: list = []
    if request.method == "POST":
        catalog_name = form.cleaned_data["catalog_name"] or staged.catalog_name
        try:
            result = catalog_import(
                catalog_name=catalog_name,
                data=data,
                filename=staged.filename,
                mapping=mapping,
                partial=form.cleaned_data["partial"],
                actor=request.user,
                max_bytes=limit,
            )
        except CatalogImportError as exc:
            import_errors = exc.errors
        else:
            upload_discard(session=request.session, user_id=request.user.pk, token=token)
            skipped = f", {len({e.line for e in result.errors})} bad rows skipped" if result.errors else ""
            messages.success(
                request,
                f"Imported {result.imported} products into {result.catalog.name}: {result.created} new, "
                f"{result.updated} updated, {result.unchanged} unchanged{skipped}.",
            )
            return redirect("catalog_detail", pk=result.catalog.pk)
    preview = preview_catalog(
        data, filename=staged.filename, mapping=mapping, limit=max(PREVIEW_ROWS, PREVIEW_ERRORS), max_bytes=limit
    )
    attribute_columns = (
        list(mapping.attributes_columns)
        if mapping.attributes_columns is not None
        else [c for c in preview.columns if c not in (preview.sku_column, preview.name_column)]
    )
    context = {
        "staged": staged,
        "size": _size(staged.size),
        "preview": preview,
        "rows": preview.rows[:PREVIEW_ROWS],
        "errors": preview.errors[:PREVIEW_ERRORS],
        "row_errors": any(e.line is not None for e in preview.errors),
        "file_errors": [e for e in preview.errors if e.line is None],
        "import_errors": import_errors,
        "attribute_columns": attribute_columns,
        "catalog_name": form.cleaned_data["catalog_name"] or staged.catalog_name,
    }
    status = 422 if import_errors else 200
    if request.htmx and request.method == "GET":
        return render(request, "catalogs/upload.html#preview", context)
    return render(request, "catalogs/upload.html", context, status=status)


# --- Catalog page and runs -------------------------------------------------------------------


@require_safe
@catalogs_required
def catalog_detail(request: HttpRequest, pk: int) -> HttpResponse:
    catalog = get_object_or_404(Catalog, pk=pk)
    return render(request, "catalogs/catalog.html", _catalog_context(catalog))


def _catalog_context(catalog: Catalog, **extra) -> dict:
    summary = catalog_overview_list(catalog_id=catalog.pk)[0]
    return {
        "catalog": catalog,
        "summary": summary,
        "products": catalog_products(catalog_id=catalog.pk),
        "runs": catalog_runs(catalog=catalog),
        "options": run_options(),
        "modes": GenerationRun.Mode.choices,
        "impacts": run_mode_impacts(catalog=catalog),
        "form": {
            "mode": GenerationRun.Mode.MISSING,
            "provider": "",
            "model": "",
            "prompt_template": "",
            "candidates": run_options().default_candidates,
        },
        **extra,
    }


@require_POST
@catalogs_required
def run_create(request: HttpRequest, pk: int) -> HttpResponse:
    catalog = get_object_or_404(Catalog, pk=pk)
    form = RunForm(request.POST)
    try:
        if not form.is_valid():
            raise RunRefused(form.first_error())
        run = run_start(catalog=catalog, actor=request.user, **form.cleaned_data)
    except RunRefused as exc:
        context = _catalog_context(catalog, run_error=str(exc))
        # The form again with the values that were valid; a refused value is not echoed back.
        context["form"] = {**context["form"], **form.cleaned_data}
        return render(request, "catalogs/catalog.html", context, status=422)
    if not run.queued:
        messages.info(request, "Nothing to generate: every product is already done or in progress.")
    return redirect("run_detail", pk=run.pk)


@require_POST
@catalogs_required
def catalog_guidelines(request: HttpRequest, pk: int) -> HttpResponse:
    """Save the catalog's reviewer guidelines; a refused text comes back on the page with why."""
    catalog = get_object_or_404(Catalog, pk=pk)
    form = GuidelinesForm(request.POST)
    try:
        if not form.is_valid():
            raise GuidelinesRefused(" ".join(e for errors in form.errors.values() for e in errors))
        catalog_guidelines_update(catalog=catalog, guidelines=form.cleaned_data["guidelines"], actor=request.user)
    except GuidelinesRefused as exc:
        context = _catalog_context(catalog, guidelines_error=str(exc))
        return render(request, "catalogs/catalog.html", context, status=400)
    messages.success(request, "Guidelines saved; reviewers see them beside every item of this catalog.")
    return redirect("catalog_detail", pk=catalog.pk)


@require_safe
@catalogs_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        progress = run_progress(run_id=pk)
    except GenerationRun.DoesNotExist:
        raise Http404("No such run") from None
    context = {"progress": progress, "run": progress.run, "statuses": DescriptionStatus}
    if request.htmx:
        return render(request, "catalogs/run.html#progress", context)
    return render(request, "catalogs/run.html", context)


@require_POST
@catalogs_required
def run_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(GenerationRun, pk=pk)
    try:
        dropped = run_cancel(run=run, actor=request.user)
    except RunRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Run cancelled: {dropped} queued products dropped; those in progress will finish.")
    return _to_run(request, run)


@require_POST
@catalogs_required
def run_retry_view(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(GenerationRun, pk=pk)
    try:
        queued = run_retry_failed(run=run, actor=request.user)
    except RunRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{len(queued)} failed products queued again.")
    return _to_run(request, run)


def _to_run(request: HttpRequest, run: GenerationRun) -> HttpResponse:
    url = reverse("run_detail", args=[run.pk])
    if request.htmx:
        from django_htmx.http import HttpResponseClientRedirect

        return HttpResponseClientRedirect(url)
    return redirect(url)


@require_safe
@catalogs_required
def catalog_export(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    if fmt not in EXPORT_FORMATS:
        raise Http404("Unknown export format")
    catalog = get_object_or_404(Catalog, pk=pk)
    rows = published_rows(catalog=catalog)
    if fmt == "csv":
        response = StreamingHttpResponse(stream_csv(rows), content_type="text/csv; charset=utf-8")
    else:
        response = StreamingHttpResponse(stream_jsonl(rows), content_type="application/x-ndjson; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export_filename(catalog=catalog, fmt=fmt)}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response

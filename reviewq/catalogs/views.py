"""Editors' pages: catalogs, the upload (stored, read by a worker, previewed from its staged rows,
imported by a worker) and generation runs.

Every view needs reviewq.manage_catalogs (editors and admins); reviewers get 403 and anonymous
users the login page (LoginRequiredMiddleware).
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django_htmx.http import HttpResponseClientRedirect, HttpResponseClientRefresh

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
from reviewq.catalogs.forms import (
    CatalogNameForm,
    CatalogPageForm,
    CatalogUploadForm,
    ColumnMappingForm,
    GuidelinesForm,
    ImportConfirmForm,
    PreviewPageForm,
    RunForm,
)
from reviewq.catalogs.guidelines import GuidelinesRefused, catalog_guidelines_update
from reviewq.catalogs.imports import CatalogImportError
from reviewq.catalogs.imports.jobs import (
    IN_PROGRESS,
    ImportRefused,
    catalog_import_cancel,
    catalog_import_confirm,
    catalog_import_create,
    catalog_import_remap,
)
from reviewq.catalogs.imports.staged import catalog_import_get, catalog_import_preview
from reviewq.catalogs.uploads import SizeLimitUploadHandler
from reviewq.core.downloads import download_response
from reviewq.core.forms import form_refused
from reviewq.core.models import Catalog, CatalogImport, DescriptionStatus, GenerationRun
from reviewq.core.selectors import catalog_overview_list, catalog_products

MANAGE_CATALOGS = "reviewq.manage_catalogs"
catalogs_required = permission_required(MANAGE_CATALOGS, raise_exception=True)
S = CatalogImport.Status


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
    catalog_import = catalog_import_create(
        user=request.user,
        data=upload.read(),
        filename=upload.name or "",
        catalog_name=form.cleaned_data["catalog_name"],
    )
    return redirect("catalog_upload_preview", pk=catalog_import.pk)


def _own_import(request: HttpRequest, pk: int) -> CatalogImport | None:
    catalog_import = catalog_import_get(pk=pk, user=request.user)
    if catalog_import is None:
        messages.error(request, "That upload is gone (or not yours). Upload the file again.")
    return catalog_import


def _client_redirect(request: HttpRequest, url: str) -> HttpResponse:
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_http_methods(["GET", "POST"])
@catalogs_required
def catalog_upload_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """The upload's progress while a worker reads or imports it, then its preview (the staged
    rows, a page at a time) with the Import button."""
    form = ImportConfirmForm(request.POST) if request.method == "POST" else PreviewPageForm(request.GET)
    if not form.is_valid():
        return form_refused(form)
    catalog_import = _own_import(request, pk)
    if catalog_import is None:
        return redirect("catalog_upload")
    status = catalog_import.status
    if status == S.IMPORTED:
        # The catalog page says what was imported (however many polls saw it finish).
        catalog_id = catalog_import.catalog_id  # None once the catalog was deleted since
        if catalog_id is None:
            return _client_redirect(request, reverse("catalog_list"))
        url = reverse("catalog_detail", args=[catalog_id])
        return _client_redirect(request, f"{url}?imported={catalog_import.pk}")
    if status == S.CANCELLED:
        messages.info(request, "That upload was cancelled; nothing was imported. Upload the file again.")
        return _client_redirect(request, reverse("catalog_upload"))
    polling = request.htmx and request.htmx.target == "import-progress"
    if status in IN_PROGRESS:
        if request.method == "POST":
            return HttpResponse("This upload is still being read or imported.", status=409)
        context = {"catalog_import": catalog_import, "size": _size(catalog_import.size)}
        return render(request, "catalogs/upload.html#progress" if polling else "catalogs/upload.html", context)
    if polling:  # read: the whole page, now with the preview
        return HttpResponseClientRefresh()
    import_errors: list = []
    if request.method == "POST":
        try:
            catalog_import_confirm(
                catalog_import=catalog_import,
                catalog_name=form.cleaned_data["catalog_name"] or catalog_import.catalog_name,
                partial=form.cleaned_data["partial"],
            )
        except CatalogImportError as exc:
            import_errors = exc.errors
        except ImportRefused as exc:
            messages.error(request, str(exc))
        else:
            return redirect("catalog_upload_preview", pk=catalog_import.pk)
    page = form.cleaned_data.get("page") or 1
    preview = catalog_import_preview(catalog_import=catalog_import, page=page)
    context = {
        "catalog_import": catalog_import,
        "size": _size(catalog_import.size),
        "preview": preview,
        "import_errors": import_errors,
        "row_errors": any(e.line is not None for e in preview.errors),
    }
    if request.htmx and request.method == "GET":
        return render(request, "catalogs/upload.html#preview", context)
    return render(request, "catalogs/upload.html", context, status=422 if import_errors else 200)


@require_POST
@catalogs_required
def catalog_upload_mapping(request: HttpRequest, pk: int) -> HttpResponse:
    """Another column mapping: the worker reads the file again with it."""
    form = ColumnMappingForm(request.POST)
    if not form.is_valid():
        return form_refused(form)
    catalog_import = _own_import(request, pk)
    if catalog_import is None:
        return redirect("catalog_upload")
    try:
        catalog_import_remap(catalog_import=catalog_import, mapping=form.mapping())
    except ImportRefused as exc:
        messages.error(request, str(exc))
    return _client_redirect(request, reverse("catalog_upload_preview", args=[catalog_import.pk]))


@require_POST
@catalogs_required
def catalog_upload_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    catalog_import = _own_import(request, pk)
    if catalog_import is None:
        return redirect("catalog_upload")
    try:
        catalog_import_cancel(catalog_import=catalog_import, actor=request.user)
    except ImportRefused as exc:
        messages.error(request, str(exc))
        return _client_redirect(request, reverse("catalog_upload_preview", args=[catalog_import.pk]))
    messages.success(request, "Upload cancelled; nothing was imported.")
    return _client_redirect(request, reverse("catalog_upload"))


# --- Catalog page and runs -------------------------------------------------------------------


@require_safe
@catalogs_required
def catalog_detail(request: HttpRequest, pk: int) -> HttpResponse:
    form = CatalogPageForm(request.GET)
    if not form.is_valid():
        return form_refused(form)
    catalog = get_object_or_404(Catalog, pk=pk)
    imported = form.cleaned_data["imported"]
    catalog_import = catalog_import_get(pk=imported, user=request.user) if imported else None
    if catalog_import is not None and (catalog_import.catalog_id, catalog_import.status) != (catalog.pk, S.IMPORTED):
        catalog_import = None
    return render(request, "catalogs/catalog.html", _catalog_context(catalog, imported=catalog_import))


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
    return _client_redirect(request, reverse("run_detail", args=[run.pk]))


@require_safe
@catalogs_required
def catalog_export(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    if fmt not in EXPORT_FORMATS:
        raise Http404("Unknown export format")
    catalog = get_object_or_404(Catalog, pk=pk)
    rows = published_rows(catalog=catalog)
    chunks = stream_csv(rows) if fmt == "csv" else stream_jsonl(rows)
    return download_response(chunks, fmt=fmt, filename=export_filename(catalog=catalog, fmt=fmt))

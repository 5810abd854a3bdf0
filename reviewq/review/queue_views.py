"""The review queue's pages: the filtered list (riskiest first unless sorted otherwise), Open and
Next (each claims an item: an explicit POST, never a page view), bulk actions and saved filters.
The review page of one item is in views.py."""

from dataclasses import replace

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from reviewq.core.forms import form_refused
from reviewq.core.models import Description, SentenceBand
from reviewq.core.transitions import InvalidTransition
from reviewq.review.assignments import (
    ASSIGN_MAX_ITEMS,
    TooManyItems,
    assignable_reviewers,
    assignment_scope,
    description_assignees,
    descriptions_assign,
    descriptions_unassign,
)
from reviewq.review.claims import (
    ClaimHeld,
    description_review_claim,
    description_review_next,
    descriptions_review_release,
)
from reviewq.review.decisions import descriptions_bulk_approve
from reviewq.review.forms import (
    QueueAssignForm,
    QueueBulkForm,
    QueueFilterForm,
    QueueNextForm,
    QueueOpenForm,
    QueuePageForm,
    SavedFilterForm,
)
from reviewq.review.queue import (
    SORT_LABELS,
    catalog_choices,
    queue_counts,
    queue_descriptions,
    queue_items,
    queue_next_candidates,
    queue_page,
)
from reviewq.review.saved_filters import (
    SavedFilterRefused,
    saved_filter_delete,
    saved_filter_list,
    saved_filter_save,
)

REVIEW_PERMISSION = "reviewq.review_description"
review_required = permission_required(REVIEW_PERMISSION, raise_exception=True)
assign_required = permission_required("reviewq.assign_reviews", raise_exception=True)


def url_with_query(url: str, query: str) -> str:
    return f"{url}?{query}" if query else url


@require_safe
@review_required
def queue(request: HttpRequest) -> HttpResponse:
    form = QueuePageForm(request.GET)
    if not form.is_valid():
        return form_refused(form)
    filters = form.filters()
    fragment = form.cleaned_data["fragment"] if request.htmx else ""
    # Band counts come from a short-lived cache; on a miss the page asks for them separately
    # (fragment=counts) so the list itself is never held up by counting.
    counts = queue_counts(
        user=request.user, filters=filters, cached_only=fragment != "counts" and not form.cleaned_data["counts"]
    )
    context = {
        "filters": filters,
        "filter_query": filters.querystring(),
        "unbanded_query": replace(filters, band="").querystring(),
        "counts": counts,
        "band_counts": _band_counts(counts),
    }
    if fragment == "counts":
        return render(request, "review/queue.html#band-counts", context)
    page = queue_page(user=request.user, filters=filters, after=form.cleaned_data["after"])
    context.update(
        {
            "page": page,
            "assignees": description_assignees(description_ids=[item.id for item in page.items]),
            "reviewers": assignable_reviewers() if request.user.has_perm("reviewq.assign_reviews") else [],
            "catalogs": catalog_choices(),
            "sorts": list(SORT_LABELS.items()),
            "saved_filters": saved_filter_list(user=request.user),
            "bands": [
                (SentenceBand.FLAG, "Flagged"),
                (SentenceBand.REVIEW, "Review"),
                (SentenceBand.PUBLISH, "Confident"),
            ],
        }
    )
    template = "review/queue.html#queue-results" if request.htmx and not request.htmx.boosted else "review/queue.html"
    return render(request, template, context)


def _band_counts(counts) -> list[tuple[str, str, str, int]]:
    if counts is None:
        return []
    return [
        (SentenceBand.FLAG, "Flagged", "⚑", counts.flag),
        (SentenceBand.REVIEW, "Review", "◐", counts.review),
        (SentenceBand.PUBLISH, "Confident", "✓", counts.publish),
    ]


@require_POST
@review_required
def queue_next(request: HttpRequest) -> HttpResponse:
    form = QueueNextForm(request.POST)
    if not form.is_valid():
        return form_refused(form)
    filters = form.filters()
    release = None
    if form.cleaned_data["current"] is not None:
        release = Description.objects.filter(pk=form.cleaned_data["current"]).first()
    description = description_review_next(
        reviewer=request.user,
        candidates=queue_next_candidates(user=request.user, filters=filters),
        release=release,
    )
    if description is None:
        messages.info(request, "Nothing left to review with these filters.")
        return redirect(url_with_query(reverse("queue"), filters.querystring()))
    return redirect(url_with_query(reverse("review", args=[description.pk]), filters.querystring()))


@require_POST
@review_required
def queue_open(request: HttpRequest) -> HttpResponse:
    """A queue row's Open: claim that item and go to it. Someone else's live claim (or an item
    that left review meanwhile) refuses the claim, says why, and the item opens read-only."""
    form = QueueOpenForm(request.POST)
    if not form.is_valid():
        return form_refused(form)
    filters = form.filters()
    description = get_object_or_404(Description, pk=form.cleaned_data["description"])
    try:
        description_review_claim(description=description, reviewer=request.user)
    except ClaimHeld as error:
        until = f" until {timezone.localtime(error.until):%H:%M}" if error.until else ""
        messages.warning(request, f"{error} Their claim runs{until}; it opens read-only for you.")
    except InvalidTransition as error:
        messages.info(request, f"{error} It opens read-only.")
    return redirect(url_with_query(reverse("review", args=[description.pk]), filters.querystring()))


@require_POST
@review_required
def queue_bulk(request: HttpRequest) -> HttpResponse:
    """Step 1 shows what the action will do and asks to confirm; step 2 (confirm=1) does it
    on the versions the reviewer confirmed."""
    form = QueueBulkForm(request.POST)
    if not form.is_valid():
        return form_refused(form)
    filters = form.filters()
    back = url_with_query(reverse("queue"), filters.querystring())
    action, ids = form.cleaned_data["action"], form.cleaned_data["selected"]
    if not action or not ids:
        messages.error(request, "Select at least one description and an action.")
        return redirect(back)
    if not form.cleaned_data["confirm"]:
        items = queue_items(user=request.user, ids=ids)
        return render(
            request,
            "review/bulk_confirm.html",
            {
                "action": action,
                "items": items,
                "confident": [i for i in items if i.worst_band == SentenceBand.PUBLISH],
                "filters": filters,
                "filter_query": filters.querystring(),
            },
        )
    if action == "approve":
        result = descriptions_bulk_approve(versions=form.cleaned_data["versions"], reviewer=request.user)
        messages.success(request, f"Published {len(result.approved)} description(s).")
        if result.skipped:
            messages.warning(request, f"Left {len(result.skipped)} in the queue: {_skip_summary(result.skipped)}.")
    else:
        released = descriptions_review_release(description_ids=ids, reviewer=request.user)
        messages.success(request, f"Released {len(released)} claim(s).")
        if len(released) < len(ids):
            messages.warning(request, f"{len(ids) - len(released)} selected item(s) were not held by you.")
    return redirect(back)


@require_POST
@review_required
def queue_filter_save(request: HttpRequest) -> HttpResponse:
    """Save the filters the form carries under a name, then show the queue with them."""
    form = SavedFilterForm(request.POST)
    if not form.is_valid():
        return form_refused(form)
    filters = form.filters()
    try:
        saved = saved_filter_save(user=request.user, name=form.cleaned_data["name"], filters=filters)
    except SavedFilterRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Saved the filter “{saved.name}”.")
    return redirect(url_with_query(reverse("queue"), filters.querystring()))


@require_POST
@review_required
def queue_filter_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete one of the reviewer's saved filters; the queue keeps the filters it showed."""
    form = QueueFilterForm(request.POST)
    if not form.is_valid():
        return form_refused(form)
    if not saved_filter_delete(user=request.user, saved_filter_id=pk):
        raise Http404("No such saved filter of yours.")
    messages.success(request, "Deleted the saved filter.")
    return redirect(url_with_query(reverse("queue"), form.filters().querystring()))


@require_POST
@assign_required
def queue_assign(request: HttpRequest) -> HttpResponse:
    """The queue's Assign buttons (editors and admins). Step 1 says how many items and to whom
    and asks to confirm; step 2 (confirm=1) assigns (or unassigns) the same scope."""
    form = QueueAssignForm(request.POST)
    if not form.is_valid():
        return form_refused(form)
    filters = form.filters()
    back = url_with_query(reverse("queue"), filters.querystring())
    problem = form.problem()
    if problem:
        messages.error(request, problem)
        return redirect(back)
    data = form.cleaned_data
    if data["assign"] in ("selected", "unassign"):
        scope = assignment_scope(description_ids=data["selected"])
    elif data["assign"] == "catalog":
        scope = assignment_scope(rows=Description.objects.filter(product__catalog_id=filters.catalog_id))
    else:
        scope = assignment_scope(rows=queue_descriptions(user=request.user, filters=filters))
    if not data["confirm"]:
        count = scope.count()
        return render(
            request,
            "review/assign_confirm.html",
            {
                "assign": data["assign"],
                "count": count,
                "too_many": count > ASSIGN_MAX_ITEMS,
                "limit": ASSIGN_MAX_ITEMS,
                "items": queue_items(user=request.user, ids=data["selected"]) if data["selected"] else [],
                "reviewers": data["reviewers"],
                "per_item": data["per_item"],
                "filters": filters,
                "filter_query": filters.querystring(),
            },
        )
    if data["assign"] == "unassign":
        removed = descriptions_unassign(scope=scope, reviewers=data["reviewers"], unassigned_by=request.user)
        messages.success(request, f"Removed {removed} assignment(s).")
        return redirect(back)
    try:
        result = descriptions_assign(
            scope=scope, reviewers=data["reviewers"], per_item=data["per_item"], assigned_by=request.user
        )
    except TooManyItems as error:
        messages.error(request, str(error))
        return redirect(back)
    messages.success(request, f"Assigned {result.items} item(s): {result.created} new assignment(s).")
    return redirect(back)


def _skip_summary(skipped: dict[int, str]) -> str:
    reasons: dict[str, int] = {}
    for reason in skipped.values():
        reasons[reason] = reasons.get(reason, 0) + 1
    return "; ".join(f"{n} {reason}" for reason, n in sorted(reasons.items()))

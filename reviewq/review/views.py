from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from generation.regeneration_requests import sentence_regenerated_version
from reviewq.core.forms import form_refused
from reviewq.core.models import Description, DescriptionStatus, ErrorCategory, Sentence
from reviewq.core.transitions import ConflictError, InvalidTransition
from reviewq.review.claims import (
    CLAIM_TAKE_OVER_PERMISSION,
    ClaimHeld,
    description_review_claim,
    description_review_release,
    description_review_take_over,
)
from reviewq.review.comments import comment_add
from reviewq.review.decisions import (
    ReviewIncomplete,
    description_approve,
    description_reject,
)
from reviewq.review.detail import review_detail
from reviewq.review.forms import (
    CommentForm,
    DecisionForm,
    ReviewPageForm,
    SentenceActionForm,
)
from reviewq.review.history import description_history, revision_list
from reviewq.review.qa import qa_sample_blinding
from reviewq.review.queue import (
    QueueFilters,
    queue_neighbours,
    queue_next_candidates,
)
from reviewq.review.queue_views import review_required, url_with_query
from reviewq.review.regeneration import description_regenerate, sentence_regeneration_request
from reviewq.review.revision_forms import RevisionActionForm
from reviewq.review.revisions import description_revert, description_unpublish, revision_live_diff
from reviewq.review.sentences import (
    EditRefused,
    sentence_approve,
    sentence_categorise,
    sentence_edit,
    sentence_remove,
    sentence_reset,
    sentence_substitute,
)

# --- Review page ----------------------------------------------------------------------------
# The queue's pages are in queue_views.py. Every request value goes through a form (reviewq/review/forms.py); odd input is a 400 before
# anything is read or written. A plain POST redirects (or re-renders the page on a conflict,
# to show the newer text); an htmx POST gets the fragment it swaps. Errors come back to htmx
# as 409/422 with a fragment retargeted to the page's alert region (static/js/review.js lets
# htmx swap those statuses).

REVISION_PUBLISH_PERMISSION = "reviewq.publish_revision"


def _review_context(request: HttpRequest, *, pk: int, filters: QueueFilters) -> dict:
    detail = review_detail(description_id=pk, user=request.user)
    previous_id, next_id = queue_neighbours(user=request.user, filters=filters, description=detail.description)
    return {
        "detail": detail,
        "description": detail.description,
        "product": detail.description.product,
        "filters": filters,
        "filter_query": filters.querystring(),
        "previous_id": previous_id,
        "next_id": next_id,
        "in_review": detail.description.status == DescriptionStatus.REVIEW,
        "can_act": detail.description.status == DescriptionStatus.REVIEW
        and (detail.claim_mine or not detail.claim_holder),
        "generating": detail.description.status in (DescriptionStatus.QUEUED, DescriptionStatus.GENERATING),
        # Offered in the edit, reason and reject forms; each is chosen with its key.
        "categories": list(ErrorCategory.objects.filter(active=True)),
    }


@require_safe
@review_required
def review(request: HttpRequest, pk: int) -> HttpResponse:
    form = ReviewPageForm(request.GET)
    if not form.is_valid():
        return form_refused(form)
    filters = form.filters()
    fragment = form.cleaned_data["fragment"] if request.htmx else ""
    blinding = qa_sample_blinding(user=request.user, description_id=pk)
    if blinding is not None:
        return render(request, "review/qa_blind.html", {"sample": blinding}, status=403)
    try:
        # Viewing never claims: a claim is a POST (Open, Next, Take over) or the first action.
        context = _review_context(request, pk=pk, filters=filters)
    except Description.DoesNotExist:
        raise Http404("No such description.") from None
    context["came_from"] = form.cleaned_data["from"]
    context["can_take_over"] = request.user.has_perm(CLAIM_TAKE_OVER_PERMISSION)
    context["tab"] = form.cleaned_data["tab"] or "text"
    if context["tab"] == "history":
        _history_context(request, context)
    else:
        context["live_diff"] = revision_live_diff(draft=context["description"])
    context["editing"] = form.cleaned_data["edit"]
    # A fragment fetched after the page loaded saves against the version the page showed.
    context["form_version"] = form.cleaned_data["version"]
    if fragment == "sentence":
        index = form.cleaned_data["index"]
        context["sentence_view"] = next((v for v in context["detail"].sentences if v.index == index), None)
        if context["sentence_view"] is None:
            raise Http404("No such sentence.")
        response = render(request, "review/review.html#sentence", context)
        if context["form_version"] is not None and not context["sentence_view"].regenerating:
            # A poll that finds the sentence regenerated moves the page to the new version,
            # but only if that regeneration is the one change since the page's version.
            newer = sentence_regenerated_version(description_id=pk, index=index, page_version=context["form_version"])
            if newer is not None:
                trigger_client_event(response, "reviewq:version", {"version": newer})
        return response
    if fragment == "status":
        response = render(request, "review/review.html#status", context)
        if not context["generating"]:
            response["HX-Refresh"] = "true"  # the new text is ready: reload the whole page
        return response
    return render(request, "review/review.html", context)


def _history_context(request: HttpRequest, context: dict) -> None:
    context["history"] = description_history(description=context["description"])
    context["revisions"] = revision_list(product=context["product"])
    context["can_publish_revision"] = request.user.has_perm(REVISION_PUBLISH_PERMISSION)


def _review_url(pk: int, filters: QueueFilters, anchor: str = "") -> str:
    return url_with_query(reverse("review", args=[pk]), filters.querystring()) + anchor


def _action_failed(
    request: HttpRequest, *, pk: int, filters: QueueFilters, error: Exception, attempted: dict | None = None
) -> HttpResponse:
    """A refused action: the conflict (with the newer text) or the reason, never a silent loss."""
    conflict = isinstance(error, ConflictError)
    status = 409 if conflict or isinstance(error, ClaimHeld) else 422
    if not request.htmx and not conflict:
        messages.error(request, str(error))
        return redirect(_review_url(pk, filters))
    context = _review_context(request, pk=pk, filters=filters)
    context.update({"error": str(error), "conflict": conflict, "attempted": attempted or {}, "tab": "text"})
    if not request.htmx:
        return render(request, "review/review.html", context, status=status)
    response = render(request, "review/review.html#alert", context, status=status)
    response["HX-Retarget"] = "#review-alert"
    response["HX-Reswap"] = "innerHTML"
    return response


@require_POST
@review_required
def review_sentence(request: HttpRequest, pk: int, index: int) -> HttpResponse:
    sentence = get_object_or_404(Sentence.objects.select_related("description"), description_id=pk, index=index)
    form = SentenceActionForm(request.POST)
    if not form.is_valid():
        return form_refused(form)
    filters = form.filters()
    action, version, text = form.cleaned_data["action"], form.cleaned_data["version"], form.cleaned_data["text"]
    category = form.cleaned_data["category"]
    attempted = {"index": index, "action": action, "text": text}
    try:
        if action == "approve":
            sentence = sentence_approve(sentence=sentence, reviewer=request.user, expected_version=version)
        elif action == "remove":
            sentence = sentence_remove(
                sentence=sentence, reviewer=request.user, expected_version=version, category=category
            )
        elif action == "categorise":
            sentence = sentence_categorise(
                sentence=sentence, reviewer=request.user, category=category, expected_version=version
            )
        elif action == "reset":
            sentence = sentence_reset(sentence=sentence, reviewer=request.user, expected_version=version)
        elif action == "regenerate":
            sentence_regeneration_request(sentence=sentence, reviewer=request.user, expected_version=version)
        elif action == "edit":
            sentence = sentence_edit(
                sentence=sentence, reviewer=request.user, text=text, expected_version=version, category=category
            )
        else:
            attempted["text"] = form.cleaned_data["alternative"]
            sentence = sentence_substitute(
                sentence=sentence,
                reviewer=request.user,
                position=form.cleaned_data["position"],
                alternative=form.cleaned_data["alternative"],
                expected_version=version,
            )
    except (ConflictError, ClaimHeld, InvalidTransition, EditRefused) as error:
        return _action_failed(request, pk=pk, filters=filters, error=error, attempted=attempted)
    if not request.htmx:
        return redirect(_review_url(pk, filters, f"#s-{index}"))
    context = _review_context(request, pk=pk, filters=filters)
    context["sentence_view"] = next(v for v in context["detail"].sentences if v.index == index)
    response = render(request, "review/review.html#sentence-updated", context)
    return trigger_client_event(response, "reviewq:version", {"version": context["description"].version})


@require_POST
@review_required
def review_decide(request: HttpRequest, pk: int) -> HttpResponse:
    description = get_object_or_404(Description.objects.select_related("product"), pk=pk)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return form_refused(form)
    filters = form.filters()
    # Not "reason": that name is the queue's "Reason contains" filter, carried in the form.
    action, version = form.cleaned_data["action"], form.cleaned_data["version"]
    reason = form.cleaned_data["rejection_reason"]
    if action == "release":
        description_review_release(description=description, reviewer=request.user)
        messages.info(request, f"Released {description.product.name}.")
        return _go(request, url_with_query(reverse("queue"), filters.querystring()))
    if action in ("claim", "take_over"):
        take = description_review_take_over if action == "take_over" else description_review_claim
        try:
            take(description=description, reviewer=request.user)
        except (ClaimHeld, InvalidTransition) as error:
            messages.error(request, str(error))
        return _go(request, _review_url(pk, filters))
    attempted = {"action": action, "text": reason}
    try:
        if action == "approve":
            description_approve(
                description=description,
                reviewer=request.user,
                expected_version=version,
                approve_remaining=form.cleaned_data["approve_remaining"],
            )
            messages.success(request, f"Published {description.product.name}.")
            return _go(request, _next_item_url(request, filters=filters, decided=description))
        if action == "reject":
            description_reject(
                description=description,
                reviewer=request.user,
                expected_version=version,
                reason=reason,
                category=form.cleaned_data["rejection_category"],
            )
            messages.success(request, f"Rejected {description.product.name}.")
            return _go(request, _next_item_url(request, filters=filters, decided=description))
        description_regenerate(description=description, reviewer=request.user, expected_version=version)
        messages.info(request, "Regenerating; this page updates when the new text is ready.")
        return _go(request, _review_url(pk, filters))
    except ReviewIncomplete as error:
        error = EditRefused(f"{error} Decide them, or approve them with the description.")
        return _action_failed(request, pk=pk, filters=filters, error=error, attempted=attempted)
    except (ConflictError, ClaimHeld, InvalidTransition, EditRefused) as error:
        return _action_failed(request, pk=pk, filters=filters, error=error, attempted=attempted)


@require_POST
@review_required
def review_comment(request: HttpRequest, pk: int) -> HttpResponse:
    """Add a comment; then the History tab, where it shows (an htmx POST swaps its list). An
    empty or too long comment comes back with its error; other odd input is a 400."""
    description = get_object_or_404(Description, pk=pk)
    form = CommentForm(request.POST)
    if not form.is_valid() and set(form.errors) - {"text"}:
        return form_refused(form)
    if form.is_valid():
        try:
            comment_add(description=description, author=request.user, text=form.cleaned_data["text"])
        except EditRefused as error:
            form.add_error("text", str(error))
    filters = form.filters()
    if form.is_valid():
        if not request.htmx:
            query = "&".join(q for q in ("tab=history", filters.querystring()) if q)
            return redirect(url_with_query(reverse("review", args=[pk]), query) + "#comments")
        form = CommentForm()  # an empty form for the next comment
    if request.htmx:  # the History list and the comment form: all the fragment shows
        context = {
            "description": description,
            "filters": filters,
            "history": description_history(description=description),
            "comment_form": form,
        }
        return render(request, "review/review.html#history", context, status=422 if form.errors else 200)
    context = _review_context(request, pk=pk, filters=filters)
    context.update({"tab": "history", "comment_form": form})
    _history_context(request, context)
    return render(request, "review/review.html", context, status=400)


def _next_item_url(request: HttpRequest, *, filters: QueueFilters, decided: Description) -> str:
    """The next riskiest unclaimed item under the reviewer's filters (with a way back to the one
    just decided), or the filtered queue when none is left."""
    following = [pk for pk in queue_next_candidates(user=request.user, filters=filters, limit=2) if pk != decided.pk]
    if not following:
        return url_with_query(reverse("queue"), filters.querystring())
    query = "&".join(q for q in (filters.querystring(), f"from={decided.pk}") if q)
    return url_with_query(reverse("review", args=[following[0]]), query)


def _go(request: HttpRequest, url: str) -> HttpResponse:
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_POST
@review_required
def review_revision(request: HttpRequest, pk: int) -> HttpResponse:
    """Revert to this revision (a new draft; published at once by an admin who asks) or
    unpublish it (the live one, with a reason). Then the History tab of the result."""
    revision = get_object_or_404(Description.objects.select_related("product"), pk=pk)
    form = RevisionActionForm(request.POST)
    history = reverse("review", args=[pk]) + "?tab=history"
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return _go(request, history)
    data = form.cleaned_data
    if data["version"] != revision.version:
        messages.error(request, "This revision changed since you opened it; look again.")
        return _go(request, history)
    publish = data["publish"] and request.user.has_perm(REVISION_PUBLISH_PERMISSION)
    try:
        if data["action"] == "revert":
            copy = description_revert(revision=revision, actor=request.user, publish=publish, note=data["reason"])
            messages.success(request, f"Revision {pk} is {'live again' if publish else 'the draft now'}.")
            return _go(request, reverse("review", args=[copy.pk]) + "?tab=history")
        description_unpublish(description=revision, actor=request.user, reason=data["reason"])
        messages.success(request, f"Unpublished {revision.product.name}: exports and the API leave it out.")
    except (ConflictError, InvalidTransition) as error:
        messages.error(request, str(error))
    return _go(request, history)

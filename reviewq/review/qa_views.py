"""The QA queue and the blind second-review page (services in reviewq/review/qa.py).

The review page shows a sample's sentences as generated, with the gate's scores, and nothing
of its first decision: the template gets QASentenceView rows and the product, never the
description's decisions, reviewer, status or reason for sampling.
"""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from reviewq.core.forms import form_refused
from reviewq.core.models import QASample
from reviewq.review.detail import product_attributes
from reviewq.review.qa import QARefused, qa_review_submit, qa_sample_take, qa_samples_for, qa_sentences
from reviewq.review.qa_forms import QAQueueForm, QAVerdictsForm
from reviewq.review.queue_views import review_required

QA_QUEUE_LIMIT = 200


@require_safe
@review_required
def qa_queue(request: HttpRequest) -> HttpResponse:
    form = QAQueueForm(request.GET)
    if not form.is_valid():
        return form_refused(form)
    mine = form.cleaned_data["mine"]
    samples = qa_samples_for(user=request.user, mine_only=mine)[:QA_QUEUE_LIMIT]
    return render(request, "review/qa_queue.html", {"samples": samples, "mine": mine})


def _sample_for(request: HttpRequest, pk: int) -> QASample:
    """An open sample this user may see: assigned to them, or free and not decided by them."""
    sample = qa_samples_for(user=request.user).filter(pk=pk).first()
    if sample is None:
        raise Http404("No open QA review of yours with this number.")
    return sample


@require_http_methods(["GET", "POST"])
@review_required
def qa_review(request: HttpRequest, pk: int) -> HttpResponse:
    sample = _sample_for(request, pk)
    sentences = qa_sentences(sample=sample)
    form = QAVerdictsForm(request.POST if request.method == "POST" else None, indexes=[s.index for s in sentences])
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                result = qa_review_submit(sample=sample, reviewer=request.user, verdicts=form.verdicts())
            except QARefused as exc:
                messages.error(request, str(exc))
                return redirect("qa_queue")
            done = f"QA review saved: {result.wrong} sentence(s) wrong."
            if result.note:
                done += f" The live copy goes back to review: {result.note}." if result.fix else f" {result.note}."
            messages.success(request, done)
            return redirect("qa_queue")
        status = 422
    product = sample.description.product
    rows = [(view, form[f"s{view.index}"]) for view in sentences]
    context = {
        "sample": sample,
        "product": product,
        "attributes": product_attributes(product=product),
        "rows": rows,
        "form": form,
        "mine": sample.qa_reviewer_id == request.user.pk,
    }
    return render(request, "review/qa_review.html", context, status=status)


@require_POST
@review_required
def qa_take(request: HttpRequest, pk: int) -> HttpResponse:
    sample = _sample_for(request, pk)
    try:
        qa_sample_take(sample=sample, reviewer=request.user)
    except QARefused as exc:
        messages.error(request, str(exc))
        return redirect("qa_queue")
    return redirect(reverse("qa_review", args=[sample.pk]))

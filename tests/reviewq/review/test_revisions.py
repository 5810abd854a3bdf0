"""Revisions: generation writes a draft beside the live copy, which stays in exports, the API
and the counts until the draft is published; revert and unpublish are audited."""

import pytest
from django.urls import reverse

from generation.runs import run_cancel, run_start
from generation.tasks import generate_description_task
from reviewq.catalogs.api import api_token_create
from reviewq.catalogs.exports import published_rows
from reviewq.core.models import AuditEvent, Description, DescriptionStatus, GenerationRun
from reviewq.core.selectors import catalog_overview_list
from reviewq.core.transitions import InvalidTransition
from reviewq.review.decisions import description_approve
from reviewq.review.history import revision_list
from reviewq.review.revisions import description_revert, description_unpublish, revision_live_diff
from tests.factories import CatalogFactory
from tests.reviewq.editor_data import make_description, role_user

S = DescriptionStatus


def _api_products(client, catalog):
    _, key = api_token_create(user=role_user("reviewer"), name="shop")
    response = client.get(reverse("api_products"), {"catalog": catalog.pk}, HTTP_AUTHORIZATION=f"Bearer {key}")
    return {row["sku"]: row for row in response.json()["results"]}


def _published_count(catalog):
    [overview] = [o for o in catalog_overview_list() if o.catalog == catalog]
    return {c.status: c.count for c in overview.status_counts}[S.PUBLISHED]


@pytest.mark.django_db(transaction=True)
def test_a_run_on_published_copy_writes_drafts_and_the_live_text_stays_until_one_is_published(client, openai_settings):
    catalog = CatalogFactory()
    live = make_description(catalog=catalog, status=S.PUBLISHED)
    sku = live.product.sku
    run = run_start(catalog=catalog, actor=role_user("editor"), mode=GenerationRun.Mode.ALL)
    assert generate_description_task.apply(args=[live.product_id]).get() == S.REVIEW  # never auto-published

    draft = Description.objects.get(product=live.product, status=S.REVIEW)
    assert draft.pk != live.pk and draft.run == run and draft.text != live.text
    assert Description.objects.get(pk=live.pk).status == S.PUBLISHED
    assert [row["text"] for row in published_rows(catalog=catalog)] == [live.text]
    product = _api_products(client, catalog)[sku]
    assert product["published_text"] == live.text and product["status"] == S.PUBLISHED
    assert product["draft"]["id"] == draft.pk and product["draft"]["status"] == S.REVIEW
    assert _published_count(catalog) == 1
    assert revision_live_diff(draft=draft)  # the review page compares the draft with the live copy

    reviewer = role_user("reviewer")
    description_approve(description=draft, reviewer=reviewer, expected_version=draft.version, approve_remaining=True)
    assert [row["description_id"] for row in published_rows(catalog=catalog)] == [draft.pk]
    assert Description.objects.get(pk=live.pk).status == S.ARCHIVED
    assert _api_products(client, catalog)[sku]["published_text"] == Description.objects.get(pk=draft.pk).text
    assert _published_count(catalog) == 1
    superseded = AuditEvent.objects.get(action="revision_superseded")
    assert superseded.description_id == live.pk and superseded.actor == reviewer


@pytest.mark.django_db
def test_cancelling_a_run_leaves_untouched_products_as_they_were():
    catalog = CatalogFactory()
    live = make_description(catalog=catalog, status=S.PUBLISHED)
    in_review = make_description(catalog=catalog, status=S.REVIEW)
    new = make_description(catalog=catalog, status=S.QUEUED, sentences=())
    Description.objects.filter(pk=new.pk).delete()  # a product never generated
    run = run_start(catalog=catalog, actor=None, mode=GenerationRun.Mode.ALL)
    assert run.queued == 3

    assert run_cancel(run=run, actor=None) == 3
    assert Description.objects.get(pk=live.pk).status == S.PUBLISHED
    assert Description.objects.get(pk=in_review.pk).status == S.REVIEW
    assert Description.objects.get(product=new.product).status == S.CANCELLED
    assert not Description.objects.filter(status=S.FAILED).exists()
    assert Description.objects.filter(product=live.product, status=S.CANCELLED).exists()  # the dropped draft


@pytest.mark.django_db
def test_revert_makes_a_new_draft_with_the_old_sentences_and_tokens_and_is_audited():
    catalog = CatalogFactory()
    old = make_description(catalog=catalog, status=S.PUBLISHED, with_tokens=True)
    newer = make_description(product=old.product, status=S.REVIEW, with_tokens=True)
    reviewer = role_user("reviewer")
    description_approve(description=newer, reviewer=reviewer, expected_version=newer.version, approve_remaining=True)
    old.refresh_from_db()
    assert old.status == S.ARCHIVED

    copy = description_revert(revision=old, actor=reviewer, note="the new one is wrong")
    assert copy.status == S.REVIEW and copy.text == old.text and copy.source_id == old.pk
    assert list(copy.sentences.values_list("text", flat=True)) == list(old.sentences.values_list("text", flat=True))
    assert copy.tokens.count() == old.tokens.count() > 0
    assert all(t.sentence.description_id == copy.pk for t in copy.tokens.select_related("sentence"))
    assert Description.objects.get(product=old.product, status=S.PUBLISHED).pk == newer.pk  # still live
    event = AuditEvent.objects.get(action="revision_reverted")
    assert event.actor == reviewer and event.before["source"] == old.pk and event.note == "the new one is wrong"
    with pytest.raises(InvalidTransition):
        description_revert(revision=copy, actor=reviewer)

    # An admin publishes a revert directly; the draft it replaces is archived, not lost.
    admin = role_user("admin")
    again = description_revert(revision=old, actor=admin, publish=True)
    assert again.status == S.PUBLISHED
    assert Description.objects.get(pk=copy.pk).status == S.ARCHIVED
    assert Description.objects.get(pk=newer.pk).status == S.ARCHIVED
    rows = revision_list(product=old.product)
    assert [r.description.pk for r in rows] == [again.pk, copy.pk, newer.pk, old.pk]
    assert rows[0].is_live and rows[0].created_by == admin.username and "Reverted to revision" in rows[0].why
    assert rows[2].ended.startswith("Superseded by")


@pytest.mark.django_db
def test_unpublish_needs_a_reason_is_audited_and_exports_leave_the_product_out(client):
    catalog = CatalogFactory()
    live = make_description(catalog=catalog, status=S.PUBLISHED)
    admin = role_user("admin")
    with pytest.raises(InvalidTransition):
        description_unpublish(description=live, actor=admin, reason="  ")
    description_unpublish(description=live, actor=admin, reason="recalled product")

    assert list(published_rows(catalog=catalog)) == []
    product = _api_products(client, catalog)[live.product.sku]
    assert product["published_text"] is None and product["status"] == "unpublished"
    event = AuditEvent.objects.get(action="unpublished")
    assert (event.actor, event.note, event.after["status"]) == (admin, "recalled product", S.ARCHIVED)
    assert revision_list(product=live.product)[0].ended == f"Unpublished by {admin.username}: recalled product"


@pytest.mark.django_db
def test_history_tab_lists_revisions_and_its_forms_revert_and_unpublish(client):
    from tests.reviewq.editor_data import client_for

    live = make_description(status=S.PUBLISHED)
    draft = make_description(product=live.product, status=S.REVIEW)
    client, _admin = client_for(client, "admin")
    page = client.get(reverse("review", args=[draft.pk]))
    assert "Changes against the live (published) copy" in page.content.decode()
    history = client.get(reverse("review", args=[draft.pk]), {"tab": "history"}).content.decode()
    assert f"#{live.pk}" in history and "Unpublish" in history and f"Revert to #{live.pk}" in history

    url = reverse("review_revision", args=[live.pk])
    client.post(url, {"action": "unpublish", "version": live.version, "reason": ""})
    assert Description.objects.get(pk=live.pk).status == S.PUBLISHED  # a reason is required
    client.post(url, {"action": "unpublish", "version": live.version, "reason": "wrong size"})
    assert Description.objects.get(pk=live.pk).status == S.ARCHIVED
    response = client.post(url, {"action": "revert", "version": live.version + 1, "publish": "1"})
    copy = Description.objects.get(product=live.product, status=S.PUBLISHED)
    assert copy.source_id == live.pk and response.url.startswith(reverse("review", args=[copy.pk]))
    assert Description.objects.get(pk=draft.pk).status == S.ARCHIVED
    assert client.post(url, {"action": "bogus", "version": "x"}).status_code == 302  # a form error, not a 500

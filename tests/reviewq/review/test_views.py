import json
import re

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from reviewq.core.audit import AuditAction
from reviewq.core.models import AuditEvent, Description, DescriptionStatus
from reviewq.core.roles import ADMIN, EDITOR, REVIEWER, roles_ensure
from reviewq.gating.gate import EDITED_REASON
from reviewq.gating.verifier import SIGNAL_KEY
from reviewq.review.claims import description_review_claim
from reviewq.review.sentences import sentence_edit
from tests.factories import CatalogFactory, ProductFactory, UserFactory
from tests.reviewq.review_data import BOTTLE_REASONS, make_bottle_description, make_review_description

pytestmark = pytest.mark.django_db
S = DescriptionStatus
HTMX = {"HTTP_HX_REQUEST": "true"}


def _user(role: str | None, username: str | None = None):
    user = UserFactory(username=username or f"{role or 'nobody'}-user")
    if role:
        roles_ensure()
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture(autouse=True)
def _fresh_counts():
    cache.clear()  # queue band counts are cached for a few seconds


@pytest.fixture
def reviewer():
    return _user(REVIEWER, "rita")


@pytest.fixture
def reviewer_client(client, reviewer):
    client.force_login(reviewer)
    return client


@pytest.fixture
def description():
    return make_review_description()


# --- Permissions: every view, every role ---------------------------------------------------


def _requests(description):
    pk = description.pk
    return [
        ("get", reverse("queue"), {}),
        ("get", reverse("review", args=[pk]), {}),
        ("post", reverse("queue_next"), {}),
        ("post", reverse("queue_open"), {"description": pk}),
        ("post", reverse("queue_bulk"), {"action": "release", "selected": [pk]}),
        ("post", reverse("review_decide", args=[pk]), {"action": "release"}),
        ("post", reverse("review_sentence", args=[pk, 1]), {"action": "approve", "version": 1}),
    ]


@pytest.mark.parametrize("role", [REVIEWER, EDITOR, ADMIN])
def test_review_roles_may_use_every_view(client, description, role):
    client.force_login(_user(role))
    for method, url, data in _requests(description):
        response = getattr(client, method)(url, data)
        assert response.status_code in (200, 302), (url, response.status_code)
        if response.status_code == 302:
            assert "login" not in response["Location"]


def test_user_without_a_role_is_forbidden_everywhere(client, description):
    client.force_login(_user(None))
    for method, url, data in _requests(description):
        assert getattr(client, method)(url, data).status_code == 403, url
    description.refresh_from_db()
    assert description.version == 1 and description.review_claimed_by is None


def test_anonymous_is_sent_to_login_everywhere(client, description):
    for method, url, data in _requests(description):
        response = getattr(client, method)(url, data)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login")), url
    assert not AuditEvent.objects.exists()


def test_post_without_csrf_token_is_refused_and_header_token_is_accepted(description, reviewer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(reviewer)
    page = client.get(reverse("review", args=[description.pk]))
    url = reverse("review_sentence", args=[description.pk, 1])
    assert client.post(url, {"action": "approve", "version": 1}).status_code == 403
    assert description.sentences.get(index=1).decision == ""
    # htmx sends the token from <body hx-headers> as X-CSRFToken.
    token = re.search(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', page.content.decode()).group(1)
    response = client.post(url, {"action": "approve", "version": 1}, HTTP_X_CSRFTOKEN=token, **HTMX)
    assert response.status_code == 200
    assert description.sentences.get(index=1).decision == "approved"


# --- Queue ------------------------------------------------------------------------------------


def test_queue_lists_riskiest_first_with_counts(reviewer_client):
    low = make_review_description(risk=0.2, sentences=[("publish", [("Fine", -0.1)])])
    high = make_review_description(risk=0.95)
    unknown = make_review_description(risk=None)
    make_review_description(risk=0.99, status=S.PUBLISHED)
    response = reviewer_client.get(reverse("queue"))
    ids = [item.id for item in response.context["page"].items]
    assert ids == [unknown.pk, high.pk, low.pk]
    assert "Probability is not truth" in response.content.decode()
    # Counts load separately (htmx) or on request (no JS), then come from the cache.
    assert response.context["counts"] is None and 'hx-trigger="load"' in response.content.decode()
    fragment = reviewer_client.get(reverse("queue"), {"fragment": "counts"}, **HTMX)
    counts = fragment.context["counts"]
    assert (counts.total, counts.flag, counts.review, counts.publish, counts.mine) == (3, 2, 0, 1, 0)
    assert fragment.content.decode().lstrip().startswith('<ul class="band-counts"')
    assert reviewer_client.get(reverse("queue")).context["counts"] == counts
    assert reviewer_client.get(reverse("queue"), {"counts": "1"}).context["counts"] == counts


def test_queue_filters_by_catalog_band_reason_and_mine(reviewer_client, reviewer):
    kitchen = CatalogFactory(name="Kitchen")
    in_kitchen = make_review_description(
        product=ProductFactory(catalog=kitchen), reasons={1: ["number 900 not in attributes"]}
    )
    confident = make_review_description(sentences=[("publish", [("Fine", -0.1)])])
    review_only = make_review_description(sentences=[("review", [("Maybe", -0.9)])])
    description_review_claim(description=review_only, reviewer=reviewer)

    def ids(**params):
        return {item.id for item in reviewer_client.get(reverse("queue"), params).context["page"].items}

    assert ids(catalog=kitchen.pk) == {in_kitchen.pk}
    assert ids(band="publish") == {confident.pk}
    assert ids(band="review") == {review_only.pk}
    assert ids(band="flag") == {in_kitchen.pk}
    assert ids(reason="not in attributes") == {in_kitchen.pk}
    assert ids(mine="1") == {review_only.pk}


def test_queue_pages_with_a_keyset_cursor_cover_every_item_once(reviewer_client):
    made = [
        make_review_description(risk=r, sentences=[("review", [("x", -1.0)])]) for r in [0.5] * 4 + [0.9, 0.1, None]
    ]
    seen, url, params = [], reverse("queue"), {}
    from reviewq.review import queue as selectors

    for _ in range(10):
        page = selectors.queue_page(
            user=reviewer_client.get(url).wsgi_request.user,
            filters=selectors.QueueFilters(),
            after=selectors.QueueCursor.parse(params.get("after", "")),
            limit=2,
        )
        seen += [item.id for item in page.items]
        if page.next_cursor is None:
            break
        params = {"after": str(page.next_cursor)}
    assert sorted(seen) == sorted(d.pk for d in made) and len(seen) == len(set(seen))
    # The page link carries the cursor and renders the following page.
    response = reviewer_client.get(url, {"after": params["after"]})
    assert response.status_code == 200


def test_queue_htmx_filter_returns_only_the_results_fragment(reviewer_client, description):
    response = reviewer_client.get(reverse("queue"), {"band": "flag"}, **HTMX)
    body = response.content.decode()
    assert "<html" not in body and 'class="band-counts"' in body and str(description.product.name) in body


def test_queue_next_claims_the_riskiest_free_item(reviewer_client, reviewer):
    make_review_description(risk=0.3)
    riskiest = make_review_description(risk=0.9)
    response = reviewer_client.post(reverse("queue_next"))
    assert response.status_code == 302 and response["Location"] == reverse("review", args=[riskiest.pk])
    riskiest.refresh_from_db()
    assert riskiest.review_claimed_by == reviewer


def test_queue_rows_have_an_open_button_beside_the_viewing_link(reviewer_client, description):
    body = reviewer_client.get(reverse("queue"), {"band": "flag"}).content.decode()
    assert f'href="{reverse("review", args=[description.pk])}?band=flag"' in body  # views, claims nothing
    assert f'<form method="post" action="{reverse("queue_open")}" id="queue-open">' in body
    assert f'form="queue-open" name="description" value="{description.pk}"' in body
    description.refresh_from_db()
    assert description.review_claimed_by is None


def test_queue_open_claims_the_item_and_goes_to_it_with_the_filters(reviewer_client, reviewer, description):
    other = make_review_description(risk=0.99)
    response = reviewer_client.post(reverse("queue_open"), {"description": description.pk, "band": "flag"})
    assert response.status_code == 302
    assert response["Location"] == reverse("review", args=[description.pk]) + "?band=flag"
    description.refresh_from_db()
    other.refresh_from_db()
    assert (description.review_claimed_by, other.review_claimed_by) == (reviewer, None)  # that row, not the riskiest
    event = AuditEvent.objects.get(action=AuditAction.REVIEW_CLAIMED)
    assert (event.actor, event.description_id) == (reviewer, description.pk)
    body = reviewer_client.get(response["Location"]).content.decode()
    assert "You hold this description" in body


def test_queue_open_of_someone_elses_live_claim_is_refused_and_opens_read_only(reviewer_client, description):
    alice = _user(REVIEWER, "alice")
    description_review_claim(description=description, reviewer=alice)
    response = reviewer_client.post(reverse("queue_open"), {"description": description.pk}, follow=True)
    assert response.redirect_chain == [(reverse("review", args=[description.pk]), 302)]
    body = response.content.decode()
    assert "alice is reviewing this description. Their claim runs until" in body
    assert "it opens read-only for you" in body and 'value="approve"' not in body
    description.refresh_from_db()
    assert description.review_claimed_by == alice
    assert AuditEvent.objects.filter(action=AuditAction.REVIEW_CLAIMED).count() == 1  # alice's only


def test_queue_open_of_an_item_no_longer_in_review_opens_it_read_only(reviewer_client):
    published = make_review_description(status=S.PUBLISHED)
    response = reviewer_client.post(reverse("queue_open"), {"description": published.pk}, follow=True)
    assert "This description is published, not in review. It opens read-only." in response.content.decode()
    published.refresh_from_db()
    assert published.review_claimed_by is None


def test_queue_open_refuses_odd_input_and_get(reviewer_client, description):
    url = reverse("queue_open")
    assert reviewer_client.post(url, {}).status_code == 400
    assert reviewer_client.post(url, {"description": "1; DROP TABLE"}).status_code == 400
    assert reviewer_client.post(url, {"description": 10**30}).status_code == 400
    assert reviewer_client.post(url, {"description": description.pk + 1000}).status_code == 404
    assert reviewer_client.get(url, {"description": description.pk}).status_code == 405
    description.refresh_from_db()
    assert description.review_claimed_by is None


def test_queue_open_needs_the_csrf_token(reviewer, description):
    client = Client(enforce_csrf_checks=True)
    client.force_login(reviewer)
    page = client.get(reverse("queue")).content.decode()
    assert client.post(reverse("queue_open"), {"description": description.pk}).status_code == 403
    description.refresh_from_db()
    assert description.review_claimed_by is None
    token = re.search(
        r'<form method="post" action="/queue/open/" id="queue-open">\s*<input type="hidden" '
        r'name="csrfmiddlewaretoken" value="([^"]+)"',
        page,
    ).group(1)
    response = client.post(reverse("queue_open"), {"description": description.pk, "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    description.refresh_from_db()
    assert description.review_claimed_by == reviewer


def test_bulk_approve_asks_for_confirmation_then_publishes_confident_ones(reviewer_client):
    confident = make_review_description(sentences=[("publish", [("Fine", -0.1), (".", -0.1)])])
    flagged = make_review_description()
    selection = {"action": "approve", "selected": [confident.pk, flagged.pk]}
    response = reviewer_client.post(reverse("queue_bulk"), selection)
    assert response.status_code == 200 and "Publish 1" in response.content.decode()
    confident.refresh_from_db()
    assert confident.status == S.REVIEW  # nothing happens before confirmation
    response = reviewer_client.post(
        reverse("queue_bulk"),
        {**selection, "confirm": "1", f"version-{confident.pk}": 1, f"version-{flagged.pk}": 1},
    )
    assert response.status_code == 302
    confident.refresh_from_db()
    flagged.refresh_from_db()
    assert (confident.status, confident.text, flagged.status) == (S.PUBLISHED, "Fine.", S.REVIEW)


def test_bulk_release_releases_own_claims(reviewer_client, reviewer, description):
    description_review_claim(description=description, reviewer=reviewer)
    reviewer_client.post(reverse("queue_bulk"), {"action": "release", "selected": [description.pk], "confirm": "1"})
    description.refresh_from_db()
    assert description.review_claimed_by is None


# --- Review page -------------------------------------------------------------------------------


def test_review_page_shows_tokens_bands_reasons_and_attributes_and_viewing_claims_nothing(
    reviewer_client, reviewer, description
):
    response = reviewer_client.get(reverse("review", args=[description.pk]))
    body = response.content.decode()
    description.refresh_from_db()
    assert description.review_claimed_by is None
    assert not AuditEvent.objects.filter(action=AuditAction.REVIEW_CLAIMED).exists()
    assert "Open for review" in body
    assert 'class="tok b5"' in body  # " 900" at p=0.055
    assert "⚑ Flagged" in body and "◐ Review" in body
    assert "low probability in sentence 2" in body
    assert "<dt>capacity</dt><dd>750 ml</dd>" in body
    assert "Probability is not truth" in body
    alts = re.search(r'data-pos="8" data-p="0.0550" data-alts="([^"]+)"', body).group(1)
    assert json.loads(alts.replace("&quot;", '"'))[0] == [" 750", 0.6703]


def test_review_page_shows_the_verifiers_opinion_only_where_a_verdict_is_stored(reviewer_client, description):
    first = description.sentences.order_by("index").first()
    first.signals = {**first.signals, SIGNAL_KEY: 0.234}
    first.save(update_fields=["signals"])
    body = reviewer_client.get(reverse("review", args=[description.pk])).content.decode()
    assert body.count("second model: supported") == 1
    assert "second model: supported 23 %" in body
    assert "opinion of support, not a check of truth" in body


def test_review_page_shows_the_agreement_between_samples(reviewer_client, description):
    from reviewq.gating.agreement import sample_reading
    from reviewq.gating.gate import score_sentence
    from reviewq.gating.service import stored_reasons

    sentence = description.sentences.get(index=1)
    others = [sample_reading("A 750 ml bottle."), sample_reading("It holds 750 ml of water.")]
    score = score_sentence(text=sentence.text, tokens=[], samples=others)
    assert score.signals["n_values_alone"] == 1  # " 900" ml: no other sample says it
    sentence.signals, sentence.reasons = score.signals, stored_reasons(score)
    sentence.save()
    body = reviewer_client.get(reverse("review", args=[description.pk])).content.decode()
    share = f"{score.signals['sample_support'] * 100:.0f} %"
    assert re.search(
        r'title="[^"]*2 other samples of the same prompt also wrote: agreement between samples, not truth"', body
    )
    assert f"samples agree {share}</span>" in body
    assert "stated by this sample only, by none of the 2 other samples" in body
    # one candidate: no agreement shown for the other sentences
    assert body.count("samples agree") == 1


def test_review_page_of_someone_elses_claim_is_read_only(client, description):
    description_review_claim(description=description, reviewer=_user(REVIEWER, "alice"))
    client.force_login(_user(REVIEWER, "bob"))
    body = client.get(reverse("review", args=[description.pk])).content.decode()
    assert "alice</strong> is reviewing" in body
    assert 'value="approve"' not in body


def test_sentence_action_htmx_swaps_the_sentence_and_sends_the_new_version(reviewer_client, description):
    url = reverse("review_sentence", args=[description.pk, 1])
    response = reviewer_client.post(url, {"action": "approve", "version": 1}, **HTMX)
    body = response.content.decode()
    assert response.status_code == 200 and body.lstrip().startswith('<li id="s-1"')
    assert 'id="review-summary" class="review-summary" hx-swap-oob="true"' in body
    assert json.loads(response["HX-Trigger"]) == {"reviewq:version": {"version": 2}}


def test_sentence_action_plain_post_redirects_to_the_sentence(reviewer_client, description):
    response = reviewer_client.post(
        reverse("review_sentence", args=[description.pk, 1]),
        {"action": "edit", "version": 1, "text": "It holds 750 ml."},
    )
    assert response.status_code == 302 and response["Location"].endswith("#s-1")
    assert description.sentences.get(index=1).edited_text == " It holds 750 ml."


def test_substitute_via_post(reviewer_client, description):
    token = description.tokens.get(text=" 900")
    reviewer_client.post(
        reverse("review_sentence", args=[description.pk, 1]),
        {"action": "substitute", "version": 1, "position": token.position, "alternative": " 750"},
    )
    assert description.sentences.get(index=1).current_text == " It holds 750 ml."


def test_edit_form_without_js_and_as_fragment(reviewer_client, description):
    url = reverse("review", args=[description.pk])
    body = reviewer_client.get(url, {"edit": 1}).content.decode()
    assert '<textarea id="edit-1" name="text"' in body
    fragment = reviewer_client.get(url, {"fragment": "sentence", "index": 1, "edit": 1}, **HTMX).content.decode()
    assert fragment.lstrip().startswith('<li id="s-1"') and "<textarea" in fragment


def test_stale_save_shows_the_newer_text_and_keeps_the_attempt(reviewer_client, reviewer, description):
    sentence_edit(
        sentence=description.sentences.get(index=1), reviewer=reviewer, text="It holds 750 ml.", expected_version=1
    )
    url = reverse("review_sentence", args=[description.pk, 1])
    response = reviewer_client.post(url, {"action": "edit", "version": 1, "text": "It holds 500 ml."})
    body = response.content.decode()
    assert response.status_code == 409
    assert "this description changed since you opened it" in body
    assert "It holds 750 ml." in body and "It holds 500 ml." in body
    response = reviewer_client.post(url, {"action": "edit", "version": 1, "text": "It holds 500 ml."}, **HTMX)
    assert response.status_code == 409 and response["HX-Retarget"] == "#review-alert"
    assert "It holds 750 ml." in response.content.decode()
    assert description.sentences.get(index=1).edited_text == " It holds 750 ml."


def test_refused_action_reports_why(reviewer_client, description):
    url = reverse("review_sentence", args=[description.pk, 1])
    response = reviewer_client.post(url, {"action": "edit", "version": 1, "text": "  "}, **HTMX)
    assert response.status_code == 422 and "empty" in response.content.decode()
    response = reviewer_client.post(url, {"action": "edit", "version": 1, "text": "  "}, follow=True)
    assert "empty" in response.content.decode()


def test_bad_requests(reviewer_client, description):
    url = reverse("review_sentence", args=[description.pk, 1])
    assert reviewer_client.post(url, {"action": "explode", "version": 1}).status_code == 400
    assert reviewer_client.post(url, {"action": "approve"}).status_code == 400
    assert (
        reviewer_client.post(
            reverse("review_sentence", args=[description.pk, 99]), {"action": "approve", "version": 1}
        ).status_code
        == 404
    )
    assert reviewer_client.get(reverse("review", args=[999999])).status_code == 404
    assert reviewer_client.get(reverse("review_sentence", args=[description.pk, 1])).status_code == 405


def test_approve_description_publishes_and_leaves_the_queue(reviewer_client, description):
    url = reverse("review_decide", args=[description.pk])
    response = reviewer_client.post(url, {"action": "approve", "version": 1})
    assert response.status_code == 302  # refused: sentences pending -> message
    description.refresh_from_db()
    assert description.status == S.REVIEW
    response = reviewer_client.post(url, {"action": "approve", "version": 1, "approve_remaining": "1"}, **HTMX)
    assert response.status_code == 200 and response["HX-Redirect"] == reverse("queue")
    description.refresh_from_db()
    assert description.status == S.PUBLISHED
    assert description.pk not in [i.id for i in reviewer_client.get(reverse("queue")).context["page"].items]


def test_reject_with_reason(reviewer_client, description):
    url = reverse("review_decide", args=[description.pk])
    response = reviewer_client.post(url, {"action": "reject", "version": 1, "rejection_reason": "Volume is wrong"})
    assert response.status_code == 302
    description.refresh_from_db()
    assert (description.status, description.rejection_reason) == (S.REJECTED, "Volume is wrong")


def test_regenerate_queues_the_description_and_the_page_polls(
    reviewer_client, description, django_capture_on_commit_callbacks
):
    url = reverse("review_decide", args=[description.pk])
    with django_capture_on_commit_callbacks() as callbacks:
        response = reviewer_client.post(url, {"action": "regenerate", "version": 1})
    assert response.status_code == 302
    assert len(callbacks) == 1  # generate_description_task enqueued after commit
    description.refresh_from_db()
    assert description.status == S.QUEUED
    page = reviewer_client.get(reverse("review", args=[description.pk])).content.decode()
    assert 'hx-trigger="every 2s"' in page
    status = reviewer_client.get(reverse("review", args=[description.pk]), {"fragment": "status"}, **HTMX)
    assert "HX-Refresh" not in status and "Regenerating" in status.content.decode()
    Description.objects.filter(pk=description.pk).update(status=S.REVIEW)
    status = reviewer_client.get(reverse("review", args=[description.pk]), {"fragment": "status"}, **HTMX)
    assert status["HX-Refresh"] == "true"


def test_history_tab_shows_who_when_and_a_diff(reviewer_client, reviewer, description):
    sentence_edit(
        sentence=description.sentences.get(index=1), reviewer=reviewer, text="It holds 750 ml.", expected_version=1
    )
    body = reviewer_client.get(reverse("review", args=[description.pk]), {"tab": "history"}).content.decode()
    assert "Sentence edited" in body and "by rita" in body and "<time datetime=" in body
    assert "<del>900</del><ins>750</ins>" in body


# --- Escaping ------------------------------------------------------------------------------------

PAYLOADS = [
    '<script>alert("x")</script>',
    '" onmouseover="alert(1)',
    "{{ 7|add:1 }}",
    "\u202egnp.exe",
    "'><img src=x onerror=alert(1)>",
]


def test_model_output_and_product_data_are_escaped_everywhere(reviewer_client, reviewer):
    product = ProductFactory(
        name=PAYLOADS[0], sku="X<b>1</b>", attributes={PAYLOADS[4]: PAYLOADS[1], "note": PAYLOADS[2]}
    )
    tokens = [(p, -3.0, [[PAYLOADS[(i + 1) % len(PAYLOADS)], -0.2]]) for i, p in enumerate(PAYLOADS)]
    description = make_review_description(product=product, sentences=[("flag", tokens)], reasons={0: [PAYLOADS[0]]})
    sentence_edit(sentence=description.sentences.get(), reviewer=reviewer, text=PAYLOADS[4], expected_version=1)
    pages = [
        reviewer_client.get(reverse("queue")).content.decode(),
        reviewer_client.get(reverse("review", args=[description.pk])).content.decode(),
        reviewer_client.get(reverse("review", args=[description.pk]), {"tab": "history"}).content.decode(),
    ]
    for body in pages:
        assert "<script>alert" not in body
        assert "<img src=x" not in body
        assert 'onmouseover="alert' not in body
        assert "<b>1</b>" not in body
    review_page = pages[1]
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in review_page
    assert "{{ 7|add:1 }}" in review_page  # shown literally, never evaluated


def test_claim_is_a_post_and_only_an_admin_takes_over(reviewer_client, reviewer, description, client):
    url = reverse("review_decide", args=[description.pk])
    reviewer_client.post(url, {"action": "claim"})
    description.refresh_from_db()
    assert description.review_claimed_by == reviewer
    other = UserFactory(username="otto")
    other.groups.add(Group.objects.get(name=REVIEWER))
    client.force_login(other)
    client.post(url, {"action": "take_over"})
    description.refresh_from_db()
    assert description.review_claimed_by == reviewer  # a reviewer cannot take over
    assert not AuditEvent.objects.filter(action=AuditAction.REVIEW_CLAIM_TAKEN_OVER).exists()
    admin = UserFactory(username="ada")
    admin.groups.add(Group.objects.get(name=ADMIN))
    client.force_login(admin)
    client.post(url, {"action": "take_over"})
    description.refresh_from_db()
    assert description.review_claimed_by == admin
    event = AuditEvent.objects.get(action=AuditAction.REVIEW_CLAIM_TAKEN_OVER)
    assert (event.actor, event.before["claimed_by"]) == (admin, reviewer.pk)


def test_an_edit_shows_the_recomputed_reasons_without_js_and_as_the_swapped_fragment(reviewer_client):
    bottle = make_bottle_description()
    response = reviewer_client.post(
        reverse("review_sentence", args=[bottle.pk, 1]),
        {"action": "edit", "version": 1, "text": "It holds 750 ml and fits most cup holders."},
        follow=True,
    )
    body = response.content.decode()
    assert EDITED_REASON in body and BOTTLE_REASONS[1][0] not in body

    fragment = reviewer_client.post(
        reverse("review_sentence", args=[bottle.pk, 2]),
        {"action": "edit", "version": 2, "text": "The finish comes in navy blue."},
        **HTMX,
    ).content.decode()
    assert fragment.lstrip().startswith('<li id="s-2"')
    assert EDITED_REASON in fragment and BOTTLE_REASONS[2][0] not in fragment


# --- Error categories, comments, guidelines ------------------------------------------------


def test_edit_with_a_category_shows_it_on_the_sentence_and_keys_are_offered(reviewer_client, description):
    page = reviewer_client.get(reverse("review", args=[description.pk]), {"edit": 1}).content.decode()
    assert 'name="category"' in page and "1 · Invented fact" in page and "5 · Style only (not an error)" in page
    assert "<kbd>3</kbd>" in page  # the shortcut help lists the category keys
    url = reverse("review_sentence", args=[description.pk, 1])
    response = reviewer_client.post(
        url, {"action": "edit", "version": 1, "text": "It holds 750 ml.", "category": "3"}, **HTMX
    )
    assert response.status_code == 200
    assert (
        '<span class="category-badge" title="Why it was wrong">Wrong number or unit</span>' in response.content.decode()
    )
    sentence = description.sentences.get(index=1)
    assert (sentence.decision, sentence.error_category.key) == ("edited", "3")


def test_categorise_without_js_redirects_and_sets_the_reason(reviewer_client, description):
    url = reverse("review_sentence", args=[description.pk, 2])
    assert reviewer_client.post(url, {"action": "remove", "version": 1}).status_code == 302
    page = reviewer_client.get(reverse("review", args=[description.pk])).content.decode()
    assert "data-category-form" in page and ">Tag</button>" in page  # the no-JS form on the removed sentence
    response = reviewer_client.post(url, {"action": "categorise", "version": 2, "category": "4"})
    assert response.status_code == 302 and response["Location"].endswith("#s-2")
    assert description.sentences.get(index=2).error_category.label == "Nonsense or garbled"
    assert reviewer_client.post(url, {"action": "categorise", "version": 3, "category": ""}).status_code == 302
    assert description.sentences.get(index=2).error_category is None


@pytest.mark.parametrize("category", ["x", "9", "11", "1' OR 1=1", "²"])
def test_an_odd_category_is_a_400_and_changes_nothing(reviewer_client, description, category):
    url = reverse("review_sentence", args=[description.pk, 1])
    response = reviewer_client.post(url, {"action": "edit", "version": 1, "text": "New.", "category": category})
    assert response.status_code == 400 and b"category" in response.content
    response = reviewer_client.post(
        reverse("review_decide", args=[description.pk]),
        {"action": "reject", "version": 1, "rejection_reason": "no", "rejection_category": category},
    )
    assert response.status_code == 400 and b"rejection_category" in response.content
    description.refresh_from_db()
    assert description.version == 1 and not AuditEvent.objects.filter(description=description).exists()


def test_an_inactive_category_is_not_offered_nor_accepted(reviewer_client, description):
    from reviewq.core.models import ErrorCategory

    ErrorCategory.objects.filter(key="2").update(active=False)
    page = reviewer_client.get(reverse("review", args=[description.pk]), {"edit": 1}).content.decode()
    assert "Contradicts attributes" not in page
    url = reverse("review_sentence", args=[description.pk, 1])
    response = reviewer_client.post(url, {"action": "edit", "version": 1, "text": "New.", "category": "2"})
    assert response.status_code == 400


def test_categorising_an_undecided_sentence_is_refused_with_the_reason(reviewer_client, description):
    url = reverse("review_sentence", args=[description.pk, 1])
    response = reviewer_client.post(url, {"action": "categorise", "version": 1, "category": "1"}, **HTMX)
    assert response.status_code == 422 and "edit or remove it first" in response.content.decode()
    description.refresh_from_db()
    assert description.version == 1


def test_reject_with_a_category_shows_it(reviewer_client, description):
    url = reverse("review_decide", args=[description.pk])
    response = reviewer_client.post(
        url, {"action": "reject", "version": 1, "rejection_reason": "Made up", "rejection_category": "1"}
    )
    assert response.status_code == 302
    description.refresh_from_db()
    assert (description.status, description.rejection_category.label) == (S.REJECTED, "Invented fact")
    page = reviewer_client.get(reverse("review", args=[description.pk]))
    assert "Rejected (Invented fact): Made up" in page.content.decode()
    history = reviewer_client.get(reverse("review", args=[description.pk]), {"tab": "history"}).content.decode()
    assert '<span class="category-badge">Invented fact</span>' in history


def test_comment_without_js_goes_to_history_where_it_shows(reviewer_client, description):
    url = reverse("review_comment", args=[description.pk])
    response = reviewer_client.post(url, {"text": "Ask <b>the buyer</b>\nabout the lid.", "band": "flag"})
    assert response.status_code == 302
    assert response["Location"] == reverse("review", args=[description.pk]) + "?tab=history&band=flag#comments"
    page = reviewer_client.get(response["Location"]).content.decode()
    assert "Ask &lt;b&gt;the buyer&lt;/b&gt;<br>about the lid." in page
    assert AuditEvent.objects.filter(action=AuditAction.COMMENT_ADDED, description=description).count() == 1


def test_comment_with_htmx_swaps_the_history_and_needs_no_claim(client, description):
    holder = _user(REVIEWER, "holder")
    description_review_claim(description=description, reviewer=holder)
    client.force_login(_user(REVIEWER, "other"))
    url = reverse("review_comment", args=[description.pk])
    response = client.post(url, {"text": "Looks fine to me.", "band": "flag"}, **HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="history">') and "Looks fine to me." in body
    assert '<input type="hidden" name="band" value="flag">' in body  # the queue filters stay with the form
    assert '<textarea id="comment-text" name="text" rows="2" maxlength="2000" required></textarea>' in body


@pytest.mark.parametrize(("text", "message"), [("   ", "Write the comment first."), ("x" * 2001, "2000 characters")])
def test_an_empty_or_too_long_comment_is_a_form_error(reviewer_client, description, text, message):
    url = reverse("review_comment", args=[description.pk])
    response = reviewer_client.post(url, {"text": text})
    assert response.status_code == 400 and message in response.content.decode()
    response = reviewer_client.post(url, {"text": text}, **HTMX)
    assert response.status_code == 422 and message in response.content.decode()
    assert not AuditEvent.objects.filter(description=description).exists()


def test_a_comment_of_2000_characters_with_line_breaks_is_taken(reviewer_client, description):
    """A browser sends a textarea's line breaks as \r\n: counted and kept as one \n each."""
    text = "\r\n".join(["x" * 99] * 20) + "x"  # 2000 characters once stored, 2019 as sent
    response = reviewer_client.post(reverse("review_comment", args=[description.pk]), {"text": text})
    assert response.status_code == 302
    assert description.comments.get().text == text.replace("\r\n", "\n")


def test_comment_with_odd_filter_input_is_a_400(reviewer_client, description):
    url = reverse("review_comment", args=[description.pk])
    response = reviewer_client.post(url, {"text": "fine", "catalog": "99999999999999999999999"})
    assert response.status_code == 400 and response["Content-Type"].startswith("text/plain")
    assert not AuditEvent.objects.filter(description=description).exists()


def test_review_page_shows_the_catalog_guidelines_escaped_with_line_breaks(reviewer_client, description):
    catalog = description.product.catalog
    catalog.guidelines = "Check volumes <script>alert(1)</script>\nNever promise dishwasher-safe."
    catalog.save()
    page = reviewer_client.get(reverse("review", args=[description.pk])).content.decode()
    assert f"Guidelines for {catalog.name}" in page
    assert "Check volumes &lt;script&gt;alert(1)&lt;/script&gt;<br>Never promise dishwasher-safe." in page
    assert "<script>alert(1)" not in page

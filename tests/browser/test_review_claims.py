"""Claims from issue 12, failing on the code before it: viewing an item (or passing it with j,
or its History tab) never claims it; "Open for review" and a queue row's Open (POSTs) do; an
admin takes over a claim someone else holds, and that is audited."""

import re

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from playwright.sync_api import expect

from reviewq.core.audit import AuditAction
from reviewq.core.models import AuditEvent, Description
from reviewq.core.roles import ADMIN, roles_ensure
from tests.browser.test_review_flow import PASSWORD, _log_in, _reviewer
from tests.factories import UserFactory
from tests.reviewq.review_data import make_bottle_description, make_review_description


@pytest.fixture(autouse=True)
def _fresh_counts():
    cache.clear()


def test_viewing_never_claims_opening_does_and_an_admin_takes_over(page, browser, live_server):
    rita = _reviewer()
    bottle = make_bottle_description(risk=0.9)
    _log_in(page)
    page.goto(f"/review/{bottle.pk}/")
    page.goto(f"/review/{bottle.pk}/?tab=history")
    page.goto(f"/review/{bottle.pk}/")
    assert Description.objects.get(pk=bottle.pk).review_claimed_by is None

    page.get_by_role("button", name="Open for review").click()
    expect(page.get_by_text("You hold this description")).to_be_visible()
    assert Description.objects.get(pk=bottle.pk).review_claimed_by == rita

    roles_ensure()
    admin = UserFactory(username="ada", password=PASSWORD)
    admin.groups.add(Group.objects.get(name=ADMIN))
    context = browser.new_context(base_url=live_server.url)
    other = context.new_page()
    other.set_default_timeout(10_000)
    _log_in(other, "ada")
    other.goto(f"/review/{bottle.pk}/")
    expect(other.get_by_text("rita is reviewing this description")).to_be_visible()
    assert Description.objects.get(pk=bottle.pk).review_claimed_by == rita  # the admin's view took nothing
    other.get_by_role("button", name="Take over the claim").click()
    expect(other.get_by_text("You hold this description")).to_be_visible()
    context.close()
    assert Description.objects.get(pk=bottle.pk).review_claimed_by == admin
    event = AuditEvent.objects.get(action=AuditAction.REVIEW_CLAIM_TAKEN_OVER)
    assert (event.actor, event.before["claimed_by"], event.description_id) == (admin, rita.pk, bottle.pk)

    # The reviewer is now the one who can only read (and cannot take it back).
    page.reload()
    expect(page.get_by_text("ada is reviewing this description")).to_be_visible()
    expect(page.get_by_role("button", name="Take over the claim")).to_have_count(0)


def test_open_in_the_queue_claims_that_row_and_someone_elses_claim_opens_read_only(page, browser, live_server):
    rita = _reviewer()
    _reviewer("bob")
    bottle = make_bottle_description(risk=0.4)
    riskier = make_review_description(risk=0.95)
    _log_in(page)
    row = page.locator("table.queue tbody tr", has_text=bottle.product.name)
    row.get_by_role("link", name=bottle.product.name).click()  # the name's link only views
    expect(page.get_by_role("button", name="Open for review")).to_be_visible()
    assert Description.objects.get(pk=bottle.pk).review_claimed_by is None

    page.go_back()
    row.get_by_role("button", name="Open").click()
    expect(page).to_have_url(re.compile(rf"/review/{bottle.pk}/$"))
    expect(page.get_by_text("You hold this description")).to_be_visible()
    assert Description.objects.get(pk=bottle.pk).review_claimed_by == rita
    assert Description.objects.get(pk=riskier.pk).review_claimed_by is None  # that row, not the riskiest

    context = browser.new_context(base_url=live_server.url)
    other = context.new_page()
    other.set_default_timeout(10_000)
    _log_in(other, "bob")
    other_row = other.locator("table.queue tbody tr", has_text=bottle.product.name)
    expect(other_row).to_contain_text("rita")
    other_row.get_by_role("button", name="Open").click()
    expect(other).to_have_url(re.compile(rf"/review/{bottle.pk}/$"))
    expect(other.get_by_text("rita is reviewing this description. Their claim runs until")).to_be_visible()
    expect(other.get_by_text("Read only while rita holds the claim")).to_be_visible()
    expect(other.locator('[data-shortcut="approve-description"]')).to_have_count(0)
    context.close()
    assert Description.objects.get(pk=bottle.pk).review_claimed_by == rita

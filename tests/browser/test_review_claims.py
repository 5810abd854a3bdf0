"""Claims from issue 12, failing on the code before it: viewing an item (or passing it with j,
or its History tab) never claims it; "Open for review" (a POST) does; an admin takes over a
claim someone else holds, and that is audited."""

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from playwright.sync_api import expect

from reviewq.core.audit import AuditAction
from reviewq.core.models import AuditEvent, Description
from reviewq.core.roles import ADMIN, roles_ensure
from tests.browser.test_review_flow import PASSWORD, _log_in, _reviewer
from tests.factories import UserFactory
from tests.reviewq.review_data import make_bottle_description


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

"""Review-flow fixes from issue 12, each failing on the code before it: reject keeps the
reviewer's queue filters (never the reject reason), error pages use the site layout, a favicon
is served and no request 404s."""

import re

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from reviewq.core.models import Description, DescriptionStatus
from tests.browser.test_review_flow import _log_in, _queue_filler, _reviewer
from tests.reviewq.review_data import make_bottle_description


@pytest.fixture(autouse=True)
def _fresh_counts():
    cache.clear()


def test_reject_goes_on_with_the_reviewers_filters_never_the_reason(page):
    _reviewer()
    _queue_filler()
    bottle = make_bottle_description(risk=0.91)
    _log_in(page)
    page.goto("/queue/?band=flag")
    page.locator("table.queue tbody tr").first.get_by_role("link").click()
    expect(page.get_by_role("heading", name=re.compile("Trail insulated bottle"))).to_be_visible()

    page.get_by_text("Reject…").click()
    page.get_by_label("Reason").fill("Volume is wrong")
    page.get_by_role("button", name="Reject description").click()

    expect(page.locator(".messages")).to_contain_text("Rejected Trail insulated bottle")
    assert "reason=" not in page.url and "band=flag" in page.url
    bottle.refresh_from_db()
    assert (bottle.status, bottle.rejection_reason) == (DescriptionStatus.REJECTED, "Volume is wrong")


def test_error_pages_use_the_site_layout_and_the_favicon_is_served(page):
    _reviewer()
    missing = []
    page.on("response", lambda response: missing.append(response.url) if response.status == 404 else None)
    _log_in(page)
    assert missing == []
    icon = page.locator("link[rel=icon]").get_attribute("href")
    assert page.request.get(icon).ok

    page.goto(f"/review/{Description.objects.count() + 999}/")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    page.goto("/thresholds/")  # a reviewer may not change thresholds
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()

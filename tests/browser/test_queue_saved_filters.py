"""Queue conveniences in Chromium: search by SKU or name, sort by age, save the filter, apply
it from a clean queue, and Next opens the first item of the applied filter."""

import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from playwright.sync_api import expect

from reviewq.core.models import Description, SavedFilter
from tests.browser.test_review_flow import _log_in, _reviewer
from tests.factories import CatalogFactory, ProductFactory
from tests.reviewq.review_data import make_review_description


@pytest.fixture(autouse=True)
def _fresh_counts():
    cache.clear()


def _item(catalog, sku, name, risk, days_old):
    description = make_review_description(product=ProductFactory(catalog=catalog, sku=sku, name=name), risk=risk)
    Description.objects.filter(pk=description.pk).update(created_at=timezone.now() - timedelta(days=days_old))
    return description


def _rows(page):
    return page.locator("table.queue tbody tr th a.queue-link")


def test_search_sort_save_and_apply_a_filter(page):
    rita = _reviewer()
    catalog = CatalogFactory(name="Kitchen")
    _item(catalog, "KIT-1", "Steel kettle", 0.2, 1)
    oldest_kettle = _item(catalog, "KIT-2", "Camping kettle", 0.1, 9)
    _item(catalog, "KIT-3", "Cast iron skillet", 0.9, 20)
    _log_in(page)
    expect(_rows(page)).to_have_text(["Cast iron skillet", "Steel kettle", "Camping kettle"])

    page.get_by_label("SKU or product name").fill("kettle")
    page.get_by_label("SKU or product name").press("Enter")
    expect(_rows(page)).to_have_text(["Steel kettle", "Camping kettle"])  # riskiest first
    page.get_by_label("Sort").select_option("age")
    expect(_rows(page)).to_have_text(["Camping kettle", "Steel kettle"])  # oldest first
    expect(page).to_have_url(re.compile(r"/queue/\?.*sort=age"))

    page.get_by_label("Save these filters as").fill("Old kettles")
    page.get_by_role("button", name="Save filter").click()
    expect(page.get_by_text("Saved the filter “Old kettles”.")).to_be_visible()
    assert SavedFilter.objects.get(user=rita, name="Old kettles").query == "q=kettle&sort=age"

    page.goto("/queue/")
    expect(_rows(page)).to_have_count(3)
    page.get_by_role("list", name="Saved filters").get_by_role("link", name="Old kettles").click()
    expect(_rows(page)).to_have_text(["Camping kettle", "Steel kettle"])
    expect(page.get_by_label("SKU or product name")).to_have_value("kettle")
    expect(page.get_by_label("Sort")).to_have_value("age")

    page.get_by_role("button", name="Review next").click()
    expect(page).to_have_url(re.compile(rf"/review/{oldest_kettle.pk}/\?q=kettle&sort=age$"))

    page.goto("/queue/")
    page.get_by_role("button", name="Delete the saved filter Old kettles").click()
    expect(page.get_by_role("list", name="Saved filters")).to_have_count(0)
    assert not SavedFilter.objects.exists()

"""The catalog page lists its products (issue 12), failing on the code before it: each product
with its live copy and its draft, linked to their review pages."""

import re

from django.utils import timezone
from playwright.sync_api import expect

from reviewq.core.models import DescriptionStatus
from tests.browser.test_editor_admin import _login, _user
from tests.factories import CatalogFactory, DescriptionFactory, ProductFactory

S = DescriptionStatus


def test_the_catalog_page_lists_products_with_live_copy_and_draft(page):
    catalog = CatalogFactory(name="Outdoor")
    both = ProductFactory(catalog=catalog, sku="A-1", name="Trail bottle")
    live = DescriptionFactory(product=both, status=S.PUBLISHED, published_at=timezone.now())
    draft = DescriptionFactory(product=both, status=S.REVIEW)
    ProductFactory(catalog=catalog, sku="B-2", name="Camp mug")
    _login(page, _user("editor"))
    page.goto(f"/catalogs/{catalog.pk}/")

    products = page.get_by_role("table").filter(has_text="Trail bottle")
    rows = products.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("A-1")
    expect(rows.nth(1)).to_contain_text("Camp mug")
    expect(rows.nth(1)).to_contain_text("none")
    rows.nth(0).get_by_role("link", name="Needs review").click()
    expect(page).to_have_url(re.compile(rf"/review/{draft.pk}/"))
    page.go_back()
    page.get_by_role("table").filter(has_text="Trail bottle").get_by_role("link", name="Published").click()
    expect(page).to_have_url(re.compile(rf"/review/{live.pk}/"))

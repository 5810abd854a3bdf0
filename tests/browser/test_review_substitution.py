"""Substitution from issue 12, failing on the code before it: after a reviewer substitutes a
word, its popover scores the word shown (the alternative's probability), not the one replaced."""

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from tests.browser.test_review_flow import _log_in, _reviewer
from tests.reviewq.review_data import make_bottle_description


@pytest.fixture(autouse=True)
def _fresh_counts():
    cache.clear()


def test_the_popover_of_a_substituted_word_scores_the_new_word(page):
    _reviewer()
    bottle = make_bottle_description(risk=0.9)
    _log_in(page)
    page.goto(f"/review/{bottle.pk}/")
    popover = page.locator("#token-popover")
    page.locator("#s-1 .tok", has_text="900").hover()
    expect(popover).to_contain_text("6 % probable")
    popover.get_by_role("button", name="750").click()
    expect(page.locator("#s-1 .tok.subst")).to_have_text("750")

    page.mouse.move(5, 5)
    page.locator("#s-1 .tok.subst").hover()
    expect(popover).to_contain_text("“750” 67 % probable")
    expect(popover).to_contain_text("Replaced the generated “900”")
    expect(page.locator("#s-1 .tok.subst")).to_have_attribute("aria-label", "750: 67 %, replaced 900")

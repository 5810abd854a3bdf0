"""Issue 13/14: say why with one key while editing (and on a focused changed sentence), see it in
History, add a comment there; the catalog's guidelines beside the text."""

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from reviewq.core.models import AuditEvent, Comment
from tests.browser.test_review_flow import _log_in, _reviewer
from tests.reviewq.review_data import error_categories_seeded, make_bottle_description


@pytest.fixture(autouse=True)
def _fresh_counts():
    cache.clear()


def test_tag_with_a_key_while_editing_see_it_in_history_and_comment(page):
    # The migration's categories are gone after an earlier browser test's flush (live_server
    # needs a transactional database): put them back.
    error_categories_seeded()
    _reviewer()
    bottle = make_bottle_description(risk=0.9)
    catalog = bottle.product.catalog
    catalog.guidelines = "Check every volume against the attributes.\nNo health claims."
    catalog.save()
    _log_in(page)
    page.goto(f"/review/{bottle.pk}/")
    guidelines = page.locator(".guidelines p")
    expect(guidelines).to_contain_text("Check every volume against the attributes.")
    assert guidelines.inner_html().count("<br>") == 1

    # Editing: e opens the form, the text is typed, Tab reaches the reason, one key picks it.
    page.locator("#s-1").focus()
    page.keyboard.press("e")
    editor = page.get_by_label("Edit sentence 2")
    expect(editor).to_be_focused()
    editor.fill("It keeps drinks cold for 24 hours.")
    # The edit form's swap has settled (htmx settles an outerHTML swap ~20 ms after focusing it):
    # a key pressed before that can land on the form being replaced.
    page.wait_for_function("!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")
    page.keyboard.press("Tab")
    reason = page.locator("#edit-category-1")
    expect(reason).to_be_focused()
    page.keyboard.press("3")
    expect(reason).to_have_value("3")
    page.locator("#s-1").get_by_role("button", name="Save").click()
    expect(page.locator("#s-1 .category-badge")).to_have_text("Wrong number or unit")
    expect(page.locator("#s-1")).to_be_focused()

    # On the focused, changed sentence one key re-tags it; with nothing focused a key does nothing.
    page.keyboard.press("5")
    expect(page.locator("#s-1 .category-badge")).to_have_text("Style only")
    expect(page.locator("#s-1")).to_be_focused()
    page.evaluate("document.activeElement.blur()")
    assert page.evaluate("document.activeElement === document.body")
    page.keyboard.press("1")
    page.wait_for_timeout(300)
    expect(page.locator("#s-1 .category-badge")).to_have_text("Style only")
    sentence = bottle.sentences.get(index=1)
    assert (sentence.decision, sentence.error_category.label) == ("edited", "Style only")

    page.get_by_role("link", name="History").click()
    entries = page.locator(".history-entry")
    expect(entries.nth(0)).to_contain_text("Error category set · sentence 2 · Style only")
    expect(entries.nth(1)).to_contain_text("Sentence edited · sentence 2 · Wrong number or unit")

    # A comment joins the History list at the top, without a page load (htmx), and stays.
    page.get_by_label("Comment").fill("Buyer confirmed: 24 h cold, 12 h hot.")
    page.get_by_role("button", name="Add comment").click()
    expect(entries.nth(0)).to_contain_text("Comment")
    expect(entries.nth(0)).to_contain_text("Buyer confirmed: 24 h cold, 12 h hot.")
    expect(page.get_by_label("Comment")).to_have_value("")
    page.reload()
    expect(page.locator(".history-entry").nth(0)).to_contain_text("Buyer confirmed")
    assert Comment.objects.get().text == "Buyer confirmed: 24 h cold, 12 h hot."
    assert AuditEvent.objects.filter(action="comment_added").count() == 1

"""Keyboard review from issue 12, each failing on the code before it: a key acts only on the
focused sentence and never widens to the whole description; approving the undecided sentences
with the description needs a checked box that Enter alone cannot tick; Escape cancels an edit."""

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from reviewq.core.models import DescriptionStatus, SentenceDecision
from tests.browser.test_review_flow import _log_in, _reviewer
from tests.reviewq.review_data import make_bottle_description

S = DescriptionStatus


@pytest.fixture(autouse=True)
def _fresh_counts():
    cache.clear()


def test_pressing_a_twice_never_publishes_undecided_sentences(page):
    _reviewer()
    bottle = make_bottle_description(risk=0.9)
    _log_in(page)
    # A confirm dialog, if one were shown, is what one Enter accepts.
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"/review/{bottle.pk}/")

    page.locator("#s-2").focus()
    page.keyboard.press("a")
    expect(page.locator("#s-2 .decision-badge")).to_have_text("Approved")
    expect(page.locator("#s-2")).to_be_focused()  # focus stays on what was acted on
    page.keyboard.press("a")  # the focused sentence is decided: nothing more to do
    page.keyboard.press("Enter")
    page.locator("body").focus()
    page.keyboard.press("a")  # no sentence has focus: nothing happens
    page.keyboard.press("Enter")
    page.wait_for_timeout(500)
    bottle.refresh_from_db()
    assert bottle.status == S.REVIEW
    assert bottle.sentences.filter(decision=SentenceDecision.NONE).exists()

    # The description's own button needs its box ticked; Enter on the button alone is refused.
    approve = page.get_by_role("button", name="Approve all & publish")
    approve.focus()
    page.keyboard.press("Enter")
    page.wait_for_timeout(500)
    bottle.refresh_from_db()
    assert bottle.status == S.REVIEW
    box = page.get_by_role("checkbox", name="Also approve the")
    box.focus()
    page.keyboard.press("Enter")  # Enter does not tick a checkbox, nor submit past it
    page.wait_for_timeout(300)
    bottle.refresh_from_db()
    assert bottle.status == S.REVIEW
    page.keyboard.press("Space")
    approve.click()
    expect(page.locator(".messages")).to_contain_text("Published")
    bottle.refresh_from_db()
    assert bottle.status == S.PUBLISHED


def test_escape_cancels_an_edit(page):
    _reviewer()
    bottle = make_bottle_description(risk=0.9)
    before = bottle.sentences.get(index=1).current_text
    _log_in(page)
    page.goto(f"/review/{bottle.pk}/")
    page.locator("#s-1").focus()
    page.keyboard.press("e")
    editor = page.get_by_label("Edit sentence 2")
    expect(editor).to_be_focused()
    editor.fill("Something else entirely.")
    page.keyboard.press("Escape")
    expect(page.locator("#s-1 textarea")).to_have_count(0)
    expect(page.locator("#s-1 .sentence-text")).to_contain_text(before.strip())
    expect(page.locator("#s-1")).to_be_focused()
    assert bottle.sentences.get(index=1).current_text == before

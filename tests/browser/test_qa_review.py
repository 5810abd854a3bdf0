"""A QA review in a real browser: the second reviewer finds the sample in the QA queue, takes
it, sees the text blind, marks a sentence wrong, and the live copy gets a draft to fix it."""

import re

from playwright.sync_api import expect

from reviewq.core.models import Description, DescriptionStatus, QASample
from tests.browser.test_editor_admin import _login, _user
from tests.factories import UserFactory
from tests.reviewq.qa_data import published_by_review, sampled_catalog

S = DescriptionStatus


def test_a_qa_review_marks_a_sentence_wrong_and_opens_a_draft(page, screenshot_dir):
    first = UserFactory(username="first-reviewer")
    sample = published_by_review(reviewer=first, catalog=sampled_catalog())
    live = sample.description
    _login(page, _user("reviewer"))
    page.get_by_role("link", name="QA", exact=True).click()
    row = page.locator(f"tr.qa-row[data-id='{sample.pk}']")
    expect(row).to_contain_text(live.product.name)
    row.get_by_role("button", name="Take").click()
    expect(page).to_have_url(re.compile(rf"/qa/{sample.pk}/$"))
    expect(page.locator("body")).not_to_contain_text("first-reviewer")
    sentences = page.locator("li.sentence")
    expect(sentences).to_have_count(3)
    expect(sentences.nth(1)).to_contain_text("It holds 900 ml.")

    # Every sentence needs a verdict: the browser keeps the form until each has one.
    sentences.nth(0).get_by_label("OK").check()
    page.get_by_role("button", name="Save QA review").click()
    expect(page).to_have_url(re.compile(rf"/qa/{sample.pk}/$"))
    assert QASample.objects.get(pk=sample.pk).status == "open"

    page.locator("li.sentence").nth(0).get_by_label("OK").check()
    page.locator("li.sentence").nth(1).get_by_label("Wrong").check()
    page.locator("li.sentence").nth(2).get_by_label("OK").check()
    page.screenshot(path=str(screenshot_dir / "qa-review.png"), full_page=True)
    page.get_by_role("button", name="Save QA review").click()
    expect(page).to_have_url(re.compile(r"/qa/$"))
    expect(page.get_by_role("status")).to_contain_text("1 sentence(s) wrong")
    expect(page.get_by_role("status")).to_contain_text("goes back to review")
    expect(page.locator(f"tr.qa-row[data-id='{sample.pk}']")).to_have_count(0)

    sample.refresh_from_db()
    assert sample.status == "done"
    assert Description.objects.get(pk=live.pk).status == S.PUBLISHED
    assert QASample.objects.get(pk=sample.pk).fix.status == S.REVIEW

    # The admin sees the measured escape rate on the dashboard and the disagreement to resolve.
    page.get_by_role("button", name="Log out").click()
    _login(page, _user("admin"))
    page.get_by_role("link", name="Dashboard", exact=True).click()
    expect(page.locator("body")).to_contain_text("1 error in 1 sampled, 100.0%")
    page.goto("/agreement/")
    expect(page.get_by_role("heading", name="Disagreements")).to_be_visible()
    expect(page.locator("body")).to_contain_text("first-reviewer")
    page.screenshot(path=str(screenshot_dir / "agreement.png"), full_page=True)

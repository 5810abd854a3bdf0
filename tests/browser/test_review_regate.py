"""Re-gating from issue 12, failing on the code before it: a substitution re-scores the sentence
from the chosen token, and an edit recomputes its reasons (logprob signals marked as not
applying to a reviewer's words)."""

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from reviewq.gating.gate import EDITED_REASON
from tests.browser.test_review_flow import _log_in, _reviewer
from tests.reviewq.review_data import BOTTLE_REASONS, make_bottle_description


@pytest.fixture
def bottle(page):
    """The bottle description open on its review page for a reviewer (queue counts fresh)."""
    cache.clear()
    _reviewer()
    description = make_bottle_description(risk=0.9)
    _log_in(page)
    page.goto(f"/review/{description.pk}/")
    return description


def test_a_substitution_rescores_the_sentence_from_the_new_token(page, bottle):
    sentence = page.locator("#s-1")
    expect(sentence.locator(".band-badge")).to_have_text("⚑ Flagged")
    expect(sentence.locator(".reasons")).to_contain_text(BOTTLE_REASONS[1][0])
    expect(sentence.locator(".sentence-score")).to_have_text("mean 59 %")

    page.locator("#s-1 .tok", has_text="900").hover()
    page.locator("#token-popover").get_by_role("button", name="750").click()
    expect(sentence.locator(".tok.subst")).to_have_text("750")
    # The mean now counts the model's 67 % for "750" instead of 6 % for "900", and the reasons
    # are the gate's for the sentence as it reads: nothing about 900 ml is left.
    expect(sentence.locator(".sentence-score")).to_have_text("mean 72 %")
    expect(sentence.locator(".band-badge")).not_to_have_text("⚑ Flagged")
    expect(sentence.locator(".reasons")).to_have_count(0)


def test_an_edit_recomputes_the_reasons_and_marks_logprobs_as_not_applying(page, bottle):
    sentence = page.locator("#s-1")
    expect(sentence.locator(".reasons")).to_contain_text(BOTTLE_REASONS[1][0])

    sentence.get_by_role("link", name="Edit").click()
    page.get_by_label("Edit sentence 2").fill("It holds 2 l and fits most cup holders.")
    page.get_by_role("button", name="Save").click()
    expect(sentence.locator(".sentence-text")).to_have_text("It holds 2 l and fits most cup holders.")
    reasons = sentence.locator(".reasons li")
    expect(reasons.first).to_have_text(EDITED_REASON)
    # The text checks ran on the reviewer's words: 2 l contradicts the 750 ml capacity.
    expect(sentence.locator(".reasons")).to_contain_text("'2 l'")
    expect(sentence.locator(".reasons")).not_to_contain_text(BOTTLE_REASONS[1][0])
    expect(sentence.locator(".sentence-score")).to_have_count(0)

"""Assignment (issue 14 item 3): an editor assigns two queue items to a reviewer from the
queue's Assign bar; the reviewer's "Assigned to me" shows just those, and Next opens one."""

import re

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from playwright.sync_api import expect

from reviewq.core.models import Assignment, Description
from reviewq.core.roles import EDITOR
from tests.browser.test_review_flow import PASSWORD, _log_in, _reviewer
from tests.factories import UserFactory
from tests.reviewq.review_data import make_review_description


@pytest.fixture(autouse=True)
def _fresh_counts():
    cache.clear()


def test_editor_assigns_two_items_and_the_reviewers_next_opens_one(page, browser, live_server):
    rita = _reviewer()
    editor = UserFactory(username="eddie", password=PASSWORD)
    editor.groups.add(Group.objects.get(name=EDITOR))
    riskiest = make_review_description(risk=0.95)
    chosen = [make_review_description(risk=0.6), make_review_description(risk=0.3)]

    context = browser.new_context(base_url=live_server.url)
    editing = context.new_page()
    editing.set_default_timeout(10_000)
    _log_in(editing, "eddie")
    for description in chosen:
        editing.locator(f"#sel-{description.pk}").check()
    editing.get_by_label("Reviewers", exact=True).select_option(label="rita")
    editing.get_by_role("button", name="Assign selected…", exact=True).click()
    expect(editing.get_by_text("2 item(s) in review")).to_be_visible()
    editing.get_by_role("button", name="Assign 2", exact=True).click()
    expect(editing.get_by_text("Assigned 2 item(s): 2 new assignment(s).")).to_be_visible()
    for description in chosen:
        expect(editing.locator(f'tr[data-id="{description.pk}"] td.assignees')).to_have_text("rita")
    context.close()
    assert set(Assignment.objects.values_list("description_id", "reviewer")) == {(d.pk, rita.pk) for d in chosen}

    _log_in(page)
    page.get_by_label("Assigned to me").check()
    expect(page).to_have_url(re.compile(r"assigned=1"))
    expect(page.locator("tr.queue-row")).to_have_count(2)
    expect(page.locator(f'tr[data-id="{riskiest.pk}"]')).to_have_count(0)
    page.get_by_role("button", name="Review next riskiest").click()
    expect(page).to_have_url(re.compile(rf"/review/{chosen[0].pk}/\?assigned=1$"))
    assert Description.objects.get(pk=chosen[0].pk).review_claimed_by == rita

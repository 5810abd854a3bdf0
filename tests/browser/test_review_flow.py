"""The reviewer's day in real Chromium: queue -> riskiest item -> popover (mouse and keyboard)
-> substitute -> edit -> approve -> gone from the queue; a stale save in a second browser;
script payloads in model output and product data that must not run."""

import re

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from playwright.sync_api import expect

from reviewq.core.models import Description, DescriptionStatus
from reviewq.core.roles import REVIEWER, roles_ensure
from tests.factories import ProductFactory, UserFactory
from tests.reviewq.review_data import make_bottle_description, make_review_description

PASSWORD = "correct-horse-battery-9"


@pytest.fixture(autouse=True)
def _fresh_counts():
    cache.clear()  # queue band counts are cached for a few seconds; tests share the process


def _reviewer(username="rita"):
    roles_ensure()
    user = UserFactory(username=username, password=PASSWORD)
    user.groups.add(Group.objects.get(name=REVIEWER))
    return user


def _log_in(page, username="rita"):
    page.goto("/login/?next=/queue/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/queue/$"))


def _queue_filler():
    make_review_description(
        risk=0.35,
        sentences=[("review", [("Soft", -0.7), (" cotton", -0.9), (" tote", -0.4), (".", -0.1)])],
        product=ProductFactory(name="Canvas tote bag", sku="CT-01"),
    )
    make_review_description(
        risk=0.12,
        sentences=[("publish", [("Warm", -0.1), (" wool", -0.2), (" socks", -0.1), (".", -0.1)])],
        product=ProductFactory(name="Merino hiking socks", sku="MS-02"),
    )


def test_reviewer_fixes_the_riskiest_item_and_it_leaves_the_queue(page):
    _reviewer()
    _queue_filler()
    bottle = make_bottle_description(risk=0.91)
    _log_in(page)

    rows = page.locator("table.queue tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("Trail insulated bottle 750 ml")  # riskiest first
    expect(page.get_by_text("Probability is not truth:")).to_be_visible()
    rows.first.get_by_role("link").click()

    expect(page.get_by_role("heading", name=re.compile("Trail insulated bottle"))).to_be_visible()
    low = page.locator("#s-1 .tok", has_text="900")
    expect(low).to_have_class(re.compile(r"\bb5\b"))  # the least likely bucket
    assert low.evaluate("el => getComputedStyle(el).textDecorationStyle") == "double"  # non-colour cue
    expect(page.locator("#s-1 .reasons")).to_contain_text("900 ml is not in the attributes")
    expect(page.locator("#product-attributes")).to_contain_text("750 ml")

    # Popover by mouse.
    popover = page.locator("#token-popover")
    page.locator("#s-2 .tok", has_text="ocean").hover()
    expect(popover).to_be_visible()
    expect(popover).to_contain_text("18 % probable")
    expect(popover.get_by_role("button", name=re.compile("navy"))).to_be_visible()
    expect(popover).to_contain_text("Probability is not truth.")
    page.mouse.move(5, 5)
    expect(popover).to_be_hidden()

    # Popover by keyboard: Tab from the sentence's start reaches its first unsure token.
    page.locator("#s-1").focus()
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused == "holds"
    expect(popover).to_be_visible()
    expect(popover).to_contain_text("“holds”")
    page.keyboard.press("ArrowRight")
    expect(popover).to_contain_text("“900”")
    expect(popover).to_contain_text("6 % probable")
    # Into the alternatives with the keyboard, then substitute " 750" for " 900".
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.dataset.alternative") == " 750"
    page.keyboard.press("Enter")
    expect(page.locator("#s-1 .sentence-text")).to_have_text("It holds 750 ml, so it fits most cup holders.")
    expect(page.locator("#s-1 .decision-badge")).to_have_text("Edited")
    expect(page.locator("#s-1 .tok.subst")).to_have_text("750")
    expect(page.locator("#s-1 .original")).to_contain_text("900")

    # Inline edit of the review-band sentence.
    page.locator("#s-2").get_by_role("link", name="Edit").click()
    editor = page.get_by_label("Edit sentence 3")
    expect(editor).to_be_focused()
    editor.fill("The matte powder-coated finish comes in navy blue.")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#s-2 .sentence-text")).to_have_text("The matte powder-coated finish comes in navy blue.")
    expect(page.locator("#review-summary")).to_contain_text("Every sentence is decided or confident.")

    # Approve the description; it is published and leaves the queue.
    page.get_by_role("button", name="Approve & publish").click()
    # On to the next riskiest item, with a way back to the one just published.
    expect(page.get_by_role("heading", name=re.compile("Canvas tote bag"))).to_be_visible()
    expect(page.locator(".messages")).to_contain_text("Published Trail insulated bottle 750 ml")
    expect(page.get_by_role("link", name=re.compile("Back to the item you just decided"))).to_be_visible()
    page.get_by_role("link", name=re.compile("Queue")).first.click()
    expect(page.locator("table.queue tbody tr")).to_have_count(2)
    expect(page.locator("table.queue")).not_to_contain_text("Trail insulated bottle")
    bottle.refresh_from_db()
    assert bottle.status == DescriptionStatus.PUBLISHED
    assert bottle.text == (
        "This insulated steel bottle keeps drinks cold for 24 hours. It holds 750 ml, so it fits most cup holders."
        " The matte powder-coated finish comes in navy blue. It is dishwasher safe."
    )


def test_keyboard_shortcuts_help_and_next_item(page):
    _reviewer()
    first = make_bottle_description(risk=0.9)
    second = make_review_description(risk=0.5, product=ProductFactory(name="Second item"))
    _log_in(page)
    page.goto(f"/review/{first.pk}/")
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    page.keyboard.press("e")  # edits the first sentence that needs a decision
    expect(page.get_by_label("Edit sentence 2")).to_be_focused()
    page.keyboard.press("Escape")
    page.locator("#s-2").focus()
    page.keyboard.press("a")
    expect(page.locator("#s-2 .decision-badge")).to_have_text("Approved")
    page.locator("h1").click()
    page.keyboard.press("j")
    expect(page).to_have_url(re.compile(rf"/review/{second.pk}/$"))
    page.keyboard.press("k")
    expect(page).to_have_url(re.compile(rf"/review/{first.pk}/$"))


def test_stale_save_in_a_second_browser_shows_the_newer_text(browser, live_server):
    _reviewer()
    bottle = make_bottle_description()
    pages = []
    for _ in range(2):
        context = browser.new_context(base_url=live_server.url)
        page = context.new_page()
        page.set_default_timeout(10_000)
        _log_in(page)
        page.goto(f"/review/{bottle.pk}/")
        pages.append(page)
    first, second = pages
    try:
        first.locator("#s-1").get_by_role("link", name="Edit").click()
        first.get_by_label("Edit sentence 2").fill("It holds 750 ml.")
        first.get_by_role("button", name="Save").click()
        expect(first.locator("#s-1 .sentence-text")).to_have_text("It holds 750 ml.")

        # The second tab still shows version 1: its edit is refused, with the newer text shown.
        second.locator("#s-1").get_by_role("link", name="Edit").click()
        second.get_by_label("Edit sentence 2").fill("It holds 500 ml.")
        second.get_by_role("button", name="Save").click()
        alert = second.locator("#review-alert .alert")
        expect(alert).to_be_visible()
        expect(alert).to_contain_text("this description changed since you opened it")
        expect(alert.locator(".newer-text")).to_have_text("It holds 750 ml.")
        expect(alert.locator(".attempted")).to_have_text("It holds 500 ml.")
        assert Description.objects.get(pk=bottle.pk).sentences.get(index=1).edited_text == " It holds 750 ml."
        alert.get_by_role("link", name="Load the newer version").click()
        expect(second.locator("#s-1 .sentence-text")).to_have_text("It holds 750 ml.")
    finally:
        for page in pages:
            page.context.close()


XSS = [
    "<script>window.__xss=1</script>",
    '<img src=x onerror="window.__xss=2">',
    '" onmouseover="window.__xss=3" x="',
    "{{ request.user }}",
    "\u202eevil\u202c",
    "<svg onload=window.__xss=4>",
]


def test_payloads_in_tokens_and_attributes_do_not_execute(page):
    _reviewer()
    product = ProductFactory(name=XSS[1], sku="XSS-1", attributes={XSS[0]: XSS[2], "note": XSS[5], "x": XSS[3]})
    tokens = [(text, -2.5, [[XSS[(i + 2) % len(XSS)], -0.5], [text, -2.5]]) for i, text in enumerate(XSS)]
    description = make_review_description(product=product, sentences=[("flag", tokens)], reasons={0: [XSS[1]]})
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    _log_in(page)
    expect(page.locator("table.queue")).to_contain_text(XSS[1])  # shown as text
    page.goto(f"/review/{description.pk}/")
    for token in page.locator("#s-0 .tok").all():
        token.hover()
        expect(page.locator("#token-popover")).to_be_visible()
    token = page.locator("#s-0 .tok").first
    token.hover()
    expect(page.locator("#token-popover")).to_contain_text("<script>")  # text, not markup
    page.locator("#token-popover button.alt").first.click()  # substitute a payload alternative
    expect(page.locator("#s-0 .decision-badge")).to_have_text("Edited")
    page.goto(f"/review/{description.pk}/?tab=history")
    assert page.evaluate("window.__xss") is None
    assert dialogs == []
    assert page.locator("script:not([src])").count() == 0
    page.goto(f"/review/{description.pk}/")
    expect(page.locator("#product-attributes")).to_contain_text(XSS[0])
    expect(page.locator("#s-0 .sentence-text")).to_contain_text("{{ request.user }}")
    assert page.evaluate("window.__xss") is None


def test_the_review_works_without_javascript(browser, live_server):
    _reviewer()
    bottle = make_bottle_description()
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        _log_in(page)
        expect(page.get_by_role("link", name="Show counts per band")).to_be_visible()
        page.get_by_role("link", name="Show counts per band").click()
        expect(page.locator("#band-counts")).to_contain_text("All 1")
        page.get_by_role("button", name="Review next riskiest").click()
        expect(page).to_have_url(re.compile(rf"/review/{bottle.pk}/$"))
        page.locator("#s-1").get_by_role("link", name="Edit").click()
        expect(page).to_have_url(re.compile(r"\?edit=1#s-1$"))
        page.get_by_label("Edit sentence 2").fill("It holds 750 ml.")
        page.get_by_role("button", name="Save").click()
        expect(page.locator("#s-1 .sentence-text")).to_have_text("It holds 750 ml.")
        page.locator("#s-2").get_by_role("button", name="Approve").click()
        expect(page.locator("#s-2 .decision-badge")).to_have_text("Approved")
        page.get_by_role("button", name="Approve & publish").click()
        expect(page).to_have_url(re.compile(r"/queue/$"))
        expect(page.locator(".messages")).to_contain_text("Published")
        bottle.refresh_from_db()
        assert bottle.status == DescriptionStatus.PUBLISHED
    finally:
        context.close()

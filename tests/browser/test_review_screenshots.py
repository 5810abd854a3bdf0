"""Screenshots of the queue and the review page for the README. They are written to docs/
with UPDATE_SCREENSHOTS=1 (then look at them before committing), else to a temporary folder,
so the test still checks the pages render in Chromium. The bottle is a draft beside its live
copy, opened (claimed) with its queue row's Open button, its diff against the live copy shown."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.utils import timezone
from playwright.sync_api import expect

from reviewq.core.models import Description, DescriptionStatus
from reviewq.core.roles import REVIEWER, roles_ensure
from tests.factories import CatalogFactory, ProductFactory, UserFactory
from tests.reviewq.review_data import make_bottle_description, make_review_description

PASSWORD = "correct-horse-battery-9"


@pytest.fixture(autouse=True)
def _fresh_counts():
    cache.clear()  # queue band counts are cached for a few seconds; tests share the process


QUEUE = [
    ("Outdoor", "Alpine trail backpack 28 l", "AT-28", 0.84, "flag"),
    ("Kitchen", "Cast iron skillet 26 cm", "CI-26", 0.77, "flag"),
    ("Outdoor", "Ultralight tent 2p", "UT-2P", 0.63, "review"),
    ("Home", "Linen duvet cover, double", "LD-DBL", 0.52, "review"),
    ("Kitchen", "Pour-over coffee kettle", "PK-1L", 0.41, "review"),
    ("Home", "Wool throw blanket", "WT-130", 0.18, "publish"),
    ("Kitchen", "Bamboo cutting board set", "BC-3", 0.09, "publish"),
]


def test_screenshots_of_queue_and_review_page(page, screenshot_dir):
    out = screenshot_dir
    roles_ensure()
    rita = UserFactory(username="rita", password=PASSWORD)
    sam = UserFactory(username="sam")
    for user in (rita, sam):
        user.groups.add(Group.objects.get(name=REVIEWER))
    catalogs = {name: CatalogFactory(name=name) for name in ("Kitchen", "Outdoor", "Home")}
    bottle = make_bottle_description(
        risk=0.91,
        product=ProductFactory(
            catalog=catalogs["Kitchen"],
            name="Trail insulated bottle 750 ml",
            sku="TB-750-BLU",
            attributes={
                "material": "stainless steel",
                "capacity": "750 ml",
                "colour": "navy blue",
                "keeps cold": "24 h",
                "finish": "matte powder coat",
                "dishwasher safe": True,
            },
        ),
    )
    live = [("This", -0.02), (" stainless", -0.3), (" steel", -0.05), (" bottle", -0.01), (" keeps", -0.2)]
    live += [(" drinks", -0.15), (" cold", -0.08), (" for", -0.01), (" 24", -0.4), (" hours", -0.02), (".", -0.01)]
    live += [(" It", -0.05), (" holds", -0.4), (" 750", -0.4), (" ml", -0.1), (" and", -0.7), (" fits", -0.3)]
    live += [(" most", -0.8), (" cup", -0.2), (" holders", -0.05), (".", -0.01)]
    make_review_description(status=DescriptionStatus.PUBLISHED, product=bottle.product, sentences=[("publish", live)])
    for catalog, name, sku, risk, band in QUEUE:
        tokens = [("Solid", -0.2), (" everyday", -0.9 if band != "publish" else -0.1), (" choice", -0.3), (".", -0.01)]
        sentences = [("publish", [("Made", -0.1), (" to", -0.05), (" last", -0.1), (".", -0.01)]), (band, tokens)]
        if band == "flag":
            sentences.append(("review", [(" Weighs", -0.4), (" 2", -1.2), (" kg", -0.2), (".", -0.01)]))
        made = make_review_description(
            risk=risk, sentences=sentences, product=ProductFactory(catalog=catalogs[catalog], name=name, sku=sku)
        )
        if sku == "UT-2P":
            Description.objects.filter(pk=made.pk).update(
                review_claimed_by=sam, review_claimed_until=timezone.now() + timedelta(minutes=12)
            )
    page.set_viewport_size({"width": 1200, "height": 760})
    page.goto("/login/?next=/queue/")
    page.get_by_label("Username").fill("rita")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("table.queue tbody tr")).to_have_count(8)
    expect(page.locator("#band-counts")).to_contain_text("All 8")
    page.locator("#sel-" + str(bottle.pk)).check()
    page.screenshot(path=str(out / "review-queue.png"), full_page=True)

    page.locator("table.queue tbody tr", has_text="Trail insulated bottle").get_by_role("button", name="Open").click()
    expect(page.get_by_role("heading", name=re.compile("Trail insulated bottle"))).to_be_visible()
    expect(page.get_by_text("You hold this description")).to_be_visible()
    page.get_by_text("Changes against the live (published) copy").click()
    expect(page.locator(".live-diff del", has_text="stainless")).to_be_visible()
    page.locator("#s-2 .tok", has_text="ocean").hover()  # below it only a confident sentence is covered
    expect(page.locator("#token-popover")).to_contain_text("navy")
    page.screenshot(path=str(out / "review-page.png"), full_page=True)
    for name in ("review-queue.png", "review-page.png"):
        assert (out / name).stat().st_size > 20_000

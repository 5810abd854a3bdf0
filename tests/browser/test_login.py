import re

from playwright.sync_api import expect

from reviewq.core.roles import REVIEWER, roles_ensure
from tests.factories import CatalogFactory, ProductFactory, UserFactory


def test_reviewer_logs_in_sees_home_and_logs_out(page):
    roles_ensure()
    user = UserFactory(username="reviewer", password="correct-horse-battery-9")
    user.groups.add(user.groups.model.objects.get(name=REVIEWER))
    catalog = CatalogFactory(name="Kitchen goods")
    ProductFactory.create_batch(3, catalog=catalog)

    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    page.get_by_label("Username").fill("reviewer")
    page.get_by_label("Password").fill("correct-horse-battery-9")
    page.get_by_role("button", name="Log in").click()

    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", name="Catalogs")).to_be_visible()
    row = page.get_by_role("row", name=re.compile("Kitchen goods"))
    expect(row.get_by_role("cell").first).to_have_text("3")  # products
    expect(page.get_by_text("Scores are token probabilities, not truth.")).to_be_visible()
    expect(page.get_by_role("link", name="Admin")).to_have_count(0)  # reviewers are not staff
    assert page.evaluate("typeof window.htmx") == "object"  # vendored htmx loaded from static

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login/$"))
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))


def test_wrong_password_stays_on_login_with_error(page):
    UserFactory(username="editor", password="right-password-42")
    page.goto("/login/")
    page.get_by_label("Username").fill("editor")
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("correct username and password")
    expect(page).to_have_url(re.compile(r"/login/$"))


def test_anonymous_user_is_redirected_to_login(page):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    expect(page.get_by_role("heading", name="Log in to reviewq")).to_be_visible()

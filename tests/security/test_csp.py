"""Content-Security-Policy on every HTML page, and pages that need nothing it forbids."""

import re
from html.parser import HTMLParser

import pytest
from django.test import Client

from tests.security.test_role_matrix import ACCESS, ROLES, expected, objects, route_url, url_routes  # noqa: F401

INLINE_HANDLER = re.compile(r"^on[a-z]+$")


class InlineCode(HTMLParser):
    """Collects what a strict CSP blocks: inline <script>, <style>, style= and on* attributes."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names and dict(attrs).get("type") not in ("application/json",):
            self.found.append("inline <script>")
        if tag == "style":
            self.found.append("<style>")
        if "style" in names:
            self.found.append(f"style= on <{tag}>")
        self.found.extend(f"{name}= on <{tag}>" for name in names if INLINE_HANDLER.match(name))
        href = dict(attrs).get("href") or ""
        if href.strip().lower().startswith("javascript:"):
            self.found.append(f"javascript: URL on <{tag}>")


def policy(response) -> dict[str, str]:
    header = response.get("Content-Security-Policy", "")
    return {part.split()[0]: part for part in (p.strip() for p in header.split(";")) if part}


@pytest.mark.parametrize("role", ROLES)
def test_every_html_response_carries_a_strict_csp(objects, role):  # noqa: F811
    user = objects["users"].get(role)
    client = Client()
    if user is not None:
        client.force_login(user)
    pages, wrong = 0, []
    for route in url_routes():
        url = route_url(route, objects)
        response = client.get(url, follow=True)
        if not response.get("Content-Type", "").startswith("text/html"):
            continue
        pages += 1
        directives = policy(response)
        if directives.get("default-src") != "default-src 'self'":
            wrong.append(f"{url}: CSP {response.get('Content-Security-Policy')!r}")
            continue
        for name in ("script-src", "style-src"):
            if directives.get(name) != f"{name} 'self'":
                wrong.append(f"{url}: {directives.get(name)!r}")
        parser = InlineCode()
        parser.feed(response.content.decode())
        wrong.extend(f"{url}: {what}" for what in sorted(set(parser.found)))
    assert pages >= 10
    assert not wrong, "\n".join(wrong)


def test_error_and_lockout_pages_carry_the_csp(db, settings):
    assert "default-src 'self'" in Client().get("/no-such-page/").get("Content-Security-Policy", "")
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        locked = client.post("/login/", {"username": "nobody", "password": "x"})
    assert locked.status_code == 429 and "default-src 'self'" in locked["Content-Security-Policy"]


def test_htmx_is_configured_without_eval_or_injected_styles(client, db):
    html = client.get("/login/").content.decode()
    match = re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", html)
    assert match, "htmx-config meta missing"
    import json

    config = json.loads(match.group(1))
    assert config["allowEval"] is False and config["includeIndicatorStyles"] is False

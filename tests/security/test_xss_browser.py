"""XSS_PAYLOADS in model output (through the fake OpenAI server's bodies and the real storage
path, and as directly stored tokens and alternatives), product names, SKUs, attributes,
catalog names, provider errors, reviewer edits and an uploaded catalog file: nothing executes
or gets injected in Chromium on any page."""

import re

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from playwright.sync_api import expect

from generation.prompts import build_messages
from generation.providers.openai_compat import completion_from_openai
from generation.queueing import description_claim_for_generation
from generation.storage import completion_store
from reviewq.catalogs.api import api_token_create
from reviewq.core.models import Catalog, Description, DescriptionStatus, GenerationRun, Sentence
from reviewq.core.roles import ADMIN, roles_ensure
from reviewq.review.claims import description_review_claim
from reviewq.review.sentences import sentence_edit
from tests.factories import CatalogFactory, ProductFactory, UserFactory
from tests.fakes.fake_openai import FakeOpenAI
from tests.reviewq.review_data import make_review_description
from tests.security.payloads import PAGE_PROBE, XSS_PAYLOADS

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery-9"
P = XSS_PAYLOADS


@pytest.fixture(autouse=True)
def _fresh_counts():
    cache.clear()


def _admin():
    roles_ensure()
    user = UserFactory(username="xss-admin", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=ADMIN))
    return user


def _generated_through_the_fake_server(catalog) -> Description:
    """Model output built from hostile product data by the fake server, parsed and stored by
    the real path (completion_from_openai -> align -> gate -> completion_store)."""
    product = ProductFactory(
        catalog=catalog,
        sku=P[9][:100],
        name=P[2],
        attributes={P[0]: P[4], "material": P[5], "colour": P[13], "size": P[21], "note": P[30]},
    )
    Description.objects.create(product=product)
    description = description_claim_for_generation(product_id=product.pk, lease_seconds=60)
    messages = build_messages(name=product.name, sku=product.sku, attributes=product.attributes, template="")
    body = FakeOpenAI(seed=1).chat_completion({"messages": messages, "logprobs": True, "top_logprobs": 5})
    body["choices"][0]["message"]["content"] += " " + " ".join(P[:5])  # and verbatim, past any tokenizer
    content = body["choices"][0]["logprobs"]["content"]
    for payload in P[:5]:
        for piece in (" ", payload):
            content.append(
                {
                    "token": piece,
                    "logprob": -3.0,
                    "bytes": list(piece.encode()),
                    "top_logprobs": [{"token": P[7], "logprob": -0.5, "bytes": list(P[7].encode())}],
                }
            )
    [completion] = completion_from_openai(body, provider="openai")
    return completion_store(
        description=description,
        completion=completion,
        prompt="\n".join(m["content"] for m in messages),
        claim_version=description.version,
    )


def _hostile_data(admin):
    catalog = CatalogFactory(name=P[4])
    generated = _generated_through_the_fake_server(catalog)
    assert generated.status == DescriptionStatus.REVIEW and any(p in generated.text for p in P[:5])
    product = ProductFactory(
        catalog=catalog, sku="XSS-TOKENS", name=P[3], attributes={p[:60]: P[(i + 7) % len(P)] for i, p in enumerate(P)}
    )
    sentences = []
    for start in range(0, len(P), 8):
        tokens = [
            (P[i] + " ", -2.5, [[P[(i + 3) % len(P)], -0.4], [P[i] + " ", -2.5], [P[(i + 5) % len(P)], -3.0]])
            for i in range(start, min(start + 8, len(P)))
        ]
        sentences.append(("flag", tokens))
    stored = make_review_description(
        product=product, sentences=sentences, reasons={i: [P[i], P[i + 10]] for i in range(len(sentences))}, risk=0.99
    )
    description_review_claim(description=stored, reviewer=admin)
    stored.refresh_from_db()
    sentence_edit(
        sentence=Sentence.objects.get(description=stored, index=1),
        reviewer=admin,
        text=P[10] + P[14],
        expected_version=stored.version,
    )
    run = GenerationRun.objects.create(catalog=catalog, model=P[6], prompt_template="{name} " + P[8])
    failed = ProductFactory(catalog=catalog, sku="XSS-FAILED", name=P[16])
    Description.objects.create(
        product=failed,
        run=run,
        status=DescriptionStatus.FAILED,
        error_code="server_error",
        error=P[17] + P[18],
        attempts=3,
    )
    published = ProductFactory(catalog=catalog, sku="=cmd|' /C calc'!A0", name=P[20])
    make_review_description(
        product=published, status=DescriptionStatus.PUBLISHED, sentences=[("publish", [(P[22], -0.1), (P[23], -0.1)])]
    )
    return catalog, generated, stored, run


def _probe(page, where: str, dialogs: list):
    result = page.evaluate(PAGE_PROBE)
    assert result == {"xss": None, "injected": 0, "handlers": [], "scripts": 0}, (where, result)
    assert dialogs == [], (where, dialogs)


def _log_in(page, user):
    page.goto("/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def test_no_payload_executes_on_any_page(page, tmp_path, celery_eager):
    admin = _admin()
    catalog, generated, stored, run = _hostile_data(admin)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    _log_in(page, admin)
    visited = 0
    for url in [
        "/",
        "/queue/",
        f"/queue/?catalog={catalog.pk}",
        "/catalogs/",
        f"/catalogs/{catalog.pk}/",
        f"/runs/{run.pk}/",
        "/dashboard/",
        f"/dashboard/?catalog={catalog.pk}",
        "/thresholds/",
        f"/thresholds/catalog/{catalog.pk}/",
        "/calibration/",
        f"/review/{stored.pk}/?tab=history",
        f"/review/{generated.pk}/?tab=history",
        f"/review/{stored.pk}/?edit=2#s-2",
        "/admin/reviewq/product/",
        f"/admin/reviewq/description/{stored.pk}/change/",
        "/admin/reviewq/auditevent/",
        "/admin/reviewq/generationrun/",
    ]:
        response = page.goto(url)
        assert response.status < 400, (url, response.status)
        page.wait_for_load_state("networkidle")
        _probe(page, url, dialogs)
        visited += 1
    assert page.content().count("__xss") > 0  # the payloads are on the page, as text

    # The review pages with every token's popover opened (mouse), then a payload substituted.
    for description in (stored, generated):
        page.goto(f"/review/{description.pk}/")
        tokens = page.locator(".sentence .tok")
        assert tokens.count() > 10
        for i in range(tokens.count()):
            tokens.nth(i).hover()
            expect(page.locator("#token-popover")).to_be_visible()
        _probe(page, f"popovers of {description.pk}", dialogs)
    page.goto(f"/review/{stored.pk}/")
    page.locator("#s-0 .tok").first.hover()
    expect(page.locator("#token-popover")).to_contain_text("<")  # payload alternatives shown as text
    page.locator("#token-popover button.alt").first.click()
    expect(page.locator("#s-0 .decision-badge")).to_have_text("Edited")
    _probe(page, "after substituting a payload alternative", dialogs)
    page.goto(f"/review/{stored.pk}/?tab=history")
    _probe(page, "history after the substitution", dialogs)

    # A catalog file full of payloads through the browser upload (read and imported by the tasks,
    # run eagerly here): preview, import, catalog page.
    header = ",".join(["sku", "name"] + [f'"{p[:40].replace(chr(34), chr(39))}"' for p in P[20:26]])
    rows = [
        ",".join(
            [f"U-{i}", '"' + P[i].replace('"', '""') + '"']
            + ['"' + P[(i + k) % len(P)].replace('"', '""') + '"' for k in range(6)]
        )
        for i in range(len(P))
    ]
    upload = tmp_path / "hostile.csv"
    upload.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    page.goto("/catalogs/upload/")
    page.locator("input[type=file]").set_input_files(str(upload))
    page.locator("input[name=catalog_name]").fill(P[12])
    page.get_by_role("button", name="Upload and preview").click()
    expect(page).to_have_url(re.compile(r"/catalogs/upload/[\w-]+/$"))
    _probe(page, "upload preview", dialogs)
    page.locator("form.import-form button[type=submit]").first.click()
    expect(page).to_have_url(re.compile(r"/catalogs/\d+/\?imported=\d+$"))
    _probe(page, "imported catalog", dialogs)
    imported = Catalog.objects.get(name=P[12])
    assert imported.products.count() == len(P)
    page.goto("/catalogs/")
    _probe(page, "catalog list after import", dialogs)

    # Exports: served as downloads (attachment, not HTML, nosniff), so a browser never renders them.
    for fmt in ("csv", "jsonl"):
        response = page.request.get(f"/catalogs/{catalog.pk}/export.{fmt}")
        assert response.ok
        assert "html" not in response.headers["content-type"]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-disposition"].startswith("attachment")
        body = response.text()
        assert P[20] in body  # exported verbatim: the content type keeps it inert
        if fmt == "csv":
            assert "'=cmd|' /C calc'!A0" in body and "\n=cmd" not in body
        with page.expect_download() as download:
            page.evaluate(f"() => {{ location.href = '/catalogs/{catalog.pk}/export.{fmt}'; }}")
        assert download.value.suggested_filename.endswith(f".{fmt}")
        _probe(page, f"after opening the {fmt} export", dialogs)

    # The JSON API opened in the browser shows the payloads as JSON text.
    _, key = api_token_create(user=admin, name="xss")
    api = page.context.browser.new_context(
        base_url=page.url.split("/catalogs")[0], extra_http_headers={"Authorization": f"Bearer {key}"}
    )
    try:
        api_page = api.new_page()
        api_dialogs = []
        api_page.on("dialog", lambda dialog: (api_dialogs.append(dialog.message), dialog.dismiss()))
        for url in (
            f"/api/v1/descriptions/{stored.pk}/",
            f"/api/v1/products/?catalog={catalog.pk}",
            "/api/v1/catalogs/",
        ):
            response = api_page.goto(url)
            assert response.ok and response.headers["content-type"].startswith("application/json")
            _probe(api_page, url, api_dialogs)
    finally:
        api.close()
    assert visited == 18


def test_the_probe_sees_a_payload_rendered_as_markup(page):
    """The check above can fail: the same payloads inserted as HTML are caught."""
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.set_content("<body>" + "".join(P[:6]) + "</body>")
    page.wait_for_timeout(200)
    result = page.evaluate(PAGE_PROBE)
    assert result["xss"] is not None and result["injected"] > 0 and result["handlers"]
    assert dialogs  # <script data-xss>alert(1)</script> ran

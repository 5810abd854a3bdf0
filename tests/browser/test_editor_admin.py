"""Editors and admins in real Chromium.

The run test uses a real Celery worker process (as tests/generation/test_worker_integration.py
does): the live server enqueues with delay_on_commit onto a broker the worker reads (an
SQLite broker file, or Redis when CELERY_BROKER_URL is set), and the worker generates against
the fake OpenAI server over HTTP, writing to the same test database the browser reads.
"""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from playwright.sync_api import expect

from reviewq.celery import app as celery_app
from reviewq.core.models import (
    Catalog,
    CatalogImport,
    CatalogImportRow,
    Description,
    DescriptionStatus,
    GenerationRun,
    Product,
    Thresholds,
)
from reviewq.core.roles import roles_ensure
from tests.factories import CatalogFactory, UserFactory
from tests.fakes.fake_openai import FakeOpenAI
from tests.reviewq.editor_data import make_description

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "browser-pass-83"
S = DescriptionStatus

BAD_CSV = (
    b"sku,name,colour,capacity\nBR-1,Trail bottle,blue,750 ml\n,Nameless flask,red,500 ml\nBR-3,Camp mug,green,350 ml\n"
)
GOOD_CSV = (
    b"sku,name,colour,capacity\nBR-1,Trail bottle,blue,750 ml\nBR-2,Summit flask,red,500 ml\n"
    b"BR-3,Camp mug,green,350 ml\nBR-4,Desk tumbler,grey,400 ml\nBR-5,Kids bottle,yellow,300 ml\n"
)


@pytest.fixture(autouse=True)
def uploads_in_tmp(settings, tmp_path):
    settings.DATA_DIR = tmp_path  # staged catalog uploads


def _user(role: str):
    roles_ensure()
    user = UserFactory(username=f"{role}-browser", password=PASSWORD)
    user.groups.add(user.groups.model.objects.get(name=role))
    return user


def _login(page, user):
    page.goto("/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker(tmp_path):
    """A real worker on a private queue; the web side's Celery app sends to the same broker."""
    broker = (
        f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}"
        if settings.CELERY_BROKER_URL.startswith("memory://")
        else settings.CELERY_BROKER_URL
    )
    queue = f"browser-{os.getpid()}-{time.monotonic_ns()}"
    saved = (celery_app.conf.broker_url, celery_app.conf.task_default_queue)
    log_path = tmp_path / "worker.log"
    process = None
    try:
        celery_app.conf.broker_url = broker
        celery_app.conf.task_default_queue = queue
        celery_app._pool = None  # forget connections to the test broker
        celery_app.amqp._producer_pool = None
        # Declare the queue before the worker starts: two processes creating the SQLite
        # broker's tables and queue row at once can collide (IntegrityError in one of them).
        with celery_app.connection_for_write() as conn:
            conn.default_channel.queue_declare(queue=queue)
        with FakeOpenAI(latency=0.6) as fake, log_path.open("w") as log:
            env = {
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "reviewq.settings",
                "SECRET_KEY": "browser-test-secret",
                "DATABASE_URL": _database_url(),
                "CELERY_BROKER_URL": broker,
                "LLM_PROVIDER": "openai",
                "LLM_BASE_URL": fake.base_url,
                "LLM_API_KEY": "test",
                "LLM_MODEL": "fake-model",
                "LLM_TIMEOUT": "5",
                "REDIS_URL": "",
            }
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "reviewq",
                    "worker",
                    "--pool",
                    "threads",
                    "--concurrency",
                    "1",
                    "--loglevel",
                    "WARNING",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "-Q",
                    queue,
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )
            try:
                yield process
            finally:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
                    try:
                        process.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        process.kill()
    finally:
        celery_app.conf.broker_url, celery_app.conf.task_default_queue = saved
        celery_app._pool = None
        celery_app.amqp._producer_pool = None
        if log_path.exists():
            print(log_path.read_text()[-4000:])  # shown if the test failed


@pytest.mark.slow
def test_editor_uploads_fixes_a_bad_row_runs_and_watches_the_bar_reach_100(page, worker, screenshot_dir):
    editor = _user("editor")
    _login(page, editor)
    page.get_by_role("link", name="Catalogs").click()
    page.get_by_role("link", name="Upload a catalog").click()

    # a file with a row missing its sku: the error with its line, nothing written
    page.get_by_label("Catalog").fill("Browser bottles")
    page.get_by_label("File").set_input_files({"name": "bottles.csv", "mimeType": "text/csv", "buffer": BAD_CSV})
    page.get_by_role("button", name="Upload and preview").click()
    errors = page.get_by_role("table", name=re.compile("Problems found"))
    expect(errors).to_be_visible(timeout=30_000)  # the worker's start-up, then it reads the file
    expect(errors.get_by_role("row").nth(1)).to_contain_text("3")
    expect(errors).to_contain_text("sku")
    assert not Product.objects.exists()

    # the fixed file previews cleanly and imports
    page.get_by_role("link", name="upload a different file").click()
    page.get_by_label("Catalog").fill("Browser bottles")
    page.get_by_label("File").set_input_files({"name": "bottles.csv", "mimeType": "text/csv", "buffer": GOOD_CSV})
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.get_by_text("5 valid products")).to_be_visible()
    page.get_by_role("button", name="Import 5 products").click()
    expect(page.get_by_role("heading", name="Browser bottles")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Imported 5 products into Browser bottles")).to_be_visible()
    assert Product.objects.count() == 5

    # start a run and watch the bar
    page.get_by_label("All products").check()
    page.get_by_role("button", name="Start run").click()
    expect(page.get_by_role("heading", name=re.compile(r"Run \d+"))).to_be_visible()
    seen = set()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        value = int(page.locator("#run-bar").get_attribute("value"))
        seen.add(value)
        if value == 100 and page.locator("#run-progress").get_attribute("data-polling") == "false":
            break
        assert worker.poll() is None, "the worker died (its log is printed below)"
        page.wait_for_timeout(300)
    assert 100 in seen, (seen, list(Description.objects.values_list("status", "error")))
    assert min(seen) < 100  # the page showed the run in progress, then htmx polling moved it
    expect(page.locator(".run-status")).to_have_text("Finished")
    expect(page.locator("#run-percent")).to_have_text("100%")
    assert page.locator("#run-progress").get_attribute("hx-trigger") is None  # polling stopped
    run = GenerationRun.objects.get()
    assert run.status == GenerationRun.Status.FINISHED
    assert set(Description.objects.values_list("status", flat=True)) <= {S.REVIEW, S.PUBLISHED}
    expect(page.locator(".run-stats")).to_contain_text("products/min")
    page.screenshot(path=str(screenshot_dir / "run.png"), full_page=True)

    # the run survives a reload
    page.reload()
    expect(page.locator("#run-percent")).to_have_text("100%")


def _seed_sentences():
    catalog = CatalogFactory(name="Gate catalog")
    for i in range(4):
        make_description(catalog=catalog, sentences=[(-0.2, "publish", ""), (-0.7 - i * 0.05, "review", "")])
    make_description(catalog=catalog, sentences=[(-1.1, "review", ""), (-2.2, "flag", "")])
    make_description(catalog=catalog, status=S.PUBLISHED, sentences=[(-0.1, "publish", "")])
    return catalog


def test_admin_drags_a_threshold_sees_counts_change_saves_and_sees_regated_items(page, screenshot_dir):
    _seed_sentences()
    admin = _user("admin")
    _login(page, admin)
    page.get_by_role("link", name="Thresholds").click()
    expect(page.get_by_role("heading", name=re.compile("Gate thresholds"))).to_be_visible()
    expect(page.get_by_text("not whether the text is true")).to_be_visible()
    publish_then = page.locator('td[data-band="publish"][data-kind="sentences"]')
    expect(publish_then).to_have_text("5")

    # drag the publish slider from -0.5 to about -1.0 with the mouse
    slider = page.get_by_label("Publish above (mean logprob)")
    box = slider.bounding_box()
    x_of = lambda value: box["x"] + (value + 3) / 3 * box["width"]  # noqa: E731  range -3..0
    y = box["y"] + box["height"] / 2
    page.mouse.move(x_of(-0.5), y)
    page.mouse.down()
    page.mouse.move(x_of(-0.75), y, steps=4)
    page.mouse.move(x_of(-1.0), y, steps=4)
    page.mouse.up()
    proposed = float(slider.input_value())
    assert -1.15 <= proposed <= -0.85, proposed
    expect(publish_then).to_have_text("9")  # the four -0.7..-0.85 sentences would publish
    expect(page.locator("#proposed-publish")).to_have_text(re.compile(r"-0\.9|-1"))
    assert not Thresholds.objects.exists()  # nothing saved yet

    page.get_by_role("button", name="Save and re-gate").click()
    expect(page.get_by_text("Thresholds saved.")).to_be_visible()
    regated = page.get_by_role("table", name="Descriptions that changed status")
    expect(regated.get_by_role("row")).to_have_count(5)  # header + 4 descriptions published
    expect(page.locator("#regate-summary")).to_contain_text("4 descriptions published")
    assert Description.objects.filter(status=S.PUBLISHED).count() == 5
    page.screenshot(path=str(screenshot_dir / "thresholds.png"), full_page=True)


def test_editor_cannot_change_thresholds(page):
    _seed_sentences()
    editor = _user("editor")
    _login(page, editor)
    expect(page.get_by_role("link", name="Catalogs")).to_be_visible()
    expect(page.get_by_role("link", name="Thresholds")).to_have_count(0)
    response = page.goto("/thresholds/")
    assert response.status == 403
    # a forged POST with the editor's own CSRF token is refused too
    page.goto("/catalogs/")
    status = page.evaluate(
        """async () => {
            const token = JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRFToken'];
            const body = new URLSearchParams({publish_above: '-3', flag_below: '-4', critical_floor: '-5', action: 'save'});
            const r = await fetch('/thresholds/', {method: 'POST', body, headers: {'X-CSRFToken': token}});
            return r.status;
        }"""
    )
    assert status == 403
    assert not Thresholds.objects.exists()


def test_reviewer_cannot_start_runs(page):
    catalog = CatalogFactory(name="Reviewer catalog")
    Product.objects.create(catalog=catalog, sku="R-1", name="Thing")
    reviewer = _user("reviewer")
    _login(page, reviewer)
    expect(page.get_by_role("link", name="Queue")).to_be_visible()
    expect(page.get_by_role("link", name="Catalogs")).to_have_count(0)
    assert page.goto(f"/catalogs/{catalog.pk}/").status == 403
    page.goto("/queue/")
    status = page.evaluate(
        """async (url) => {
            const token = JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRFToken'];
            const r = await fetch(url, {method: 'POST', body: new URLSearchParams({mode: 'all'}), headers: {'X-CSRFToken': token}});
            return r.status;
        }""",
        f"/catalogs/{catalog.pk}/runs/",
    )
    assert status == 403
    assert not GenerationRun.objects.exists() and not Description.objects.exists()


def _big_csv(rows: int) -> bytes:
    return b"sku,name,colour\n" + b"".join(b"BIG-%05d,Bottle %d,blue\n" % (i, i) for i in range(rows))


def _upload_file(page, data: bytes) -> None:
    page.goto("/catalogs/upload/")
    page.get_by_label("Catalog").fill("Big bottles")
    page.get_by_label("File").set_input_files({"name": "big.csv", "mimeType": "text/csv", "buffer": data})
    page.get_by_role("button", name="Upload and preview").click()


@pytest.mark.slow
def test_a_large_upload_shows_its_progress_then_pages_through_the_preview_and_imports(page, worker):
    """Upload -> a worker reads the file (the bar moves, polled by htmx) -> the preview, a page
    at a time from the staged rows -> Import -> the worker writes it -> the catalog page."""
    rows = 30_000
    _login(page, _user("editor"))
    _upload_file(page, _big_csv(rows))
    expect(page.locator("#import-progress")).to_be_visible()
    seen = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not page.locator("#preview").is_visible():
        value = page.locator("#import-bar").get_attribute("value") if page.locator("#import-bar").count() else None
        if value is not None:
            seen.append(int(value))
        assert worker.poll() is None, "the worker died (its log is printed below)"
        page.wait_for_timeout(200)
    # The bar only goes forward. Whether a poll lands between two chunks depends on the box (a quiet
    # one reads 30,000 rows in under a second, one poll): progress between chunks is pinned by
    # test_import_jobs.test_progress_is_visible_between_chunks and its rendering by
    # test_views.test_upload_view_only_stores_the_file_and_the_page_shows_progress.
    assert seen == sorted(seen) and all(0 <= value <= rows for value in seen), seen
    expect(page.get_by_text(f"{rows} valid products")).to_be_visible()
    expect(page.get_by_role("table", name=re.compile(f"Products 1 to 20 of {rows}"))).to_be_visible()
    page.get_by_role("link", name="Next").click()
    expect(page.get_by_role("table", name=re.compile(f"Products 21 to 40 of {rows}"))).to_contain_text("BIG-00020")
    assert not Product.objects.exists()

    page.get_by_role("button", name=f"Import {rows} products").click()
    expect(page.get_by_role("heading", name="Big bottles")).to_be_visible(timeout=90_000)
    expect(page.get_by_text(f"Imported {rows} products into Big bottles: {rows} new")).to_be_visible()
    assert Product.objects.count() == rows
    assert CatalogImport.objects.get().status == CatalogImport.Status.IMPORTED


@pytest.mark.slow
def test_cancel_while_the_worker_reads_the_upload_leaves_everything_as_it_was(page, worker):
    _login(page, _user("editor"))
    _upload_file(page, _big_csv(30_000))
    expect(page.locator("#import-progress")).to_be_visible()
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_text("Upload cancelled; nothing was imported.")).to_be_visible()
    expect(page.get_by_role("button", name="Upload and preview")).to_be_visible()
    assert CatalogImport.objects.get().status == CatalogImport.Status.CANCELLED
    deadline = time.monotonic() + 30
    while CatalogImportRow.objects.exists() and time.monotonic() < deadline:  # the worker stops at its next chunk
        time.sleep(0.2)
    assert not CatalogImportRow.objects.exists()
    assert not Catalog.objects.exists() and not Product.objects.exists()

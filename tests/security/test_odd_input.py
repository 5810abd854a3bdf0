"""Every HTML view x odd values in every query/POST field and path id: a 4xx, never a 500,
and nothing written (issue 15's "500s on odd input" and "no server-side length limits").

The values: `²` (str.isdigit() says yes, int() says no), -1, 0, 23 digits (beyond SQLite's and
Postgres' bigint), 2**63-1 where it exceeds the field (versions are int4), nan, inf, 1e999,
very long strings, unknown choices and missing fields. Run it on Postgres too:
DATABASE_URL=postgres://... pytest tests/security/test_odd_input.py
"""

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from reviewq.core.models import (
    Assignment,
    AuditEvent,
    Catalog,
    CatalogImport,
    Comment,
    Description,
    GenerationRun,
    Product,
    Sentence,
    Thresholds,
)
from tests.reviewq.editor_data import client_for, role_user
from tests.reviewq.review_data import make_review_description

pytestmark = pytest.mark.django_db

BIG = "1" * 23  # 10**22: past 2**63 on every backend
INT64_MAX = str(2**63 - 1)
LONG = "x" * 10_000
TWO_MB = "x" * (2 * 1024 * 1024)
ODD_IDS = ["²", "-1", "0", BIG, "nan", "inf", "1e999", LONG]  # for ids (1 to 2**63-1)
ODD_VERSIONS = [*ODD_IDS, INT64_MAX]  # versions are int4 (1 to 2**31-1)
ODD_INDEXES = ["²", "-1", BIG, INT64_MAX, "nan", "inf", "1e999", LONG]  # sentence index / token position
ODD_FLOATS = ["nan", "inf", "-inf", "1e999", "²", LONG]
ODD_CHOICES = ["unknown", "²", LONG]
HTMX = {"HTTP_HX_REQUEST": "true"}


@dataclass(frozen=True)
class Case:
    label: str
    method: str
    url: Callable[[dict], str]  # objects -> url
    data: Callable[[dict], dict] = lambda o: {}
    htmx: bool = False
    upload: bool = False  # needs an upload (objects["upload"])


def _review(o):
    return reverse("review", args=[o["description"].pk])


def _sentence(o):
    return reverse("review_sentence", args=[o["description"].pk, 1])


def _decide(o):
    return reverse("review_decide", args=[o["description"].pk])


def _comment(o):
    return reverse("review_comment", args=[o["description"].pk])


def _guidelines(o):
    return reverse("catalog_guidelines", args=[o["catalog"].pk])


def _preview(o):
    return reverse("catalog_upload_preview", args=[o["upload"]])


def _catalog(o):
    return reverse("catalog_detail", args=[o["catalog"].pk])


def _mapping(o):
    return reverse("catalog_upload_mapping", args=[o["upload"]])


def _run_create(o):
    return reverse("run_create", args=[o["catalog"].pk])


def _thresholds(o):
    return reverse("thresholds_catalog", args=[o["catalog"].pk])


def _static(name: str) -> Callable[[dict], str]:
    return lambda o: reverse(name)


def _path(template: str) -> Callable[[dict], str]:
    return lambda o: template


def _cases() -> list[Case]:
    cases: list[Case] = []

    def each(prefix, method, url, field, values, base=None, **kwargs):
        for i, value in enumerate(values):
            cases.append(
                Case(
                    f"{prefix} {field}={value[:12]}#{i}",
                    method,
                    url,
                    lambda o, field=field, value=value, base=base: {**((base or (lambda o: {}))(o)), field: value},
                    **kwargs,
                )
            )

    # --- review: queue, next, bulk -------------------------------------------------------
    queue = _static("queue")
    each("queue", "get", queue, "catalog", ODD_IDS)
    each("queue", "get", queue, "band", ODD_CHOICES)
    each("queue", "get", queue, "reason", ["x" * 101, LONG])
    each("queue", "get", queue, "mine", ["0", "yes", *ODD_CHOICES])
    each("queue", "get", queue, "assigned", ["0", "yes", *ODD_CHOICES])
    each("queue", "get", queue, "after", ["nan:1", "inf:1", f"0.5:{BIG}", "0.5:²", "²", "0.5", LONG])
    each("queue", "get", queue, "fragment", ODD_CHOICES, htmx=True)
    each("queue", "get", queue, "counts", ["2", *ODD_CHOICES])
    each("next", "post", _static("queue_next"), "current", ODD_IDS)
    each("next", "post", _static("queue_next"), "catalog", ODD_IDS)
    each("open", "post", _static("queue_open"), "description", ODD_IDS)
    each(
        "open", "post", _static("queue_open"), "band", ODD_CHOICES, base=lambda o: {"description": o["description"].pk}
    )
    each("bulk", "post", _static("queue_bulk"), "selected", ODD_IDS, base=lambda o: {"action": "release"})
    each(
        "bulk",
        "post",
        _static("queue_bulk"),
        "action",
        ODD_CHOICES,
        base=lambda o: {"selected": [o["description"].pk]},
    )
    for i, version in enumerate(ODD_VERSIONS):
        cases.append(
            Case(
                f"bulk version-pk={version[:12]}#{i}",
                "post",
                _static("queue_bulk"),
                lambda o, version=version: {
                    "action": "approve",
                    "confirm": "1",
                    "selected": [o["description"].pk],
                    f"version-{o['description'].pk}": version,
                },
            )
        )
    cases.append(
        Case(
            "bulk too many ids",
            "post",
            _static("queue_bulk"),
            lambda o: {"action": "release", "selected": [str(n) for n in range(1, 202)]},
        )
    )
    # --- review: assignment (the admin may assign) ----------------------------------------
    assign = _static("queue_assign")

    def to_reviewer(o):
        return {"assign": "selected", "selected": [o["description"].pk], "reviewers": [o["reviewer"].pk]}

    each("assign", "post", assign, "assign", ODD_CHOICES, base=to_reviewer)
    each("assign", "post", assign, "selected", ODD_IDS, base=to_reviewer)
    each("assign", "post", assign, "reviewers", [*ODD_IDS, INT64_MAX], base=to_reviewer)
    each("assign", "post", assign, "per_item", ["0", "6", *ODD_IDS], base=lambda o: {**to_reviewer(o), "confirm": "1"})
    each("assign", "post", assign, "confirm", ODD_CHOICES, base=to_reviewer)
    cases.append(
        Case(
            "assign too many reviewers",
            "post",
            assign,
            lambda o: {**to_reviewer(o), "reviewers": [str(n) for n in range(1, 52)]},
        )
    )
    # --- review: the page and its fragments -------------------------------------------------
    each("review", "get", _review, "edit", ODD_INDEXES)
    each("review", "get", _review, "version", ODD_VERSIONS)
    each("review", "get", _review, "tab", ODD_CHOICES)
    each("review", "get", _review, "catalog", ODD_IDS)
    each("review", "get", _review, "fragment", ODD_CHOICES, htmx=True)
    each("review", "get", _review, "index", ODD_INDEXES, base=lambda o: {"fragment": "sentence"}, htmx=True)
    cases.append(Case("review sentence fragment without index", "get", _review, lambda o: {"fragment": "sentence"}))
    # --- review: sentence actions and decisions -------------------------------------------
    each("sentence", "post", _sentence, "version", ODD_VERSIONS, base=lambda o: {"action": "approve"})
    each("sentence", "post", _sentence, "action", ODD_CHOICES, base=lambda o: {"version": 1})
    each("sentence", "post", _sentence, "text", ["x" * 2001, TWO_MB], base=lambda o: {"action": "edit", "version": 1})
    each(
        "sentence",
        "post",
        _sentence,
        "position",
        ["", *ODD_INDEXES],
        base=lambda o: {"action": "substitute", "version": 1, "alternative": " 750"},
    )
    each(
        "sentence",
        "post",
        _sentence,
        "alternative",
        ["x" * 256],
        base=lambda o: {"action": "substitute", "version": 1, "position": 8},
    )
    each("sentence", "post", _sentence, "catalog", ODD_IDS, base=lambda o: {"action": "approve", "version": 1})
    cases.append(Case("sentence missing fields", "post", _sentence))
    each("decide", "post", _decide, "version", ODD_VERSIONS, base=lambda o: {"action": "approve"})
    each("decide", "post", _decide, "action", ODD_CHOICES, base=lambda o: {"version": 1})
    each("decide", "post", _decide, "reason", ["x" * 1001, TWO_MB], base=lambda o: {"action": "reject", "version": 1})
    each(
        "decide",
        "post",
        _decide,
        "approve_remaining",
        ["0", "yes", LONG],
        base=lambda o: {"action": "approve", "version": 1},
    )
    each("decide", "post", _decide, "catalog", ODD_IDS, base=lambda o: {"action": "release"})
    # Error categories are chosen by key: anything but an active category's key is refused.
    odd_categories = ["0", "9", "a", "11", *ODD_CHOICES]
    for action in ("edit", "remove", "categorise"):
        each(
            "sentence",
            "post",
            _sentence,
            "category",
            odd_categories,
            base=lambda o, action=action: {"action": action, "version": 1, "text": "New."},
        )
    each(
        "decide",
        "post",
        _decide,
        "rejection_category",
        odd_categories,
        base=lambda o: {"action": "reject", "version": 1, "rejection_reason": "no"},
    )
    each("comment", "post", _comment, "text", ["", " ", "x" * 2001, TWO_MB])
    each("comment", "post", _comment, "text", ["", "x" * 2001], htmx=True)
    each("comment", "post", _comment, "catalog", ODD_IDS, base=lambda o: {"text": "fine"})
    cases.append(Case("decide missing fields", "post", _decide))
    cases.append(Case("decide missing version", "post", _decide, lambda o: {"action": "approve"}))
    # --- catalogs ------------------------------------------------------------------------
    each("upload", "get", _static("catalog_upload"), "catalog", ["x" * 201, LONG])
    for i, name in enumerate(["x" * 201, TWO_MB]):
        cases.append(
            Case(
                f"upload catalog_name long#{i}",
                "post",
                _static("catalog_upload"),
                lambda o, name=name: {"catalog_name": name, "file": SimpleUploadedFile("c.csv", b"sku,name\nA,B\n")},
            )
        )
    each("mapping", "post", _mapping, "sku_column", ["x" * 1001], upload=True)
    each("mapping", "post", _mapping, "attribute_columns", ["x" * 1001], base=lambda o: {"mapped": "1"}, upload=True)
    each("mapping", "post", _mapping, "mapped", ["0", "yes", LONG], upload=True)
    each("preview", "post", _preview, "partial", ["0", "yes"], upload=True)
    each("preview", "post", _preview, "catalog_name", ["x" * 201, LONG], upload=True)
    each("preview", "get", _preview, "page", ["0", "²", "nan", LONG, INT64_MAX], upload=True)
    each("catalog", "get", _catalog, "imported", ODD_IDS)
    each("run", "post", _run_create, "candidates", ["", "9", *ODD_IDS])
    each("run", "post", _run_create, "mode", ODD_CHOICES)
    each("run", "post", _run_create, "provider", ODD_CHOICES)
    each("run", "post", _run_create, "model", ODD_CHOICES)
    each("run", "post", _run_create, "prompt_template", [TWO_MB])
    each("guidelines", "post", _guidelines, "guidelines", ["x" * 5001, TWO_MB])
    # --- dashboard -----------------------------------------------------------------------
    each("calibration", "get", _static("calibration"), "target", [*ODD_FLOATS, "-1", "101"])
    each("calibration", "get", _static("calibration"), "catalog", ODD_IDS)
    each("dashboard", "get", _static("dashboard"), "catalog", ODD_IDS)
    save = {"publish_above": "-0.5", "flag_below": "-1.5", "critical_floor": "-2.3", "action": "save"}
    for field in ("publish_above", "flag_below", "critical_floor"):
        each("thresholds", "post", _thresholds, field, ODD_FLOATS, base=lambda o: dict(save))
        each("thresholds", "post", _static("thresholds"), field, ODD_FLOATS, base=lambda o: dict(save))
        each("thresholds", "get", _thresholds, field, ODD_FLOATS)
    each("thresholds", "post", _thresholds, "action", ODD_CHOICES, base=lambda o: dict(save))
    # --- ids in the path: no match (404), never an overflow ----------------------------------
    for big in (BIG, str(2**63)):
        cases += [
            Case(f"path review {big}", "get", _path(f"/review/{big}/")),
            Case(f"path decide {big}", "post", _path(f"/review/{big}/decide/"), lambda o: {"action": "release"}),
            Case(
                f"path sentence index {big}",
                "post",
                lambda o, big=big: f"/review/{o['description'].pk}/sentences/{big}/",
                lambda o: {"action": "approve", "version": 1},
            ),
            Case(f"path catalog {big}", "get", _path(f"/catalogs/{big}/")),
            Case(f"path run create {big}", "post", _path(f"/catalogs/{big}/runs/"), lambda o: {"mode": "all"}),
            Case(f"path guidelines {big}", "post", _path(f"/catalogs/{big}/guidelines/"), lambda o: {"guidelines": ""}),
            Case(f"path comment {big}", "post", _path(f"/review/{big}/comments/"), lambda o: {"text": "hi"}),
            Case(f"path run {big}", "get", _path(f"/runs/{big}/")),
            Case(f"path run cancel {big}", "post", _path(f"/runs/{big}/cancel/")),
            Case(f"path run retry {big}", "post", _path(f"/runs/{big}/retry/")),
            Case(f"path export {big}", "get", _path(f"/catalogs/{big}/export.csv")),
            Case(f"path thresholds {big}", "post", _path(f"/thresholds/catalog/{big}/"), lambda o: dict(save)),
        ]
    cases += [
        Case("path review int64 max", "get", _path(f"/review/{INT64_MAX}/")),
        Case("calibration catalog int64 max", "get", _static("calibration"), lambda o: {"catalog": INT64_MAX}),
        Case("dashboard catalog int64 max", "get", _static("dashboard"), lambda o: {"catalog": INT64_MAX}),
        Case("path export int64 max", "get", _path(f"/catalogs/{INT64_MAX}/export.csv")),
    ]
    return cases


CASES = _cases()


@pytest.fixture
def objects(client, settings, tmp_path):
    settings.DATA_DIR = tmp_path  # staged uploads
    cache.clear()
    client, admin = client_for(client, "admin")
    description = make_review_description()
    catalog = description.product.catalog
    run = GenerationRun.objects.create(catalog=catalog, created_by=admin)
    reviewer = role_user("reviewer")
    return {"client": client, "description": description, "catalog": catalog, "run": run, "reviewer": reviewer}


def _state() -> dict:
    """Everything a view here could write."""
    return {
        "audit": list(AuditEvent.objects.order_by("pk").values_list("pk", "action")),
        "descriptions": list(
            Description.objects.order_by("pk").values_list(
                "pk",
                "status",
                "version",
                "review_claimed_by",
                "review_claimed_until",
                "rejection_reason",
                "rejection_category",
            )
        ),
        "sentences": list(
            Sentence.objects.order_by("pk").values_list("pk", "decision", "edited_text", "band", "error_category")
        ),
        "comments": Comment.objects.count(),
        "assignments": list(Assignment.objects.order_by("pk").values_list("description", "reviewer")),
        "thresholds": list(Thresholds.objects.values_list("catalog", "publish_above", "flag_below", "critical_floor")),
        "runs": list(GenerationRun.objects.order_by("pk").values_list("pk", "status", "queued")),
        "catalogs": list(Catalog.objects.order_by("pk").values_list("pk", "guidelines")),
        "imports": list(CatalogImport.objects.values_list("pk", "status", "mapping", "catalog_name", "partial")),
        "products": list(Product.objects.order_by("pk").values_list("pk", "name", "attributes")),
    }


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
def test_odd_input_is_a_4xx_and_writes_nothing(objects, case):
    client = objects["client"]
    if case.upload:
        staged = client.post(
            reverse("catalog_upload"),
            {"catalog_name": "Shop", "file": SimpleUploadedFile("c.csv", b"sku,name\nA,B\n", "text/csv")},
        )
        objects["upload"] = staged["Location"].rstrip("/").rsplit("/", 1)[1]
    before = _state()
    response = getattr(client, case.method)(case.url(objects), case.data(objects), **(HTMX if case.htmx else {}))
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    assert _state() == before


@pytest.mark.parametrize(
    ("label", "method", "url", "data", "status"),
    [
        ("?edit=²", "get", _review, lambda o: {"edit": "²"}, 400),
        ("version=² (sentence)", "post", _sentence, lambda o: {"action": "approve", "version": "²"}, 400),
        ("version=² (decide)", "post", _decide, lambda o: {"action": "approve", "version": "²"}, 400),
        ("/queue/?catalog=<23 digits>", "get", _static("queue"), lambda o: {"catalog": BIG}, 400),
        ("/calibration/?target=nan", "get", _static("calibration"), lambda o: {"target": "nan"}, 400),
        ("2 MB sentence edit", "post", _sentence, lambda o: {"action": "edit", "version": 1, "text": TWO_MB}, 400),
        ("2 MB reject reason", "post", _decide, lambda o: {"action": "reject", "version": 1, "reason": TWO_MB}, 400),
        ("/review/<23 digits>/", "get", _path(f"/review/{BIG}/"), lambda o: {}, 404),
        ("/calibration/?catalog=2**63-1", "get", _static("calibration"), lambda o: {"catalog": INT64_MAX}, 404),
    ],
)
def test_issue_15_cases(objects, label, method, url, data, status):
    client = objects["client"]
    before = _state()
    response = getattr(client, method)(url(objects), data(objects))
    assert response.status_code == status, label
    assert _state() == before


def test_a_refusal_is_plain_text_so_a_quoted_value_cannot_run(objects):
    response = objects["client"].get(reverse("queue"), {"band": "<script>alert(1)</script>"})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")


def test_largest_ids_are_looked_up_not_overflowed(objects):
    """2**63-1 is a valid id: the lookup runs (and finds nothing) on SQLite and Postgres."""
    client = objects["client"]
    assert client.get(reverse("queue"), {"catalog": INT64_MAX}).status_code == 200
    assert client.get(f"/review/{INT64_MAX}/").status_code == 404
    assert client.get(f"/catalogs/{INT64_MAX}/").status_code == 404


def test_valid_values_still_work(objects):
    client, description = objects["client"], objects["description"]
    assert (
        client.get(reverse("queue"), {"catalog": objects["catalog"].pk, "band": "flag", "mine": "on"}).status_code
        == 200
    )
    assert client.get(_review(objects), {"edit": 1, "version": 1, "tab": "history"}).status_code == 200
    description.refresh_from_db()
    response = client.post(
        _sentence(objects), {"action": "edit", "version": description.version, "text": "It holds 750 ml."}
    )
    assert response.status_code == 302
    assert description.sentences.get(index=1).edited_text.strip() == "It holds 750 ml."
    assert client.get(reverse("calibration"), {"target": "90"}).status_code == 200

"""OpenAI Batch API round trip: export requests, import results (including error lines)."""

import json

import pytest
from django.core.management import call_command

from generation.batch import batch_requests_build, batch_results_import, product_id_from_custom_id
from reviewq.core.models import Description, DescriptionStatus, Token
from tests.factories import CatalogFactory, ProductFactory
from tests.fakes.fake_openai import FakeOpenAI

pytestmark = pytest.mark.django_db
S = DescriptionStatus


@pytest.fixture
def catalog_with_products():
    catalog = CatalogFactory(name="Batch shop")
    products = ProductFactory.create_batch(4, catalog=catalog)
    return catalog, products


def _result_line(request, body=None, *, error=None, status=200):
    response = None if error else {"status_code": status, "request_id": "req_1", "body": body}
    return json.dumps({"id": "batch_req_1", "custom_id": request["custom_id"], "response": response, "error": error})


def test_export_writes_one_chat_request_per_product_with_logprobs(catalog_with_products, tmp_path, settings):
    settings.LLM_TOP_LOGPROBS = 7
    _catalog, products = catalog_with_products
    out = tmp_path / "requests.jsonl"
    call_command("export_batch_requests", catalog="Batch shop", output=str(out))
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [product_id_from_custom_id(line["custom_id"]) for line in lines] == [p.pk for p in products]
    first = lines[0]
    assert first["method"] == "POST" and first["url"] == "/v1/chat/completions"
    assert first["body"]["logprobs"] is True and first["body"]["top_logprobs"] == 7
    assert products[0].name in json.dumps(first["body"]["messages"])
    assert not Description.objects.exists()  # exporting changes nothing


def test_import_stores_results_and_fails_error_lines_without_losing_the_rest(catalog_with_products):
    catalog, products = catalog_with_products
    requests = list(batch_requests_build(catalog=catalog))
    fake = FakeOpenAI()  # used only to make realistic bodies, no server started
    lines = [
        _result_line(requests[0], fake.chat_completion(requests[0]["body"])),
        _result_line(requests[1], error={"code": "rate_limit_exceeded", "message": "Too many requests"}),
        _result_line(requests[2], {"error": {"message": "Internal error"}}, status=500),
        "{not json",
        json.dumps({"custom_id": "something-else", "response": None}),
        _result_line(requests[3], fake.chat_completion(requests[3]["body"], fault="no_logprobs")),
    ]
    result = batch_results_import(lines=[line.encode() for line in lines])
    assert (result.stored, result.failed) == (2, 2)
    assert [line for line, _ in result.errors] == [4, 5]
    stored = Description.objects.get(product=products[0])
    assert stored.status in (S.REVIEW, S.PUBLISHED) and stored.provider == "openai-batch"
    tokens = Token.objects.filter(description=stored).order_by("position")
    assert "".join(t.text for t in tokens) == stored.text
    failed = Description.objects.get(product=products[1])
    assert failed.status == S.FAILED and "rate_limit_exceeded" in failed.error
    assert "HTTP 500" in Description.objects.get(product=products[2]).error
    assert Description.objects.get(product=products[3]).has_logprobs is False


def test_import_of_several_candidates_stores_the_agreement_signals(catalog_with_products, settings):
    settings.LLM_CANDIDATES = 3
    catalog, products = catalog_with_products
    request = next(batch_requests_build(catalog=catalog))
    assert request["body"]["n"] == 3
    body = FakeOpenAI().chat_completion(request["body"])
    assert len(body["choices"]) == 3
    assert batch_results_import(lines=[_result_line(request, body)]).stored == 1
    stored = Description.objects.get(product=products[0])
    assert {s.signals["n_samples"] for s in stored.sentences.all()} == {2}


def test_import_command_prints_a_summary_and_line_errors(catalog_with_products, tmp_path, capsys):
    catalog, _products = catalog_with_products
    request = next(batch_requests_build(catalog=catalog))
    path = tmp_path / "out.jsonl"
    path.write_text(_result_line(request, FakeOpenAI().chat_completion(request["body"])) + "\n[1, 2]\n")
    call_command("import_batch_results", str(path))
    captured = capsys.readouterr()
    assert "1 stored, 0 failed, 0 skipped, 1 lines with problems." in captured.out
    assert "line 2: not a Batch API result line" in captured.err


@pytest.mark.parametrize("custom_id", ["", "product-", "product-x:1", "order-5", "5"])
def test_foreign_custom_ids_are_refused(custom_id):
    with pytest.raises(ValueError):
        product_id_from_custom_id(custom_id)


def test_import_stores_in_chunks_and_a_repeated_product_keeps_its_last_line(catalog_with_products, monkeypatch):
    import generation.batch

    monkeypatch.setattr(generation.batch, "STORE_CHUNK", 2)
    catalog, products = catalog_with_products
    requests = list(batch_requests_build(catalog=catalog))
    fake = FakeOpenAI(seed=5)
    bodies = [fake.chat_completion(request["body"]) for request in requests]
    # The first line's copy is cut off, so it is never auto-published whatever the fake wrote
    # for the products' factory names: the repeat re-queues the same draft instead of opening a
    # new one beside a live copy.
    bodies[0] = fake.chat_completion(requests[0]["body"], fault="length")
    again = fake.chat_completion(requests[0]["body"], fault="no_logprobs")  # tells the two lines apart
    lines = [_result_line(r, b) for r, b in zip(requests, bodies, strict=True)] + [_result_line(requests[0], again)]
    result = batch_results_import(lines=lines)
    assert (result.stored, result.failed, result.skipped, result.errors) == (5, 0, 0, [])
    for product, body in zip(products[1:], bodies[1:], strict=True):
        assert Description.objects.get(product=product).text == body["choices"][0]["message"]["content"]
    first = Description.objects.get(product=products[0])
    assert first.text == again["choices"][0]["message"]["content"] and first.has_logprobs is False
    assert first.version > 3  # stored, re-queued, claimed and stored again


def test_import_looks_products_up_once_per_chunk_and_reports_lines_in_order(catalog_with_products):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    catalog, _ = catalog_with_products
    requests = list(batch_requests_build(catalog=catalog))
    fake = FakeOpenAI(seed=2)
    lines = [_result_line(r, fake.chat_completion(r["body"])) for r in requests]
    lines.insert(1, json.dumps({"custom_id": "product-999999:GONE", "response": None}))
    lines.insert(3, "{not json")
    with CaptureQueriesContext(connection) as queries:
        result = batch_results_import(lines=lines)
    assert (result.stored, [number for number, _ in result.errors]) == (4, [2, 4])
    assert "no product with id 999999" in result.errors[0][1]
    product_reads = [q for q in queries.captured_queries if 'FROM "reviewq_product"' in q["sql"]]
    assert len(product_reads) == 1, [q["sql"] for q in product_reads]

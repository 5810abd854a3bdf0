"""0008_revisions on a populated database: every description, its sentences, tokens and audit
rows survive; a published one becomes the product's live revision, any other its draft."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("reviewq", "0007_gate_model")]
AFTER = [("reviewq", "0008_revisions")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_single_version_rows_become_revisions_and_nothing_is_lost():
    old = _migrate(BEFORE)
    Catalog, Product = old.get_model("reviewq", "Catalog"), old.get_model("reviewq", "Product")
    Description, Sentence = old.get_model("reviewq", "Description"), old.get_model("reviewq", "Sentence")
    Token, AuditEvent = old.get_model("reviewq", "Token"), old.get_model("reviewq", "AuditEvent")
    catalog = Catalog.objects.create(name="Old")
    now = timezone.now()
    ids = {}
    for n, status in enumerate(["published", "review", "failed", "queued"]):
        product = Product.objects.create(catalog=catalog, sku=f"S{n}", name=f"P{n}")
        description = Description.objects.create(
            product=product,
            status=status,
            text=f"Text {n}.",
            published_at=now if status == "published" else None,
            error="boom" if status == "failed" else "",
        )
        sentence = Sentence.objects.create(
            description=description, index=0, char_start=0, char_end=7, text=f"Text {n}."
        )
        Token.objects.create(
            description=description, sentence=sentence, position=0, char_start=0, text="Text", bytes=b"Text"
        )
        AuditEvent.objects.create(action="generated", description=description, after={"status": status})
        ids[status] = description.pk
    Product.objects.create(catalog=catalog, sku="S9", name="never generated")
    # Before revisions, a cancelled run marked its queued items failed with error_code "cancelled".
    dropped = Description.objects.create(
        product=Product.objects.create(catalog=catalog, sku="S8", name="dropped"),
        status="failed",
        error_code="cancelled",
        error="Cancelled by admin with run 1.",
    )

    new = _migrate(AFTER)
    Description = new.get_model("reviewq", "Description")
    assert dict(Description.objects.exclude(pk=dropped.pk).values_list("pk", "status")) == {
        pk: status for status, pk in ids.items()
    }
    assert Description.objects.get(pk=ids["published"]).product.descriptions.count() == 1
    for status, pk in ids.items():
        description = Description.objects.get(pk=pk)
        assert description.text.startswith("Text") and description.queued_from == "" and description.source is None
        assert new.get_model("reviewq", "Sentence").objects.filter(description_id=pk).count() == 1
        assert new.get_model("reviewq", "Token").objects.filter(description_id=pk).count() == 1
        event = new.get_model("reviewq", "AuditEvent").objects.get(description_id=pk)
        assert event.after == {"status": status}
    assert new.get_model("reviewq", "Product").objects.count() == 6
    assert Description.objects.get(pk=dropped.pk).status == "cancelled"
    event = new.get_model("reviewq", "AuditEvent").objects.get(description_id=dropped.pk)
    assert (event.action, event.before["status"], event.after) == (
        "generation_cancelled",
        "failed",
        {"status": "cancelled"},
    )
    # Back again works too (while each product still has one revision).
    old = _migrate(BEFORE)
    assert old.get_model("reviewq", "Description").objects.get(pk=dropped.pk).status == "failed"
    _migrate([("reviewq", executor_leaf())])


def executor_leaf() -> str:
    executor = MigrationExecutor(connection)
    return max(name for app, name in executor.loader.graph.leaf_nodes() if app == "reviewq")

"""reviewq.core.bulk: COPY/bulk inserts and the one-statement conditional UPDATE, on whichever
database the suite runs (SQLite by default, PostgreSQL in CI)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from reviewq.core.bulk import is_postgres, rows_insert, rows_update
from reviewq.core.models import Description, Sentence, Token
from tests.factories import DescriptionFactory

pytestmark = pytest.mark.django_db


def test_rows_insert_returns_ids_in_row_order_and_fills_defaults():
    description = DescriptionFactory()
    ids = rows_insert(
        Sentence,
        ("description_id", "index", "char_start", "char_end", "text", "band", "signals", "reasons"),
        [
            (description.pk, i, i * 10, i * 10 + 9, f"Sentence {i}.", "review", {"n": i}, [f"reason {i}"])
            for i in range(3)
        ],
        return_ids=True,
    )
    rows = {s.pk: s for s in Sentence.objects.filter(description=description)}
    assert [rows[pk].index for pk in ids] == [0, 1, 2]
    first = rows[ids[0]]
    assert (first.signals, first.reasons, first.text) == ({"n": 0}, ["reason 0"], "Sentence 0.")
    assert (first.edited_text, first.decision, first.risk, first.hard_flag) == ("", "", 0.0, False)


def test_rows_insert_keeps_bytes_json_and_null_logprobs_exact():
    description = DescriptionFactory()
    [sentence_id] = rows_insert(
        Sentence,
        ("description_id", "index", "char_start", "char_end", "text"),
        [(description.pk, 0, 0, 4, "é 😀")],
        return_ids=True,
    )
    assert (
        rows_insert(
            Token,
            ("description_id", "sentence_id", "position", "char_start", "text", "bytes", "logprob", "alternatives"),
            [
                (description.pk, sentence_id, 0, 0, "é", "é".encode(), -0.25, [["é", -0.25], ['e\t"x\\', -3.5]]),
                (description.pk, sentence_id, 1, 1, "", b"\xf0\x9f", None, []),
            ],
        )
        == []
    )
    first, second = Token.objects.filter(description=description).order_by("position")
    assert (first.text, bytes(first.bytes), first.logprob) == ("é", "é".encode(), -0.25)
    assert first.alternatives == [["é", -0.25], ['e\t"x\\', -3.5]]
    assert (bytes(second.bytes), second.logprob, second.alternatives) == (b"\xf0\x9f", None, [])


def test_rows_insert_refuses_unknown_columns_and_accepts_nothing():
    with pytest.raises(ValueError, match="no column"):
        rows_insert(Sentence, ("description_id", "colour"), [(1, "blue")])
    assert rows_insert(Sentence, ("description_id",), [], return_ids=True) == []


def test_rows_update_writes_only_rows_whose_match_columns_still_hold():
    now = timezone.now()
    fresh, stale, other = DescriptionFactory(status="review"), DescriptionFactory(status="review"), DescriptionFactory()
    Description.objects.filter(pk=stale.pk).update(version=5)  # changed by someone else
    updated = rows_update(
        Description,
        match=("status", "version"),
        assign=("status", "version", "risk", "published_at", "error"),
        rows=[
            (fresh.pk, "review", 1, "published", 2, 0.25, now, ""),
            (stale.pk, "review", 1, "published", 2, 0.5, now, ""),
        ],
    )
    assert updated == [fresh.pk]
    fresh.refresh_from_db()
    assert (fresh.status, fresh.version, fresh.risk, fresh.published_at) == ("published", 2, 0.25, now)
    stale.refresh_from_db()
    assert (stale.status, stale.version, stale.risk) == ("review", 5, None)
    other.refresh_from_db()
    assert other.version == 1


def test_rows_update_sets_nulls_and_takes_field_names_or_columns():
    description = DescriptionFactory(status="generating", lease_until=timezone.now() + timedelta(minutes=5))
    assert rows_update(
        Description,
        match=("status",),
        assign=("lease_until", "run_id"),
        rows=[(description.pk, "generating", None, None)],
    ) == [description.pk]
    description.refresh_from_db()
    assert description.lease_until is None
    assert rows_update(Description, match=("status",), assign=("risk",), rows=[]) == []


def test_rows_insert_fills_auto_timestamps_like_bulk_create():
    from reviewq.core.models import AuditEvent

    before = timezone.now()
    rows_insert(AuditEvent, ("action", "note"), [("test", "no created_at given")])
    assert AuditEvent.objects.get(action="test").created_at >= before


def test_rows_update_matches_null_like_a_filter_and_splits_large_batches(monkeypatch):
    import reviewq.core.bulk

    monkeypatch.setattr(reviewq.core.bulk, "ROWS_PER_UPDATE", 2)
    descriptions = [DescriptionFactory(status="review") for _ in range(5)]
    leased = descriptions[0]
    Description.objects.filter(pk=leased.pk).update(lease_until=timezone.now())
    updated = rows_update(
        Description,
        match=("lease_until",),
        assign=("risk",),
        rows=[(d.pk, None, 0.5) for d in descriptions],
    )
    assert sorted(updated) == sorted(d.pk for d in descriptions[1:])
    assert Description.objects.get(pk=leased.pk).risk is None


def test_rows_insert_raises_database_errors_as_djangos():
    # A worker retries on django.db's OperationalError; the COPY must not raise psycopg's own.
    from django.db import IntegrityError, transaction

    description = DescriptionFactory()
    with pytest.raises(IntegrityError), transaction.atomic():  # text is NOT NULL
        rows_insert(
            Sentence, ("description_id", "index", "char_start", "char_end", "text"), [(description.pk, 0, 0, 1, None)]
        )


@pytest.mark.parametrize("rows_per_update", [1000, 2])
def test_rows_update_inserts_the_following_rows_of_the_updated_rows_only_in_order(monkeypatch, rows_per_update):
    import reviewq.core.bulk
    from reviewq.core.audit import AUDIT_COLUMNS
    from reviewq.core.bulk import InsertForUpdated
    from reviewq.core.models import AuditEvent

    monkeypatch.setattr(reviewq.core.bulk, "ROWS_PER_UPDATE", rows_per_update)  # split: with their rows
    descriptions = [DescriptionFactory(status="review") for _ in range(5)]
    leased = descriptions[2]
    Description.objects.filter(pk=leased.pk).update(lease_until=timezone.now())
    now = timezone.now()
    # The audit rows in an order of their own (last description first): ids follow it (per
    # statement: split, each goes with its chunk of updated rows).
    audit = [
        ("regated", None, d.pk, None, {"n": i}, {"json": [1, "x"]}, f"note {i}", now)
        for i, d in reversed(list(enumerate(descriptions)))
    ]
    updated = rows_update(
        Description,
        match=("lease_until",),
        assign=("risk",),
        rows=[(d.pk, None, 0.5) for d in descriptions],
        then_insert=[InsertForUpdated(AuditEvent, AUDIT_COLUMNS, audit, key="description_id")],
    )
    assert sorted(updated) == sorted(d.pk for d in descriptions if d != leased)
    events = list(AuditEvent.objects.order_by("pk").values_list("description_id", "before", "after", "note"))
    expected = [(row[2], row[4], row[5], row[6]) for row in audit if row[2] != leased.pk]
    if rows_per_update == 2:
        events, expected = sorted(events, key=str), sorted(expected, key=str)
    assert events == expected


@pytest.mark.skipif(not is_postgres(), reason="PostgreSQL's plan")
def test_rows_update_finds_its_rows_by_primary_key_index():
    # IS NOT DISTINCT FROM on the primary key cannot use its index: every stored result
    # scanned the whole description table.
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    descriptions = [DescriptionFactory(status="review") for _ in range(3)]
    with CaptureQueriesContext(connection) as queries:
        rows_update(
            Description,
            match=("status", "version"),
            assign=("risk",),
            rows=[(d.pk, "review", 1, 0.5) for d in descriptions],
        )
    [statement] = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + statement)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Seq Scan on reviewq_description" not in plan, plan
    assert "Index Scan using" in plan and "on reviewq_description t" in plan, plan


def test_ids_reserve_gives_ids_nobody_else_gets_and_keeps_ids_ahead(django_assert_max_num_queries):
    from reviewq.core.bulk import ids_reserve

    description = DescriptionFactory()
    first = ids_reserve(Sentence, 3)
    with django_assert_max_num_queries(0 if is_postgres() else 3):  # PostgreSQL: from the ids drawn ahead
        second = ids_reserve(Sentence, 2)
    assert len(set(first + second)) == 5
    made = Sentence.objects.create(description=description, index=9, char_start=0, char_end=1, text="x")
    assert made.pk not in first + second
    columns = ("id", "description_id", "index", "char_start", "char_end", "text")
    rows_insert(Sentence, columns, [(pk, description.pk, i, 0, 1, "y") for i, pk in enumerate(first + second)])
    assert set(Sentence.objects.filter(text="y").values_list("pk", flat=True)) == set(first + second)

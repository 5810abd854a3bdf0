"""Queue search (SKU or product name), sorts (risk, age, catalog) with keyset pages, Next and
j/k neighbours in the chosen order, and saved filters (service and views)."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from reviewq.core.models import Description, SavedFilter
from reviewq.core.roles import REVIEWER, roles_ensure
from reviewq.review.claims import description_review_next
from reviewq.review.queue import QueueFilters, queue_counts, queue_neighbours, queue_next_candidates, queue_page
from reviewq.review.saved_filters import (
    SAVED_FILTERS_MAX,
    SavedFilterRefused,
    saved_filter_delete,
    saved_filter_list,
    saved_filter_save,
)
from tests.factories import CatalogFactory, ProductFactory, UserFactory
from tests.reviewq.review_data import make_review_description

pytestmark = pytest.mark.django_db
ONE = [("review", [("x", -1.0)])]


@pytest.fixture
def reviewer():
    roles_ensure()
    user = UserFactory(username="rae")
    user.groups.add(Group.objects.get(name=REVIEWER))
    return user


@pytest.fixture
def queue():
    """Seven items in two catalogs, with ties on risk, an unknown risk and known ages."""
    kitchen, outdoor = CatalogFactory(name="Kitchen"), CatalogFactory(name="Outdoor")
    spec = [
        (kitchen, "KIT-1", "Steel kettle", 0.5, 5),
        (outdoor, "OUT-1", "Trail bottle", 0.5, 1),
        (kitchen, "KIT-2", "Cast iron skillet", 0.9, 3),
        (outdoor, "OUT-2", "Rain jacket", None, 6),
        (kitchen, "KIT-3", "Chef knife", 0.1, 2),
        (outdoor, "OUT-3", "Tent kettle", 0.5, 4),
        (kitchen, "KIT-4", "Bread tin", None, 0),
    ]
    made = {}
    now = timezone.now()
    for catalog, sku, name, risk, days_old in spec:
        description = make_review_description(
            product=ProductFactory(catalog=catalog, sku=sku, name=name), risk=risk, sentences=ONE
        )
        Description.objects.filter(pk=description.pk).update(created_at=now - timedelta(days=days_old))
        made[sku] = description.pk
    return made


def _sku_of(made):
    return {pk: sku for sku, pk in made.items()}


def _walk(user, filters, limit=2) -> list[int]:
    """Every page from the first, following the keyset cursor."""
    seen, after = [], None
    for _ in range(20):
        page = queue_page(user=user, filters=filters, after=after, limit=limit)
        seen += [item.id for item in page.items]
        if page.next_cursor is None:
            return seen
        after = page.next_cursor
    raise AssertionError("the pages never ended")


EXPECTED = {
    # Unknown risk first (riskiest of all), then risk descending; ties by id, newest first.
    "risk": ["KIT-4", "OUT-2", "KIT-2", "OUT-3", "OUT-1", "KIT-1", "KIT-3"],
    "age": ["OUT-2", "KIT-1", "OUT-3", "KIT-2", "KIT-3", "OUT-1", "KIT-4"],
    "catalog": ["KIT-4", "KIT-2", "KIT-1", "KIT-3", "OUT-2", "OUT-3", "OUT-1"],
}


@pytest.mark.parametrize("sort", sorted(EXPECTED))
@pytest.mark.parametrize("limit", [1, 2, 3, 50])
def test_each_sort_pages_every_item_once_in_its_order(reviewer, queue, sort, limit):
    sku = _sku_of(queue)
    assert [sku[pk] for pk in _walk(reviewer, QueueFilters(sort=sort), limit=limit)] == EXPECTED[sort]


@pytest.mark.parametrize("sort", sorted(EXPECTED))
def test_neighbours_follow_the_sort(reviewer, queue, sort):
    order = [queue[sku] for sku in EXPECTED[sort]]
    filters = QueueFilters(sort=sort)
    for position, pk in enumerate(order):
        description = Description.objects.get(pk=pk)
        previous, following = queue_neighbours(user=reviewer, filters=filters, description=description)
        assert previous == (order[position - 1] if position else None)
        assert following == (order[position + 1] if position + 1 < len(order) else None)


def test_the_riskier_neighbour_is_a_range_scan_without_an_or_on_null(reviewer, queue):
    """Going up the risk order (ascending, nulls last) reads the rows with a risk first: an OR
    with "risk IS NULL" there kept Postgres from the (status, risk) index range and cost ~30 ms
    per review page at 100k descriptions (bench/review_pages.py)."""
    description = Description.objects.get(pk=queue[EXPECTED["risk"][-1]])
    with CaptureQueriesContext(connection) as ctx:
        queue_neighbours(user=reviewer, filters=QueueFilters(), description=description)
    ranged = [q["sql"] for q in ctx.captured_queries if '"risk" IS NOT NULL' in q["sql"]]
    assert ranged, [q["sql"] for q in ctx.captured_queries]
    for sql in ranged:
        assert '"risk" IS NULL' not in sql, sql
        assert '"risk" >= ' in sql, sql


def test_the_catalog_sort_reads_a_catalog_at_a_time_in_risk_order(reviewer, queue):
    """Sorting the whole queue by the joined catalog name cost 60 ms a page at 100k descriptions;
    each catalog's rows are an index range in risk order instead."""
    with CaptureQueriesContext(connection) as ctx:
        queue_page(user=reviewer, filters=QueueFilters(sort="catalog"), limit=2)
    reads = [q["sql"] for q in ctx.captured_queries if 'FROM "reviewq_description"' in q["sql"]]
    assert reads
    for sql in reads:
        assert '"reviewq_product"."catalog_id" = ' in sql, sql  # one catalog per read


@pytest.mark.parametrize("sort", sorted(EXPECTED))
def test_next_takes_the_first_free_item_of_the_sort_and_filter(reviewer, queue, sort):
    candidates = queue_next_candidates(user=reviewer, filters=QueueFilters(sort=sort))
    assert candidates == [queue[sku] for sku in EXPECTED[sort]]
    got = description_review_next(
        reviewer=reviewer,
        candidates=queue_next_candidates(user=reviewer, filters=QueueFilters(sort=sort, search="out")),
    )
    assert got.pk == queue[next(sku for sku in EXPECTED[sort] if sku.startswith("OUT"))]


def test_search_matches_sku_or_name_ignoring_case(reviewer, queue):
    sku = _sku_of(queue)

    def found(text):
        return sorted(sku[pk] for pk in _walk(reviewer, QueueFilters(search=text)))

    assert found("kettle") == ["KIT-1", "OUT-3"]
    assert found("kit-2") == ["KIT-2"]
    assert found("OUT") == ["OUT-1", "OUT-2", "OUT-3"]
    assert found("100% cotton_") == []  # LIKE wildcards are matched literally
    assert found("Kettle") == found("kettle")


def test_band_counts_are_cached_per_search(reviewer, queue):
    cache.clear()
    everything = queue_counts(user=reviewer, filters=QueueFilters())
    kettles = queue_counts(user=reviewer, filters=QueueFilters(search="kettle", sort="age"))
    assert (everything.total, kettles.total) == (7, 2)
    assert queue_counts(user=reviewer, filters=QueueFilters(search="kettle"), cached_only=True).total == 2


def test_a_sorted_page_is_one_query_and_the_age_sort_uses_its_index(reviewer, queue):
    with CaptureQueriesContext(connection) as captured:
        queue_page(user=reviewer, filters=QueueFilters(sort="age"))
    assert len(captured) == 1
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # A few rows: with whole-table scans and sorts ruled out, the plan shows the index that
            # gives the order (else the planner's choice followed stale statistics: order-dependent).
            cursor.execute("SET enable_seqscan = off")
            cursor.execute("SET enable_sort = off")
            sql, params = (
                Description.objects.filter(status="review")
                .order_by("created_at", "id")
                .values("id")[:51]
                .query.sql_with_params()
            )
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            cursor.execute("RESET enable_seqscan")
            cursor.execute("RESET enable_sort")
        assert "description_status_created" in plan


@pytest.mark.skipif(connection.vendor != "postgresql", reason="trigram indexes are PostgreSQL's")
def test_search_reads_the_trigram_indexes(reviewer, queue):
    from reviewq.core.models import Product

    matching = Product.objects.filter(Q(sku__icontains="kettle") | Q(name__icontains="kettle")).values("pk")
    with connection.cursor() as cursor:
        # A few rows: only with scans of the whole table ruled out does the plan show the index.
        cursor.execute("SET enable_seqscan = off; SET enable_indexscan = off")
        sql, params = matching.query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET enable_seqscan = on; SET enable_indexscan = on")
    assert "product_search_trgm_sku" in plan and "product_search_trgm_name" in plan


# --- saved filters: service ----------------------------------------------------------------


def test_save_replaces_by_name_and_lists_only_the_users_own(reviewer):
    other = UserFactory(username="otto")
    saved = saved_filter_save(user=reviewer, name=" Kitchen ", filters=QueueFilters(catalog_id=3, sort="age"))
    assert (saved.name, saved.query) == ("Kitchen", "catalog=3&sort=age")
    again = saved_filter_save(user=reviewer, name="Kitchen", filters=QueueFilters(search="kettle"))
    assert again.pk == saved.pk and SavedFilter.objects.get(pk=saved.pk).query == "q=kettle"
    saved_filter_save(user=other, name="Kitchen", filters=QueueFilters())
    assert [f.name for f in saved_filter_list(user=reviewer)] == ["Kitchen"]
    assert saved_filter_delete(user=other, saved_filter_id=saved.pk) is False
    assert SavedFilter.objects.filter(pk=saved.pk).exists()
    assert saved_filter_delete(user=reviewer, saved_filter_id=saved.pk) is True
    assert saved_filter_list(user=reviewer) == []


def test_save_refuses_a_blank_name_and_more_than_the_maximum(reviewer):
    with pytest.raises(SavedFilterRefused):
        saved_filter_save(user=reviewer, name="  ", filters=QueueFilters())
    for n in range(SAVED_FILTERS_MAX):
        saved_filter_save(user=reviewer, name=f"f{n}", filters=QueueFilters())
    with pytest.raises(SavedFilterRefused, match="delete one first"):
        saved_filter_save(user=reviewer, name="one more", filters=QueueFilters())
    assert SavedFilter.objects.filter(user=reviewer).count() == SAVED_FILTERS_MAX
    saved_filter_save(user=reviewer, name="f0", filters=QueueFilters(sort="age"))  # replacing is fine


# --- views ---------------------------------------------------------------------------------


@pytest.fixture
def reviewer_client(client, reviewer):
    client.force_login(reviewer)
    return client


def test_queue_page_searches_sorts_and_pages_in_that_order(reviewer_client, queue):
    body = reviewer_client.get(reverse("queue"), {"q": "kettle", "sort": "age"}).content.decode()
    assert body.index("KIT-1") < body.index("OUT-3") and "KIT-2" not in body
    assert '<option value="age" selected>' in body
    # Next, bulk and save forms carry the search and the sort.
    assert body.count('<input type="hidden" name="q" value="kettle">') >= 3
    assert body.count('<input type="hidden" name="sort" value="age">') >= 3
    first = reviewer_client.get(reverse("queue"), {"sort": "catalog"})
    assert first.status_code == 200


def test_queue_next_respects_search_and_sort(reviewer_client, queue):
    response = reviewer_client.post(reverse("queue_next"), {"q": "out", "sort": "age"})
    assert response.status_code == 302
    assert response["Location"] == reverse("review", args=[queue["OUT-2"]]) + "?q=out&sort=age"


@pytest.mark.parametrize(
    "query",
    [
        {"sort": "price"},
        {"sort": "age", "after": "[0.5,3]"},
        {"sort": "catalog", "after": "[1,2,3]"},
        {"after": "[0.5,3"},
        {"q": "x" * 101},
        # Well-formed but no date (parse_datetime raises): was a 500.
        {"sort": "age", "after": '["2026-02-30T00:00:00+00:00",3]'},
        {"sort": "age", "after": '["0000-01-01T00:00:00+00:00",3]'},
        {"sort": "age", "after": '["2026-01-01T25:00:00+00:00",3]'},
        # A catalog name no database stores (NUL on Postgres, a lone surrogate anywhere): was a 500.
        {"sort": "catalog", "after": '["a\\u0000b",0.5,3]'},
        {"sort": "catalog", "after": '["\\ud800",0.5,3]'},
    ],
)
def test_odd_sort_search_or_cursor_is_a_400(reviewer_client, queue, query):
    assert reviewer_client.get(reverse("queue"), query).status_code == 400


def test_save_apply_and_delete_a_filter(reviewer_client, reviewer, queue):
    response = reviewer_client.post(reverse("queue_filter_save"), {"name": "Kettles", "q": "kettle", "sort": "age"})
    assert response.status_code == 302 and response["Location"] == reverse("queue") + "?q=kettle&sort=age"
    saved = SavedFilter.objects.get(user=reviewer)
    assert saved.query == "q=kettle&sort=age"
    page = reviewer_client.get(reverse("queue")).content.decode()
    assert f'href="{reverse("queue")}?q=kettle&amp;sort=age"' in page and ">Kettles</a>" in page
    applied = reviewer_client.get(reverse("queue") + "?" + saved.query).content.decode()
    assert 'aria-current="true">Kettles</a>' in applied
    response = reviewer_client.post(reverse("queue_filter_delete", args=[saved.pk]), {"q": "kettle", "sort": "age"})
    assert response.status_code == 302 and response["Location"] == reverse("queue") + "?q=kettle&sort=age"
    assert not SavedFilter.objects.exists()


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"name": ""},
        {"name": "n" * 81},
        {"name": "ok", "sort": "price"},
        {"name": "ok", "band": "purple"},
        {"name": "ok", "catalog": "1" * 30},
        {"name": "ok", "q": "x" * 101},
    ],
)
def test_saving_odd_input_is_a_400_and_saves_nothing(reviewer_client, data):
    assert reviewer_client.post(reverse("queue_filter_save"), data).status_code == 400
    assert not SavedFilter.objects.exists()


def test_one_cannot_delete_someone_elses_filter(reviewer_client):
    theirs = saved_filter_save(user=UserFactory(username="otto"), name="Mine", filters=QueueFilters())
    assert reviewer_client.post(reverse("queue_filter_delete", args=[theirs.pk])).status_code == 404
    assert reviewer_client.post(reverse("queue_filter_delete", args=[theirs.pk]), {"sort": "x"}).status_code == 400
    assert SavedFilter.objects.filter(pk=theirs.pk).exists()


def test_saving_too_many_says_why(reviewer_client, reviewer):
    for n in range(SAVED_FILTERS_MAX):
        saved_filter_save(user=reviewer, name=f"f{n}", filters=QueueFilters())
    page = reviewer_client.post(reverse("queue_filter_save"), {"name": "more"}, follow=True).content.decode()
    assert "delete one first" in page


def test_filters_too_long_to_store_say_why_and_save_nothing(reviewer_client):
    """100 non-ASCII characters in each of the search and the reason are within the form's bounds
    but over SavedFilter.query's 500 once URL-encoded (Postgres raised a DataError: a 500)."""
    data = {"name": "Greek", "q": "λ" * 100, "reason": "é" * 100}
    page = reviewer_client.post(reverse("queue_filter_save"), data, follow=True).content.decode()
    assert "too long to save" in page
    assert not SavedFilter.objects.exists()

from datetime import UTC, datetime

import pytest
from django.http import QueryDict

from reviewq.core.forms import ID_MAX, SMALL_MAX
from reviewq.review.forms import (
    DecisionForm,
    QueueBulkForm,
    QueueNextForm,
    QueuePageForm,
    ReviewPageForm,
    SentenceActionForm,
)
from reviewq.review.queue import QueueCursor, QueueFilters

ODD_IDS = ["²", "-1", "0", "1" * 23, str(ID_MAX + 1), "1.5", "nan", "inf", "1e999", "x" * 5000, " "]


def _data(**values) -> QueryDict:
    data = QueryDict(mutable=True)
    for key, value in values.items():
        data.setlist(key, value if isinstance(value, list) else [value])
    return data


def test_filters_come_from_cleaned_data():
    form = QueuePageForm(_data(catalog="7", band="flag", reason="  number ", mine="on"))
    assert form.is_valid(), form.errors
    assert form.filters() == QueueFilters(catalog_id=7, band="flag", reason="number", mine=True)
    empty = QueuePageForm(_data())
    assert empty.is_valid() and empty.filters() == QueueFilters()
    assert empty.cleaned_data["after"] is None and empty.cleaned_data["counts"] is False


@pytest.mark.parametrize("value", ODD_IDS)
def test_catalog_filter_refuses_odd_ids(value):
    assert not QueuePageForm(_data(catalog=value)).is_valid()


def test_largest_id_is_accepted():
    assert QueuePageForm(_data(catalog=str(ID_MAX))).is_valid()


@pytest.mark.parametrize(
    "values",
    [
        {"band": "purple"},
        {"reason": "x" * 101},
        {"mine": "0"},
        {"mine": "yes"},
        {"fragment": "everything"},
        {"counts": "2"},
        {"after": "nan:5"},
        {"after": "inf:5"},
        {"after": "0.5:" + "9" * 23},
        {"after": "0.5"},
        {"after": "x" * 401},
    ],
)
def test_queue_page_refuses_unknown_choices_and_odd_cursors(values):
    assert not QueuePageForm(_data(**values)).is_valid()


def test_queue_cursor_round_trips():
    cursor = QueueCursor(values=(0.25, 12))
    form = QueuePageForm(_data(after=str(cursor)))
    assert form.is_valid() and form.cleaned_data["after"] == cursor
    unknown = QueuePageForm(_data(after="[null,12]"))
    assert unknown.is_valid() and unknown.cleaned_data["after"] == QueueCursor(values=(None, 12))


def test_queue_cursor_follows_the_sort():
    when = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
    aged = QueueCursor(values=(when, 12))
    form = QueuePageForm(_data(sort="age", after=str(aged)))
    assert form.is_valid() and form.cleaned_data["after"] == aged
    by_catalog = QueueCursor(values=("Kitchen", None, 12))
    form = QueuePageForm(_data(sort="catalog", after=str(by_catalog)))
    assert form.is_valid() and form.cleaned_data["after"] == by_catalog
    # A cursor of another sort names no position in this one.
    assert not QueuePageForm(_data(sort="age", after=str(QueueCursor(values=(0.25, 12))))).is_valid()
    assert not QueuePageForm(_data(sort="catalog", after=str(aged))).is_valid()


@pytest.mark.parametrize(
    "values",
    [
        {"sort": "price"},
        {"sort": "risk", "after": "[1e999,12]"},
        {"sort": "risk", "after": "[0.5,0]"},
        {"sort": "risk", "after": "[0.5,12.5]"},
        {"sort": "risk", "after": "[true,12]"},
        {"sort": "risk", "after": '{"risk":0.5}'},
        {"sort": "age", "after": '["2026-11-01T09:30:00",12]'},  # no time zone
        {"sort": "age", "after": '["yesterday",12]'},
        {"sort": "age", "after": "[null,12]"},
        {"sort": "catalog", "after": '["' + "k" * 201 + '",0.5,12]'},
        {"q": "x" * 101},
    ],
)
def test_queue_sort_search_and_cursor_input_is_bounded(values):
    assert not QueuePageForm(_data(**values)).is_valid()


def test_search_and_sort_become_filters_and_the_querystring():
    form = QueuePageForm(_data(q=" KIT-1 ", sort="age"))
    assert form.is_valid()
    filters = form.filters()
    assert (filters.search, filters.sort) == ("KIT-1", "age")
    assert filters.querystring() == "q=KIT-1&sort=age"
    assert QueuePageForm(_data(sort="risk")).is_valid() and QueueFilters(sort="risk").querystring() == ""


def test_queue_next_current_is_optional_and_bounded():
    assert QueueNextForm(_data()).is_valid()
    assert QueueNextForm(_data(current="3")).is_valid()
    assert not QueueNextForm(_data(current="1" * 23)).is_valid()


def test_bulk_collects_ids_and_versions():
    form = QueueBulkForm(_data(action="approve", selected=["3", "4", "3"], confirm="1", **{"version-3": "2"}))
    assert form.is_valid(), form.errors
    assert form.cleaned_data["selected"] == [3, 4]
    assert form.cleaned_data["versions"] == {3: 2}  # 4 sent no version: bulk approve skips it
    assert form.cleaned_data["confirm"] is True


@pytest.mark.parametrize(
    "values",
    [
        {"action": "explode", "selected": ["1"]},
        {"action": "approve", "selected": ["²"]},
        {"action": "approve", "selected": ["1" * 23]},
        {"action": "approve", "selected": [str(n) for n in range(1, 202)]},
        {"action": "approve", "selected": ["1"], "confirm": "1", "version-1": "²"},
        {"action": "approve", "selected": ["1"], "confirm": "1", "version-1": str(SMALL_MAX + 1)},
        {"action": "approve", "selected": ["1"], "confirm": "yes"},
    ],
)
def test_bulk_refuses_odd_input(values):
    assert not QueueBulkForm(_data(**values)).is_valid()


def test_bulk_without_selection_is_valid_so_the_view_can_say_so():
    form = QueueBulkForm(_data(action="approve"))
    assert form.is_valid() and form.cleaned_data["selected"] == []


@pytest.mark.parametrize(
    "values",
    [{"edit": "²"}, {"version": "²"}, {"version": "0"}, {"index": "-1"}, {"tab": "secrets"}, {"fragment": "sentence"}],
)
def test_review_page_refuses_odd_input(values):
    assert not ReviewPageForm(_data(**values)).is_valid()


def test_review_page_reads_edit_version_and_index():
    form = ReviewPageForm(_data(fragment="sentence", index="0", edit="0", version="3", tab="history"))
    assert form.is_valid(), form.errors
    assert (form.cleaned_data["index"], form.cleaned_data["edit"], form.cleaned_data["version"]) == (0, 0, 3)


def test_sentence_edit_text_is_bounded_server_side():
    ok = SentenceActionForm(_data(action="edit", version="1", text=" kept spacing " + "x" * 1980))
    assert ok.is_valid() and ok.cleaned_data["text"].startswith(" kept spacing ")
    assert not SentenceActionForm(_data(action="edit", version="1", text="x" * 2001)).is_valid()
    assert not SentenceActionForm(_data(action="edit", version="1", text="x" * 2 * 1024 * 1024)).is_valid()


@pytest.mark.parametrize(
    "values",
    [
        {"action": "explode", "version": "1"},
        {"action": "approve"},
        {"action": "approve", "version": "²"},
        {"action": "substitute", "version": "1", "alternative": "x"},
        {"action": "substitute", "version": "1", "position": "1" * 23},
        {"action": "substitute", "version": "1", "position": "1", "alternative": "x" * 256},
    ],
)
def test_sentence_action_refuses_odd_input(values):
    assert not SentenceActionForm(_data(**values)).is_valid()


def test_reject_reason_is_bounded_and_claim_actions_need_no_version():
    assert DecisionForm(_data(action="reject", version="1", rejection_reason="x" * 1000)).is_valid()
    assert not DecisionForm(_data(action="reject", version="1", rejection_reason="x" * 1001)).is_valid()
    # "reason" is the queue filter the form carries along, never the rejection's reason.
    form = DecisionForm(_data(action="reject", version="1", reason="size", rejection_reason="wrong"))
    assert form.is_valid() and form.filters().reason == "size" and form.cleaned_data["rejection_reason"] == "wrong"
    for action in ("release", "claim", "take_over"):
        assert DecisionForm(_data(action=action)).is_valid()
    assert not DecisionForm(_data(action="approve")).is_valid()
    assert not DecisionForm(_data(action="publish-everything", version="1")).is_valid()
    approve = DecisionForm(_data(action="approve", version="1", approve_remaining="1"))
    assert approve.is_valid() and approve.cleaned_data["approve_remaining"] is True

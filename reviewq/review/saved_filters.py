"""A reviewer's saved queue filters: save (or replace) one under a name, list, delete.

What is stored is QueueFilters.querystring() of filters the queue's form cleaned, so applying
one is a plain GET of the queue that the same form checks again."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from reviewq.core.models import SavedFilter
from reviewq.review.queue import QueueFilters

SAVED_FILTERS_MAX = 30
QUERY_MAX_CHARS = SavedFilter._meta.get_field("query").max_length


class SavedFilterRefused(Exception):
    """Why a filter was not saved; the message is for the reviewer."""


@transaction.atomic
def saved_filter_save(*, user: AbstractBaseUser, name: str, filters: QueueFilters) -> SavedFilter:
    """Save the filters under `name`, replacing the user's filter of that name."""
    name = name.strip()
    if not name:
        raise SavedFilterRefused("Give the filter a name.")
    query = filters.querystring()
    # The form bounds each field in characters; URL-encoded, non-ASCII text takes up to 9 times more.
    if len(query) > QUERY_MAX_CHARS:
        raise SavedFilterRefused("These filters are too long to save; shorten the search or the reason.")
    mine = SavedFilter.objects.filter(user=user)
    if not mine.filter(name=name).exists() and mine.count() >= SAVED_FILTERS_MAX:
        raise SavedFilterRefused(f"You have {SAVED_FILTERS_MAX} saved filters; delete one first.")
    saved, _ = SavedFilter.objects.update_or_create(user=user, name=name, defaults={"query": query})
    return saved


def saved_filter_delete(*, user: AbstractBaseUser, saved_filter_id: int) -> bool:
    """Delete one of the user's saved filters; False when the user has none with that id."""
    deleted, _ = SavedFilter.objects.filter(user=user, pk=saved_filter_id).delete()
    return bool(deleted)


def saved_filter_list(*, user: AbstractBaseUser) -> list[SavedFilter]:
    return list(SavedFilter.objects.filter(user=user).order_by("name"))

"""Sending generation work to the workers, always after the surrounding transaction commits.

Services enqueue by task name (the names below are the ones generation/tasks.py registers), so
no service imports the task module that calls it: the layers stay one-way (tasks -> services).
A worker registers the tasks by autodiscovery; the web process by GenerationConfig.ready().
"""

from collections.abc import Iterable
from functools import partial

from celery import current_app
from django.db import transaction

GENERATE_DESCRIPTION = "generation.generate_description"
REGENERATE_SENTENCE = "generation.regenerate_sentence"
RECOVER_STALE = "generation.recover_stale"
# Every task name the code sends; the task-registration test checks a worker knows each.
TASK_NAMES = (GENERATE_DESCRIPTION, REGENERATE_SENTENCE, RECOVER_STALE)


def _send_on_commit(name: str, args: tuple) -> None:
    transaction.on_commit(partial(current_app.signature(name, args=args).apply_async))


def descriptions_enqueue(*, product_ids: Iterable[int]) -> None:
    """One generate_description task per product, sent once the caller's transaction commits."""
    for product_id in product_ids:
        _send_on_commit(GENERATE_DESCRIPTION, (product_id,))


def sentence_regeneration_enqueue(*, request_id: int) -> None:
    _send_on_commit(REGENERATE_SENTENCE, (request_id,))

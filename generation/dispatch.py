"""Sending generation work to the workers, always after the surrounding transaction commits.

Services enqueue by task name (the names below are the ones generation/tasks.py registers), so
no service imports the task module that calls it: the layers stay one-way (tasks -> services).
A worker registers the tasks by autodiscovery; the web process by GenerationConfig.ready().
"""

from collections.abc import Iterable
from functools import partial
from itertools import batched

from celery import current_app
from django.conf import settings
from django.db import transaction

GENERATE_DESCRIPTION = "generation.generate_description"
GENERATE_DESCRIPTIONS = "generation.generate_descriptions"
REGENERATE_SENTENCE = "generation.regenerate_sentence"
RECOVER_STALE = "generation.recover_stale"
# Every task name the code sends; the task-registration test checks a worker knows each.
TASK_NAMES = (GENERATE_DESCRIPTION, GENERATE_DESCRIPTIONS, REGENERATE_SENTENCE, RECOVER_STALE)


def _send_on_commit(name: str, args: tuple) -> None:
    transaction.on_commit(partial(current_app.signature(name, args=args).apply_async))


def descriptions_enqueue(*, product_ids: Iterable[int]) -> None:
    """Generation tasks for the products, sent once the caller's transaction commits: one
    generate_descriptions task per GENERATION_CHUNK_SIZE products (its provider calls run
    concurrently), a lone product as one generate_description task."""
    for chunk in batched(product_ids, max(1, settings.GENERATION_CHUNK_SIZE)):
        if len(chunk) == 1:
            _send_on_commit(GENERATE_DESCRIPTION, chunk)
        else:
            _send_on_commit(GENERATE_DESCRIPTIONS, (list(chunk),))


def sentence_regeneration_enqueue(*, request_id: int) -> None:
    _send_on_commit(REGENERATE_SENTENCE, (request_id,))

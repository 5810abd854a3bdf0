"""Sending catalog import work to the workers, always after the surrounding transaction commits.

As in generation.dispatch, services send by task name (registered by reviewq/catalogs/tasks.py),
so no service imports the task module that calls it.
"""

from functools import partial

from celery import current_app
from django.db import transaction

STAGE_CATALOG_IMPORT = "catalogs.stage_import"
APPLY_CATALOG_IMPORT = "catalogs.apply_import"
# Every task name this module sends; the task-registration test checks a worker knows each.
TASK_NAMES = (STAGE_CATALOG_IMPORT, APPLY_CATALOG_IMPORT)


def _send_on_commit(name: str, args: tuple) -> None:
    transaction.on_commit(partial(current_app.signature(name, args=args).apply_async))


def catalog_import_stage_enqueue(*, import_id: int) -> None:
    _send_on_commit(STAGE_CATALOG_IMPORT, (import_id,))


def catalog_import_apply_enqueue(*, import_id: int) -> None:
    _send_on_commit(APPLY_CATALOG_IMPORT, (import_id,))

"""The catalog import tasks: thin, each takes an import's primary key and calls one service,
whose claim (a conditional UPDATE on the import's status) makes a redelivery a no-op."""

from celery import shared_task

from reviewq.catalogs.dispatch import APPLY_CATALOG_IMPORT, STAGE_CATALOG_IMPORT


@shared_task(name=STAGE_CATALOG_IMPORT, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def stage_catalog_import_task(import_id: int) -> str:
    """Parse an uploaded file once into staged rows, with progress; stops when cancelled."""
    from reviewq.catalogs.imports.jobs import catalog_import_stage

    return catalog_import_stage(import_id=import_id)


@shared_task(name=APPLY_CATALOG_IMPORT, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def apply_catalog_import_task(import_id: int) -> str:
    """Write an import's staged rows to its catalog; a cancel before the commit keeps nothing."""
    from reviewq.catalogs.imports.jobs import catalog_import_apply

    return catalog_import_apply(import_id=import_id)

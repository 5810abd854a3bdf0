import gc
import os

from celery import Celery
from celery.signals import worker_process_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewq.settings")

app = Celery("reviewq")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
@worker_process_init.connect
def freeze_start_up_objects(**kwargs: object) -> None:
    """Move what a worker holds once started (Django, the apps, the openai SDK, pysbd: about a
    million objects) out of the garbage collector's sight. Each task makes thousands of small
    objects (a completion's tokens and alternatives), so full collections come often, and each
    walked all of start-up again. `worker_ready` runs in the main process (the threads and solo
    pools run tasks there; for prefork it also keeps the parent's pages shared after fork),
    `worker_process_init` in each prefork child. Objects made later are collected as usual."""
    gc.collect()
    gc.freeze()

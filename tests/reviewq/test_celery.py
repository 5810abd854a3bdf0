"""reviewq/celery.py: the worker's start-up hook."""

import gc
import weakref

import pytest
from celery.signals import worker_process_init, worker_ready

from reviewq.celery import freeze_start_up_objects


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()


def _receivers(signal) -> list:
    return [ref() if isinstance(ref, weakref.ReferenceType) else ref for _, ref in signal.receivers]


@pytest.mark.parametrize("signal", [worker_ready, worker_process_init], ids=["worker_ready", "worker_process_init"])
def test_the_hook_runs_when_a_worker_or_a_prefork_child_starts(signal):
    assert freeze_start_up_objects in _receivers(signal)


def test_a_started_worker_keeps_its_start_up_objects_out_of_collections(unfrozen):
    assert gc.get_freeze_count() == 0
    freeze_start_up_objects()
    assert gc.get_freeze_count() > 10_000  # Django, the apps and pytest, all loaded by now


def test_objects_made_after_start_up_are_still_collected(unfrozen):
    freeze_start_up_objects()

    class Node:
        pass

    cycle = Node()
    cycle.self = cycle  # only a collection frees a cycle
    dead = weakref.ref(cycle)
    del cycle
    assert dead() is not None
    gc.collect()
    assert dead() is None

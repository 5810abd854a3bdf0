"""CPU time per pipeline stage, for the benches (bench/ingest.py, bench/generation_throughput.py).

`StageClock.wrap(owner, name, stage)` replaces `owner.name` (a module function or a class
method) with a wrapper that adds the calling thread's CPU time (time.thread_time) to `stage`.
Stages nest: a stage's figure is exclusive, i.e. what its children's stages took is taken out,
so the figures add up (store = the writes, the transition and building rows, without the
align and gate work it calls). Only bench code patches anything; the application is unchanged.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The pipeline's stages: where each one's functions live ("module" or "module:Class"), the
# attribute, the stage. STORAGE_STAGES are what bench/ingest.py times (no task, no HTTP).
STORAGE_STAGES: tuple[tuple[str, str, str], ...] = (
    ("generation.providers.openai_compat", "completion_from_openai", "parse"),
    ("generation.storage", "completions_store", "store"),
    ("generation.storage", "align", "align"),
    ("generation.storage", "gate_input", "gate"),
    ("generation.storage", "gate_description", "gate"),
)
PIPELINE_STAGES: tuple[tuple[str, str, str], ...] = (
    ("generation.services", "description_claim_for_generation", "claim"),
    ("generation.services", "descriptions_claim_for_generation", "claim"),
    ("generation.providers.openai_compat:OpenAICompatProvider", "complete", "provider call (HTTP client)"),
    ("httpx2:Response", "json", "parse"),
    ("generation.providers.openai_compat", "json_loads", "parse"),
    ("generation.providers.openai_compat", "completion_from_openai", "parse"),
    ("generation.services", "completion_store", "store"),
    ("generation.services", "completions_store", "store"),
    ("generation.storage", "align", "align"),
    ("generation.storage", "gate_input", "gate"),
    ("generation.storage", "gate_description", "gate"),
    ("generation.services", "run_finish_if_done", "run bookkeeping"),
)

STAGE_ORDER = ("claim", "provider call (HTTP client)", "parse", "align", "gate", "store", "run bookkeeping")


class StageClock:
    def __init__(self) -> None:
        self.cpu: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()
        self._local = threading.local()

    def wrap(self, owner: Any, name: str, stage: str) -> None:
        setattr(owner, name, self.timed(getattr(owner, name), stage))

    def timed(self, original: Callable[..., Any], stage: str) -> Callable[..., Any]:
        clock = self

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            stack = clock._stack()
            stack.append(0.0)  # CPU of nested stages, taken out of this one
            started = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                spent = time.thread_time() - started
                nested = stack.pop()
                if stack:
                    stack[-1] += spent
                with clock._lock:
                    clock.cpu[stage] = clock.cpu.get(stage, 0.0) + spent - nested
                    clock.calls[stage] = clock.calls.get(stage, 0) + 1

        return timed

    def wrap_stages(self, stages: tuple[tuple[str, str, str], ...] = PIPELINE_STAGES) -> None:
        """Wrap every function of `stages` (after django.setup())."""
        import importlib

        for target, name, stage in stages:
            module_name, _, class_name = target.partition(":")
            owner: Any = importlib.import_module(module_name)
            if class_name:
                owner = getattr(owner, class_name)
            if hasattr(owner, name):  # older code may lack a function (the benches run on any commit)
                self.wrap(owner, name, stage)

    def _stack(self) -> list[float]:
        stack = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def dump(self, path: Path) -> None:
        path.write_text(json.dumps({"cpu": self.cpu, "calls": self.calls}))


def merged(parts: list[dict[str, float]]) -> dict[str, float]:
    total: dict[str, float] = {}
    for part in parts:
        for stage, seconds in part.items():
            total[stage] = total.get(stage, 0.0) + seconds
    return total


def stage_lines(cpu: dict[str, float], *, descriptions: int, total_cpu: float | None = None) -> list[str]:
    """'stage: x.xx ms' per description, in pipeline order, then the remainder of total_cpu."""
    order = [*STAGE_ORDER, *(stage for stage in cpu if stage not in STAGE_ORDER)]
    n = max(descriptions, 1)
    parts = [f"{stage} {1000 * cpu[stage] / n:.2f}" for stage in order if stage in cpu]
    lines = ["CPU ms per description by stage: " + ", ".join(parts)]
    staged = sum(cpu.values())
    if total_cpu is not None:
        lines.append(
            f"  staged {1000 * staged / n:.2f} ms + task overhead (Celery, broker, threads, the rest) "
            f"{1000 * (total_cpu - staged) / n:.2f} ms = {1000 * total_cpu / n:.2f} ms of CPU per description"
        )
    return lines


def worker_main(stats_path: str, celery_args: list[str]) -> None:
    """A Celery worker with the pipeline's stages wrapped; writes their CPU to `stats_path` on
    shutdown. Run as: python bench/stages.py STATS_PATH <celery worker arguments>."""
    import django

    django.setup()
    clock = StageClock()
    clock.wrap_stages(PIPELINE_STAGES)
    from celery.signals import worker_shutdown

    from reviewq.celery import app

    worker_shutdown.connect(lambda **_: clock.dump(Path(stats_path)), weak=False)
    app.worker_main(["worker", *celery_args])


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    worker_main(sys.argv[1], sys.argv[2:])

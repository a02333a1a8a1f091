"""What the chaos DAGs' task bodies report: executions at the same time, and Lambda's hard timeout.

Every chaos task body runs inside ``body()``. It records the task instance as executing for as
long as the body runs; a second execution of the same instance starting meanwhile is an
``overlap`` (at-least-once may run a body again after a crash, never two at once). A short
real pause inside the body leaves room for other threads to interleave. When the harness
decided that this invocation hits the function's timeout, the body is killed half-way
(``InjectedCrash``), as Lambda stops a sandbox mid-body.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any, Callable

from chaos.faults import InjectedCrash

_lock = threading.Lock()
_running: Counter[tuple[str, ...]] = Counter()
overlaps: list[tuple[str, ...]] = []
executions: Counter[tuple[str, ...]] = Counter()  # bodies that ran to their end, per instance
# Set by the harness: called at the body's checkpoint; raises InjectedCrash to kill the body.
checkpoint: Callable[[], None] | None = None
PAUSE_S = 0.002


def reset() -> None:
    with _lock:
        _running.clear()
        overlaps.clear()
        executions.clear()


def _key(ctx: dict[str, Any]) -> tuple[str, ...]:
    ti = ctx["ti"]
    return (str(ti.dag_id), str(ti.run_id), str(ti.task_id), str(getattr(ti, "map_index", -1)))


@contextlib.contextmanager
def body() -> Iterator[None]:
    from orchestrator import get_current_context

    key = _key(get_current_context())
    with _lock:
        if _running[key]:
            overlaps.append(key)
        _running[key] += 1
    finished = False
    try:
        time.sleep(random.uniform(0, PAUSE_S))  # noqa: S311 - room for other threads
        if checkpoint is not None:
            checkpoint()
        yield
        finished = True
    finally:
        with _lock:
            _running[key] -= 1
            if finished:
                executions[key] += 1


__all__ = ["InjectedCrash", "body", "reset", "overlaps", "executions"]

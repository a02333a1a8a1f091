"""Per-thread definition state: the DAG and TaskGroup context stacks, and call-site capture."""

from __future__ import annotations

import functools
import os
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.authoring.dag import DAG
    from orchestrator.authoring.taskgroup import TaskGroup

_AUTHORING_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class _State(threading.local):
    def __init__(self) -> None:
        self.dags: list[DAG] = []
        self.groups: list[TaskGroup] = []
        # > 0 while the runtime re-creates a mapped operator: nothing gets registered.
        self.detached = 0
        # Set by the loader while it imports a file: every DAG created is appended.
        self.collector: list[Any] | None = None


state = _State()


def current_dag() -> DAG | None:
    """The innermost DAG entered with ``with DAG(...)`` (or being built by ``@dag``)."""
    return state.dags[-1] if state.dags else None


def current_group(dag: DAG | None) -> TaskGroup | None:
    """The innermost TaskGroup of ``dag`` that is open, else the DAG's root group."""
    if dag is None:
        return None
    for group in reversed(state.groups):
        if group.dag is dag:
            return group
    return dag.task_group


def caller_site() -> tuple[str, int]:
    """File and line of the first frame outside ``orchestrator/authoring`` (the user's code)."""
    frame: Any = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_AUTHORING_DIR):
        frame = frame.f_back
    if frame is None:
        return ("<unknown>", 0)
    return (frame.f_code.co_filename, frame.f_lineno)


@functools.lru_cache(maxsize=1024)
def short_path(path: str) -> str:
    """``path`` relative to the working directory when inside it (for messages)."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel

"""Calling user callbacks (task and DAG level) and loading the DAG a plan came from.

A callback's error is logged with its traceback and never changes the task or run state.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from orchestrator.observe.telemetry import logger

_DAG_CACHE: dict[tuple[str, str, str], Any] = {}
_LOCK = threading.Lock()


def load_dag(dags_root: str, fileloc: str, dag_id: str) -> Any:
    """The DAG object ``dag_id`` from ``fileloc`` under ``dags_root`` (imported once per process)."""
    from orchestrator.plan import loader

    get = getattr(loader, "get_dag", None)
    if callable(get):
        return get(dags_root, fileloc, dag_id)
    key = (str(dags_root), fileloc, dag_id)
    with _LOCK:
        if key in _DAG_CACHE:
            return _DAG_CACHE[key]
    bag = loader.DagBag(str(dags_root), load=False)
    path = fileloc if os.path.isabs(fileloc) else os.path.join(str(dags_root), fileloc)
    for dag in bag.load_file(path):
        with _LOCK:
            _DAG_CACHE[(str(dags_root), fileloc, dag.dag_id)] = dag
    with _LOCK:
        found = _DAG_CACHE.get(key)
    if found is None:
        from orchestrator.errors import DagImportError

        errors = getattr(bag, "import_errors", {}) or {}
        detail = next(iter(errors.values()), None)
        raise DagImportError(
            f"DAG '{dag_id}' was not found in {path}" + (f": {detail}" if detail else "") +
            "; the deployed DAG files may differ from the plan (run `stratus sync`).",
            file=path,
        )
    return found


def call(owner: Any, name: str, context: dict[str, Any], *, what: str) -> None:
    """Call ``owner.<name>`` (a callable or a list of them) with ``context``; log, never raise."""
    found = getattr(owner, name, None) if owner is not None else None
    if not found:
        return
    for fn in found if isinstance(found, (list, tuple)) else [found]:
        try:
            fn(context)
        except Exception:  # noqa: BLE001 - a callback must never fail the task
            logger.exception(f"{name} of {what} raised; the state is unchanged", extra={"callback": name})

"""Calling user callbacks (task and DAG level) and loading the DAG a plan came from.

A callback's error is logged with its traceback and never changes the task or run state.
"""

from __future__ import annotations

from typing import Any

from orchestrator.telemetry import logger


def load_dag(dags_root: str, fileloc: str, dag_id: str) -> Any:
    """The DAG object ``dag_id`` from ``fileloc`` under ``dags_root`` (``plan.loader.get_dag``: imported
    once per process; DagImportError when the file does not define it)."""
    from orchestrator.plan.loader import get_dag

    return get_dag(dags_root, fileloc, dag_id)


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

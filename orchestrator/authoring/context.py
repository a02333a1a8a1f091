"""The running task's context: ``get_current_context()`` and the names it may hold.

The runtime builds the context dict (``ti``, ``params``, ``logical_date``, ``ds``, ...) and
enters ``set_current_context(context)`` around ``execute``; code anywhere below the task
(helpers, hooks) reads it with ``get_current_context()``, as in Airflow.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

from orchestrator.authoring.exceptions import NoTaskContextError

Context = dict[str, Any]

# Names a TaskFlow function may declare to receive from the context (Airflow 3's keys).
# Parameters with these names need no argument at definition time.
KNOWN_CONTEXT_KEYS = frozenset(
    {
        "conn",
        "dag",
        "dag_run",
        "data_interval_end",
        "data_interval_start",
        "ds",
        "ds_nodash",
        "expanded_ti_count",
        "inlets",
        "inlet_events",
        "logical_date",
        "macros",
        "map_index",
        "map_index_template",
        "outlets",
        "outlet_events",
        "params",
        "prev_data_interval_start_success",
        "prev_data_interval_end_success",
        "prev_start_date_success",
        "prev_end_date_success",
        "reason",
        "run_id",
        "start_date",
        "task",
        "task_instance",
        "task_instance_key_str",
        "task_reschedule_count",
        "templates_dict",
        "test_mode",
        "ti",
        "triggering_asset_events",
        "try_number",
        "ts",
        "ts_nodash",
        "ts_nodash_with_tz",
        "var",
    }
)

_current: contextvars.ContextVar[Context | None] = contextvars.ContextVar("stratus_task_context", default=None)


@contextlib.contextmanager
def set_current_context(context: Context) -> Iterator[Context]:
    """Make ``context`` the current task context for the duration of the ``with`` block.

    Nested use restores the outer context on exit. Example::

        with set_current_context({"ti": ti, "params": {}}):
            operator.execute(ctx)
    """
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def get_current_context() -> Context:
    """Return the context of the task running now.

    Raises:
        NoTaskContextError: when called outside a running task (e.g. at DAG parse time).
    """
    ctx = _current.get()
    if ctx is None:
        raise NoTaskContextError(
            "get_current_context() was called outside a running task. Call it inside a task "
            "function (or code it calls), not at the top level of the DAG file."
        )
    return ctx

"""What authoring code reaches at run time, as interfaces that the layers above fill.

The authoring package imports nothing above it (``tests/unit/test_layers.py``). Two things it
does need at run time come in through here instead:

- **Runs of other DAGs** (``TriggerDagRunOperator``): :class:`RunControl`, which the task's
  ``context["ti"].engine`` provides (the worker's engine, built by ``orchestrator.compose``).
- **``DAG.test()``**: a runner that runs the DAG on the embedded local cloud. ``orchestrator.local``
  provides it through the ``stratus.dag_test`` entry point (``pyproject.toml``), or a program
  registers its own with :func:`register_dag_test_runner`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Protocol

from orchestrator.errors import StratusError

DAG_TEST_ENTRY_POINT = "stratus.dag_test"

# runner(dag, logical_date, run_conf) -> the final run item
DagTestRunner = Callable[[Any, "datetime | None", "dict[str, Any] | None"], dict[str, Any]]
_dag_test_runner: DagTestRunner | None = None


class RunControl(Protocol):
    """Start, clear and read runs (the engine's door for runs and its clear)."""

    store: Any

    def start_run(self, dag_id: str, *, run_id: str | None = None, logical_date: datetime | None = None,
                  conf: Any = None, run_type: str = "manual") -> dict[str, Any]: ...

    def clear(self, dag_id: str, run_id: str) -> list[tuple[str, int]]: ...


def run_control(context: dict[str, Any], task_id: str) -> RunControl:
    """The run control of the running task's worker; StratusError outside a Stratus worker."""
    ti = context.get("ti")
    control = getattr(ti, "engine", None)
    if control is None:
        raise StratusError(f"Task '{task_id}' starts or clears runs, which works only inside a Stratus worker "
                           "(stratus run, dag.test(), the local cloud or AWS).")
    delegated = getattr(control, "run_control", None)  # per-DAG isolation: asked of the trigger function
    if delegated is not None:
        return delegated.bind(ti)  # type: ignore[no-any-return]
    return control  # type: ignore[no-any-return]


def register_dag_test_runner(runner: DagTestRunner | None) -> None:
    """Use ``runner`` for ``DAG.test()`` in this process (None: the ``stratus.dag_test`` entry point)."""
    global _dag_test_runner
    _dag_test_runner = runner


def dag_test_runner() -> DagTestRunner:
    """The registered ``DAG.test()`` runner, else the one the ``stratus.dag_test`` entry point names."""
    if _dag_test_runner is not None:
        return _dag_test_runner
    from importlib.metadata import entry_points

    for point in entry_points(group=DAG_TEST_ENTRY_POINT):
        runner: DagTestRunner = point.load()
        return runner
    raise StratusError("DAG.test() found no runner: the 'stratus.dag_test' entry point is missing, so Stratus "
                       "is not installed as a package here. Run `make install` (or `pip install -e .`).")

"""What the viewers need from the cloud: read runs for the grid, act on them, read logs.

``RunsView`` is the one object the widget Lambda, `stratus ui` and the view commands use.
Reads go to the run store (``orchestrator.store.RunStore``); actions go to the engine, so
clearing a task from the dashboard runs exactly the code `stratus clear` runs.

Actions arrive as JSON params (from a ``cwdb-action`` or a UI form), checked by ``perform``:

- ``{"action": "clear", "dag_id", "run_id", "task_id"?, "downstream"?, "failed_only"?}``
- ``{"action": "mark", "dag_id", "run_id", "task_id", "state": "success"|"failed"}``
- ``{"action": "trigger", "dag_id", "conf"?}``
- ``{"action": "pause" | "unpause", "dag_id"}`` (the DAG list's toggle; not a widget action)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from orchestrator.config import Clients, Resources
from orchestrator.errors import NotFoundError, StratusError
from orchestrator.observe.gridmodel import TimeRange, instance_from_item, run_time
from orchestrator.observe.logs import LogLine, function_log_group, task_log_lines
from orchestrator.observe.readmodel import RenderedTry, rendered_tries
from orchestrator.plan.model import StepPlan
from orchestrator.store import rendered as rendered_fields

ACTIONS = ("clear", "mark", "trigger", "pause", "unpause")
MARK_STATES = ("success", "failed")


class ActionError(StratusError):
    """An action's params are malformed (unknown action, missing field, bad state)."""


def _require(params: Mapping[str, Any], *names: str) -> None:
    missing = [n for n in names if not params.get(n)]
    if missing:
        raise ActionError(
            f"Action '{params.get('action')}' needs {', '.join(repr(m) for m in missing)} in its params; got {sorted(params)}."
        )


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes", "on")
    return bool(value)


class RunsView:
    """Runs, task instances, plans and logs of one deployment, plus the actions on them."""

    def __init__(self, clients: Clients, resources: Resources, *, store: Any = None, engine: Any = None) -> None:
        self.clients = clients
        self.resources = resources
        if store is None:
            from orchestrator.compose import build_store

            store = build_store(clients, resources)
        self.store = store
        self._engine = engine

    @property
    def engine(self) -> Any:
        if self._engine is None:
            from orchestrator.compose import build_engine

            self._engine = build_engine(self.clients, self.resources, store=self.store)
        return self._engine

    # ------------------------------------------------------------ reads

    def dag_ids(self) -> list[str]:
        """Registered DAG ids, sorted."""
        return sorted(str(d["dag_id"]) for d in self.store.list_dags())

    def plan(self, dag_id: str, plan_hash: str | None = None) -> StepPlan:
        """A plan version of the DAG, or its current plan."""
        if plan_hash:
            return self.store.get_plan(dag_id, plan_hash)  # type: ignore[no-any-return]
        return self.store.get_current_plan(dag_id)  # type: ignore[no-any-return]

    def runs(self, dag_id: str, limit: int = 25) -> list[dict[str, Any]]:
        """The newest runs of a DAG, newest first."""
        return list(self.store.list_runs(dag_id, limit=limit))

    def run(self, run_id: str, dag_id: str | None = None) -> dict[str, Any]:
        """One run, by run id alone when it is unique across DAGs. Raises NotFoundError."""
        if dag_id:
            return self.store.get_run(dag_id, run_id)  # type: ignore[no-any-return]
        return self.store.find_run(run_id)  # type: ignore[no-any-return]

    def tis(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Task-instance items of a run."""
        return list(self.store.list_tis(dag_id, run_id))

    def ti(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
        """One task-instance item. Raises NotFoundError."""
        return self.store.get_ti(dag_id, run_id, task_id, map_index)  # type: ignore[no-any-return]

    def rendered_loader(self) -> Callable[[str], dict[str, Any] | None]:
        """Reads one try's stored rendered template fields (inline in the item, or in S3)."""
        return lambda stored: rendered_fields.load(self.store.xcom, stored)

    def rendered(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[RenderedTry]:
        """Each try's rendered template fields (Airflow's "Rendered Template"), newest try first.
        Raises NotFoundError when the task instance does not exist."""
        return self.rendered_of(self.ti(dag_id, run_id, task_id, map_index))

    def rendered_of(self, item: Mapping[str, Any]) -> list[RenderedTry]:
        """``rendered`` of a task-instance item already read."""
        return list(rendered_tries(instance_from_item(item), self.rendered_loader()))

    def grid_data(
        self, dag_id: str, limit: int = 25, time_range: TimeRange | None = None, scan: int = 200
    ) -> tuple[StepPlan, list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
        """The current plan, the newest ``limit`` runs in ``time_range`` and their task instances.

        Reads the newest ``scan`` run items (one query), keeps those in the range, and reads
        task instances only for the ``limit`` kept (one query each).
        """
        runs = self.runs(dag_id, max(scan, limit))
        if time_range is not None:
            runs = [r for r in runs if time_range.contains(run_time(r))]
        runs = runs[:limit]
        try:
            plan = self.plan(dag_id)
        except NotFoundError:
            if not runs:
                raise
            plan = self.plan(dag_id, runs[0]["plan_hash"])
        return plan, runs, {str(r["run_id"]): self.tis(dag_id, str(r["run_id"])) for r in runs}

    def run_plan(self, run: Mapping[str, Any]) -> StepPlan:
        """The plan a run was started with (pinned by its ``plan_hash``)."""
        return self.plan(str(run["dag_id"]), str(run["plan_hash"]))

    @property
    def worker_log_group(self) -> str:
        return function_log_group(self.resources.worker_function or "worker")

    def log_lines(
        self, dag_id: str, run_id: str, task_id: str, *, map_index: int = -1, try_number: int | None = None
    ) -> list[LogLine]:
        """The log lines of one try (default: the latest) of a task instance."""
        ti = self.ti(dag_id, run_id, task_id, map_index)
        return task_log_lines(self.clients.client("logs"), self.worker_log_group, ti, run_id=run_id, try_number=try_number)

    # ------------------------------------------------------------ actions

    def clear(
        self,
        dag_id: str,
        run_id: str,
        task_ids: Sequence[str] | None = None,
        *,
        downstream: bool = False,
        failed_only: bool = False,
    ) -> list[tuple[str, int]]:
        """Clear task instances so they run again (Airflow's clear); returns the cleared
        ``(task_id, map_index)`` pairs. A mapped task is cleared with all its map indexes."""
        return self.engine.clear(  # type: ignore[no-any-return]
            dag_id, run_id, list(task_ids) if task_ids else None, downstream=downstream, failed_only=failed_only
        )

    def mark(self, dag_id: str, run_id: str, task_id: str, state: str) -> None:
        """Set a task's state by hand (success or failed; every map index of a mapped task),
        then let the run move on."""
        if state not in MARK_STATES:
            raise ActionError(f"Cannot mark task '{task_id}' as '{state}': use one of {', '.join(MARK_STATES)}.")
        self.engine.mark(dag_id, run_id, task_id, state)

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> Any:
        """Start a manual run of the DAG now; returns what the engine returns (the run item)."""
        return self.engine.start_run(dag_id, conf=dict(conf or {}), run_type="manual")  # the one door

    def set_paused(self, dag_id: str, paused: bool) -> str:
        """Pause (its schedules deleted) or unpause (recreated, due runs started) a DAG; a notice."""
        from orchestrator.triggers.api import set_paused

        self.store.get_dag(dag_id)  # NotFoundError for an unregistered DAG
        out = set_paused(self.clients, self.resources, dag_id, paused)
        changes = len(out.get("schedule_changes") or [])
        if paused:
            return f"Paused DAG '{dag_id}': its schedule stopped ({changes} schedule change(s))."
        started = len(out.get("started") or [])
        return f"Unpaused DAG '{dag_id}': its schedule runs again ({changes} schedule change(s), {started} run(s) due now)."

    def perform(self, params: Mapping[str, Any]) -> str:
        """Check and run one action from JSON params; returns a one-line notice for the page."""
        action = params.get("action")
        if action not in ACTIONS:
            raise ActionError(f"Unknown action {action!r}: use one of {', '.join(ACTIONS)}.")
        _require(params, "dag_id")
        dag_id = str(params["dag_id"])
        if action in ("pause", "unpause"):
            return self.set_paused(dag_id, action == "pause")
        if action == "trigger":
            conf = params.get("conf") or {}
            if not isinstance(conf, Mapping):
                raise ActionError(f"Trigger of DAG '{dag_id}': conf must be a JSON object, got {type(conf).__name__}.")
            result = self.trigger(dag_id, conf)
            run_id = result.get("run_id") if isinstance(result, Mapping) else result
            return f"Triggered run '{run_id}' of DAG '{dag_id}'."
        _require(params, "run_id")
        run_id = str(params["run_id"])
        if action == "clear":
            task_id = params.get("task_id")
            cleared = self.clear(
                dag_id,
                run_id,
                [str(task_id)] if task_id else None,
                downstream=_flag(params.get("downstream")),
                failed_only=_flag(params.get("failed_only")),
            )
            what = f"task '{task_id}'" if task_id else ("failed tasks" if _flag(params.get("failed_only")) else "all tasks")
            if not cleared:
                return (f"Nothing to clear for {what} in run '{run_id}' of DAG '{dag_id}' (queued or running tasks, and "
                        "fan-out tasks whose outcome is still being counted, are left alone; try again when they end).")
            return f"Cleared {what} in run '{run_id}' of DAG '{dag_id}' ({len(cleared)} task instance(s)); they run again."
        _require(params, "task_id", "state")
        task_id = str(params["task_id"])
        state = str(params["state"])
        self.mark(dag_id, run_id, task_id, state)
        return f"Marked task '{task_id}' in run '{run_id}' of DAG '{dag_id}' as {state}."

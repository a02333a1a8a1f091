"""``TriggerDagRunOperator``: start a run of another DAG from a task (Airflow's semantics).

The run is created through the same engine call as ``stratus trigger`` (its ``conf`` is
checked against the target DAG's params), with run id ``manual__{logical_date}`` unless
``trigger_run_id`` is given; the run id is pushed as XCom ``trigger_run_id``. A run id that
already exists fails the task, unless ``reset_dag_run=True`` (the run is cleared and runs
again) or ``skip_when_already_exists=True`` (the task is skipped).

``wait_for_completion=True`` polls the run every ``poke_interval`` seconds inside this task's
invocation until it reaches ``allowed_states`` (success) or ``failed_states`` (the task
fails); the Lambda timeout bounds the wait, so keep waited-for DAGs short or leave it False.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, ClassVar

from orchestrator.authoring.baseoperator import BaseOperator
from orchestrator.authoring.exceptions import AirflowException, AirflowSkipException
from orchestrator.authoring.runtime_api import run_control


def _as_datetime(value: Any, task_id: str) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        out = value
    else:
        try:
            out = datetime.fromisoformat(str(value))
        except ValueError:
            raise AirflowException(f"Task '{task_id}': logical_date {value!r} is not an ISO date-time.") from None
    return out if out.tzinfo else out.replace(tzinfo=timezone.utc)


class TriggerDagRunOperator(BaseOperator):
    """Start a run of ``trigger_dag_id``; optionally wait for it.

    Example::

        TriggerDagRunOperator(task_id="load_next", trigger_dag_id="load", conf={"day": "{{ ds }}"})
    """

    template_fields: ClassVar[Sequence[str]] = ("trigger_dag_id", "trigger_run_id", "logical_date", "conf")

    def __init__(self, *, trigger_dag_id: str, trigger_run_id: str | None = None, conf: dict[str, Any] | None = None,
                 logical_date: str | datetime | None = None, reset_dag_run: bool = False,
                 wait_for_completion: bool = False, poke_interval: float = 60,
                 allowed_states: Sequence[str] | None = None, failed_states: Sequence[str] | None = None,
                 skip_when_already_exists: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.trigger_dag_id = trigger_dag_id
        self.trigger_run_id = trigger_run_id
        self.conf = conf
        self.logical_date = logical_date
        self.reset_dag_run = reset_dag_run
        self.wait_for_completion = wait_for_completion
        self.poke_interval = poke_interval
        self.allowed_states = list(allowed_states or ["success"])
        self.failed_states = list(failed_states or ["failed"])
        self.skip_when_already_exists = skip_when_already_exists

    def execute(self, context: dict[str, Any]) -> None:
        from orchestrator.errors import NotFoundError

        ti: Any = context.get("ti")
        if getattr(ti, "engine", None) is None:
            raise AirflowException(f"Task '{self.task_id}': TriggerDagRunOperator runs only inside a Stratus worker.")
        runs = run_control(context, self.task_id)
        if self.conf is not None and not isinstance(self.conf, dict):
            raise AirflowException(f"Task '{self.task_id}': conf must be a dict, got {type(self.conf).__name__}.")
        logical = _as_datetime(self.logical_date, self.task_id) or datetime.now(timezone.utc)
        run_id = self.trigger_run_id or f"manual__{logical.isoformat()}"  # the door's form (engine.start.make_run_id)
        store = runs.store
        try:
            existing = store.get_run(self.trigger_dag_id, run_id)
        except NotFoundError:
            existing = None
        if existing is not None:
            if self.skip_when_already_exists:
                raise AirflowSkipException(f"Run '{run_id}' of DAG '{self.trigger_dag_id}' already exists; skipped.")
            if not self.reset_dag_run:
                raise AirflowException(
                    f"Task '{self.task_id}': run '{run_id}' of DAG '{self.trigger_dag_id}' already exists. Pass "
                    "reset_dag_run=True to clear and re-run it, or skip_when_already_exists=True.")
            runs.clear(self.trigger_dag_id, run_id)
        else:
            runs.start_run(self.trigger_dag_id, run_id=run_id, logical_date=logical, conf=dict(self.conf or {}),
                             run_type="manual")
        ti.xcom_push("trigger_run_id", run_id)
        print(f"Triggered DAG '{self.trigger_dag_id}': run '{run_id}'", flush=True)
        if self.wait_for_completion:
            self._wait(store, run_id)

    def _wait(self, store: Any, run_id: str) -> None:
        while True:
            time.sleep(max(0.0, float(self.poke_interval)))
            state = store.get_run(self.trigger_dag_id, run_id).get("state")
            print(f"Waiting for run '{run_id}' of DAG '{self.trigger_dag_id}': {state}", flush=True)
            if state in self.failed_states:
                raise AirflowException(f"Run '{run_id}' of DAG '{self.trigger_dag_id}' ended {state}.")
            if state in self.allowed_states:
                return

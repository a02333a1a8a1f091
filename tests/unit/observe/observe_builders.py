"""Synthetic plans, runs and task instances shaped like docs/internals.md items."""

from __future__ import annotations

from typing import Any

from orchestrator.plan.model import Mapping, Schedule, Step, StepPlan


def make_plan(dag_id: str = "daily_sales", **overrides: Any) -> StepPlan:
    steps = [
        Step(task_id="extract", operator="_PythonDecoratedOperator", module="daily_sales.py", downstream=["clean"]),
        Step(
            task_id="clean",
            operator="_PythonDecoratedOperator",
            module="daily_sales.py",
            upstream=["extract"],
            downstream=["load_group.load"],
            mapping=Mapping(kind="expand", expand={"row": {"$xcom": "extract", "key": None}}, sources=["extract"]),
        ),
        Step(
            task_id="load_group.load",
            operator="_PythonDecoratedOperator",
            module="daily_sales.py",
            group="load_group",
            upstream=["clean"],
            downstream=["load_group.report"],
        ),
        Step(
            task_id="load_group.report",
            operator="_PythonDecoratedOperator",
            module="daily_sales.py",
            group="load_group",
            upstream=["load_group.load"],
        ),
    ]
    values: dict[str, Any] = {
        "dag_id": dag_id,
        "fileloc": f"{dag_id}.py",
        "schedule": Schedule(kind="cron", expression="0 6 * * *"),
        "steps": steps,
    }
    values.update(overrides)
    return StepPlan(**values).with_hash()


def make_run(run_id: str = "manual__2026-01-01T06:00:00+00:00", dag_id: str = "daily_sales", **overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": f"RUN#{dag_id}#{run_id}",
        "sk": "RUN",
        "dag_id": dag_id,
        "run_id": run_id,
        "state": "success",
        "run_type": "manual",
        "plan_hash": "abc",
        "logical_date": "2026-01-01T06:00:00+00:00",
        "queued_at": "2026-01-01T06:00:00+00:00",
        "start_date": "2026-01-01T06:00:01+00:00",
        "end_date": "2026-01-01T06:01:01+00:00",
        "conf": "{}",
    }
    item.update(overrides)
    return item


def make_ti(task_id: str, run_id: str = "manual__2026-01-01T06:00:00+00:00", dag_id: str = "daily_sales", **overrides: Any) -> dict[str, Any]:
    map_index = overrides.get("map_index", -1)
    item: dict[str, Any] = {
        "pk": f"RUN#{dag_id}#{run_id}",
        "sk": f"TI#{task_id}#{int(map_index):06d}",
        "task_id": task_id,
        "map_index": map_index,
        "state": "success",
        "try_number": 1,
        "max_tries": 1,
        "queued_at": "2026-01-01T06:00:01+00:00",
        "start_date": "2026-01-01T06:00:02+00:00",
        "end_date": "2026-01-01T06:00:05+00:00",
        "duration": 3.0,
        "log_stream": "2026/01/01/[$LATEST]0123456789abcdef",
        "history": [],
    }
    item.update(overrides)
    return item

"""Builders shared by the trigger unit tests (imported by module name, like observe_builders)."""

from __future__ import annotations

from datetime import UTC, datetime

from orchestrator.plan.model import Schedule, Step, StepPlan


def make_plan(**overrides) -> StepPlan:
    fields = dict(
        dag_id="etl",
        fileloc="etl.py",
        schedule=Schedule(kind="cron", expression="0 6 * * *"),
        start_date="2026-01-01T00:00:00+00:00",
        steps=[Step(task_id="t", operator="EmptyOperator", module="etl.py")],
    )
    fields.update(overrides)
    return StepPlan(**fields).with_hash()


def d(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)

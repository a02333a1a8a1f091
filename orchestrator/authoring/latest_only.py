"""``LatestOnlyOperator``: skip the work of runs that are not the latest scheduled one (Airflow's rule).

A scheduled or backfill run whose next run is already due (a catch-up or a backfill of old
intervals) skips its direct downstream tasks; the latest run, and any run that was not created
by the schedule (manual, asset-triggered), lets them run. "Latest" is Airflow's window: this run's
``data_interval_end`` < now <= the next run's ``data_interval_end``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, ClassVar

from orchestrator.authoring.baseoperator import BaseOperator


class LatestOnlyOperator(BaseOperator):
    """Follow every direct downstream task only in the latest scheduled run; else skip them.

    Example::

        LatestOnlyOperator(task_id="latest_only") >> notify   # no e-mails for catch-up runs
    """

    _step_kind: ClassVar[str] = "branch"

    def execute(self, context: dict[str, Any]) -> Any:
        downstream = sorted(self.downstream_task_ids)
        dag_run = context.get("dag_run")
        if getattr(dag_run, "run_type", None) not in ("scheduled", "backfill"):
            return downstream
        from orchestrator.timetable import timetable_for_schedule

        # The run's compiled plan holds the normalized schedule (the worker's ti carries it).
        plan = getattr(context.get("ti"), "plan", None)
        if plan is None or plan.schedule.kind in ("none", "assets"):
            return downstream
        timetable = timetable_for_schedule(plan.schedule, start_date=plan.start_date, end_date=plan.end_date,
                                           dag_id=plan.dag_id)
        logical, end = context.get("logical_date"), context.get("data_interval_end") or context.get("logical_date")
        if logical is None or end is None:
            return downstream
        following = timetable.next_after(_aware(logical))
        end = _aware(end)
        now = datetime.now(timezone.utc)
        if following is None:
            return downstream
        if end < now <= following.data_interval_end:
            return downstream
        print(f"Task '{self.task_id}': not the latest run (window {end.isoformat()} .. "
              f"{following.data_interval_end.isoformat()}, now {now.isoformat()}); skipping {', '.join(downstream)}.")
        return None


def _aware(value: Any) -> datetime:
    """A plain aware datetime from the context's date (naive means UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return datetime.fromisoformat(value.isoformat())

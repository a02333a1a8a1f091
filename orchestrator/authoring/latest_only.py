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
        if getattr(dag_run, "run_type", None) not in ("scheduled", "backfill") or self.dag is None:
            return downstream
        from orchestrator.plan.schedule import normalize_schedule
        from orchestrator.triggers.timetable import timetable_for_schedule

        schedule, problems = normalize_schedule(self.dag.schedule, self.dag.start_date)
        if schedule is None or problems:
            return downstream
        # ISO text in: the timetable works on plain aware datetimes (the context's are pendulum's).
        timetable = timetable_for_schedule(schedule, start_date=_iso(self.dag.start_date),
                                           end_date=_iso(self.dag.end_date), dag_id=self.dag.dag_id)
        logical, end = context.get("logical_date"), context.get("data_interval_end") or context.get("logical_date")
        if logical is None or end is None:
            return downstream
        following = timetable.next_after(_iso(logical))
        end = datetime.fromisoformat(_iso(end) or "")
        now = datetime.now(timezone.utc)
        if following is None:
            return downstream
        if end < now <= following.data_interval_end:
            return downstream
        print(f"Task '{self.task_id}': not the latest run (window {end.isoformat()} .. "
              f"{following.data_interval_end.isoformat()}, now {now.isoformat()}); skipping {', '.join(downstream)}.")
        return None


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return datetime.fromisoformat(value.isoformat()).isoformat()

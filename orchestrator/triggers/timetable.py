"""The timetable of a compiled plan: ``orchestrator.timetable``'s pure schedule math applied to a ``StepPlan``.

The math (cron, time zones, data intervals, catch-up) lives in ``orchestrator.timetable``,
below both the authoring layer and the triggers; its names are re-exported here for the
triggers' modules.
"""

from __future__ import annotations

from datetime import datetime

from orchestrator.plan.model import StepPlan
from orchestrator.timetable import (
    MAX_CATCHUP_RUNS,
    CronSchedule,
    CronTimetable,
    DagRunInfo,
    DeltaDataIntervalTimetable,
    NullTimetable,
    OnceTimetable,
    Timetable,
    timetable_for_schedule,
    utc,
    validate_cron,
    zone,
)

__all__ = ["MAX_CATCHUP_RUNS", "CronSchedule", "CronTimetable", "DagRunInfo", "DeltaDataIntervalTimetable",
           "NullTimetable", "OnceTimetable", "Timetable", "timetable_for_schedule", "utc", "validate_cron", "zone",
           "timetable_for", "next_runs"]


def timetable_for(plan: StepPlan) -> Timetable:
    """The timetable of a compiled plan."""
    return timetable_for_schedule(
        plan.schedule, start_date=plan.start_date, end_date=plan.end_date, dag_id=plan.dag_id
    )


def next_runs(plan: StepPlan, *, after: datetime | str | None, now: datetime | str) -> list[DagRunInfo]:
    """Runs of ``plan`` due at ``now`` after the run with logical date ``after``.

    All missed ones with ``catchup=True`` (at most MAX_CATCHUP_RUNS), the latest otherwise.

    >>> next_runs(plan, after=None, now="2026-03-01T07:00:00+00:00")  # doctest: +SKIP
    [DagRunInfo(logical_date=datetime(2026, 3, 1, 6, 0, tzinfo=UTC), ...)]
    """
    return timetable_for(plan).due_runs(
        last_logical=utc(after) if after else None, now=utc(now), catchup=plan.catchup
    )

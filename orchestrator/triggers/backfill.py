"""`stratus backfill`: runs for every interval of a date range, oldest first.

:func:`backfill_intervals` (pure) lists the runs the DAG's timetable has with a logical date
in ``[start, end]``. :func:`run_backfill` creates a ``backfill__<logical date>`` run for
each interval that has no run yet, in logical-date order; runs beyond ``max_active_runs``
wait queued and the engine starts them oldest first as slots free. An interval that
already has a run (scheduled or an earlier backfill) is left alone, unless ``rerun`` says
``failed`` (clear the failed tasks of a failed run) or ``all`` (clear every task of it):
Airflow 3's reprocess behaviours ``none``, ``failed`` and ``completed``.
:func:`wait_backfill` follows the runs until they are done, reporting progress.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Callable

from orchestrator.config import Clients, Resources
from orchestrator.errors import NotFoundError, ScheduleError
from orchestrator.plan.model import StepPlan
from orchestrator.triggers.runs import make_engine, make_run_id, start_run
from orchestrator.triggers.timetable import DagRunInfo, timetable_for, utc, zone

RERUN_CHOICES = ("none", "failed", "all")
MAX_BACKFILL_RUNS = 10_000
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class BackfillItem:
    """What backfill did for one interval."""

    logical_date: str
    run_id: str
    action: str  # created | rerun | skipped
    state: str | None = None  # the existing run's state, for rerun / skipped


@dataclass
class BackfillReport:
    dag_id: str
    items: list[BackfillItem] = field(default_factory=list)

    @property
    def run_ids(self) -> list[str]:
        return [i.run_id for i in self.items if i.action in ("created", "rerun")]

    def as_dict(self) -> dict[str, Any]:
        return {"dag_id": self.dag_id, "runs": [i.__dict__ for i in self.items]}


def parse_bound(text: str, *, timezone: str, end: bool, dag_id: str = "?") -> datetime:
    """A ``--start``/``--end`` value: a date (in the DAG's time zone; ``--end`` covers the whole day)
    or an ISO-8601 datetime (naive means the DAG's time zone)."""
    tz = zone(timezone, dag_id)
    value = text.strip()
    try:
        if _DATE_ONLY.match(value):
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day, tzinfo=tz)
            return utc(moment + timedelta(days=1) - timedelta(microseconds=1) if end else moment)
        parsed = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except ValueError:
        raise ScheduleError(
            f"Backfill of DAG '{dag_id}': {value!r} is not a date (2026-01-31) or an ISO-8601 datetime."
        ) from None
    return utc(parsed if parsed.tzinfo else parsed.replace(tzinfo=tz))


def backfill_intervals(plan: StepPlan, start: datetime, end: datetime) -> list[DagRunInfo]:
    """The runs of ``plan`` with a logical date in ``[start, end]``, oldest first (pure)."""
    if end < start:
        raise ScheduleError(
            f"Backfill of DAG '{plan.dag_id}': --end {end.isoformat()} is before --start {start.isoformat()}."
        )
    tt = timetable_for(plan)
    if not tt.periodic:
        raise ScheduleError(
            f"DAG '{plan.dag_id}' has schedule {plan.schedule.kind!r}, which has no intervals to backfill; "
            "backfill needs a cron, preset or timedelta schedule (use `stratus trigger` for one run)."
        )
    out: list[DagRunInfo] = []
    for info in tt.iter_between(start, end):
        out.append(info)
        if len(out) > MAX_BACKFILL_RUNS:
            raise ScheduleError(
                f"Backfill of DAG '{plan.dag_id}' would create more than {MAX_BACKFILL_RUNS} runs; "
                "use a shorter range."
            )
    return out


def _existing_run(store: Any, dag_id: str, info: DagRunInfo) -> dict[str, Any] | None:
    for run_type in ("backfill", "scheduled"):
        try:
            return store.get_run(dag_id, make_run_id(run_type, info.logical_date))
        except NotFoundError:
            continue
    return None


def run_backfill(
    clients: Clients,
    resources: Resources,
    plan: StepPlan,
    start: datetime,
    end: datetime,
    *,
    rerun: str = "none",
    conf: dict[str, Any] | None = None,
    engine: Any = None,
    on_item: Callable[[BackfillItem], None] | None = None,
) -> BackfillReport:
    """Create the backfill runs (see module doc); returns what was done per interval."""
    if rerun not in RERUN_CHOICES:
        raise ScheduleError(f"Backfill rerun must be one of {', '.join(RERUN_CHOICES)}, not {rerun!r}.")
    intervals = backfill_intervals(plan, start, end)
    engine = engine or make_engine(clients, resources)
    store = engine.store
    report = BackfillReport(plan.dag_id)
    for ordinal, info in enumerate(intervals, start=1):
        existing = _existing_run(store, plan.dag_id, info)
        if existing is None:
            part: dict[str, Any] = {}
            if plan.schedule.partitioning is not None and plan.schedule.partitioning.kind == "cron":
                from orchestrator.triggers.fire import cron_partition

                key, date = cron_partition(plan, info.logical_date, offset=False)
                part = {"partition_key": key, "partition_date": date}
            # The ordinal counts every interval, created or not, as Airflow's sort_ordinal does.
            run, _ = start_run(clients, resources, plan, run_id=make_run_id("backfill", info.logical_date), run_type="backfill",
                               info=info, conf=conf, engine=engine, backfill_ordinal=ordinal, **part)
            item = BackfillItem(info.logical_date.isoformat(), str(run["run_id"]), "created")
        else:
            state = str(existing.get("state"))
            redo = (rerun == "all" and state in ("success", "failed")) or (rerun == "failed" and state == "failed")
            if redo:
                engine.clear(plan.dag_id, str(existing["run_id"]), failed_only=(rerun == "failed"))
            item = BackfillItem(info.logical_date.isoformat(), str(existing["run_id"]),
                                "rerun" if redo else "skipped", state)
        report.items.append(item)
        if on_item is not None:
            on_item(item)
    return report


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    states: dict[str, int]

    def line(self, dag_id: str) -> str:
        parts = ", ".join(f"{n} {s}" for s, n in sorted(self.states.items()))
        return f"backfill {dag_id}: {self.done}/{self.total} done ({parts})"


def wait_backfill(
    store: Any,
    dag_id: str,
    run_ids: list[str],
    *,
    timeout_s: float = 3600.0,
    poll_s: float = 1.0,
    on_progress: Callable[[Progress], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, str]:
    """Poll the runs until every one is success or failed (or ``timeout_s``); run id -> state."""
    deadline = time.monotonic() + timeout_s
    last: Progress | None = None
    while True:
        states = {rid: str(store.get_run(dag_id, rid).get("state")) for rid in run_ids}
        counts: dict[str, int] = {}
        for s in states.values():
            counts[s] = counts.get(s, 0) + 1
        done = sum(1 for s in states.values() if s in ("success", "failed"))
        progress = Progress(done, len(run_ids), counts)
        if on_progress is not None and progress != last:
            on_progress(progress)
        last = progress
        if done == len(run_ids) or time.monotonic() >= deadline:
            return states
        sleep(poll_s)

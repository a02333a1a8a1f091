"""Timetables: when a DAG's runs are due, and which logical date and data interval each has.

Pure schedule math, in the foundation layer: values in, values out (every datetime returned is
timezone-aware UTC). The triggers (``triggers.timetable`` adapts it to plans) and the
authoring layer (``LatestOnlyOperator``) both use it.

Semantics follow Airflow 3's defaults (``airflow.sdk``):

- A cron string or preset (``"0 6 * * *"``, ``"@daily"``) is a **CronTimetable** (Airflow's CronTriggerTimetable):
  Airflow 3.0 changed ``[scheduler] create_cron_data_intervals`` to ``False``, so the
  logical date of a run is the time the cron fires, and the data interval is zero-length
  (``data_interval_start == data_interval_end == logical_date``). The run is due at
  that same instant.
- A ``timedelta`` is a **DeltaDataIntervalTimetable**: intervals ``[start_date + k*delta,
  start_date + (k+1)*delta)``; the logical date is the interval start and the run is due
  at the interval end. Arithmetic is in absolute time, so daylight saving does not apply.
- ``"@once"``: one run, logical date ``start_date`` (zero-length interval).
- ``None`` and asset schedules: no time-based runs; only manual, backfill or asset runs.

``start_date`` bounds the first logical date (inclusive), ``end_date`` the last
(inclusive). With ``catchup=True`` every missed run since the last one is due; with
``catchup=False`` only the latest due one (Airflow's rule).

Daylight saving time (better than Airflow, apache/airflow#38098). Cron expressions are
evaluated on the wall clock of the schedule's time zone, and each wall-clock time is
mapped to an instant like this:

- **Gap** (spring forward, e.g. 02:00-03:00 does not exist in Europe/Berlin on the last
  Sunday of March): a wall-clock fire time inside the gap runs **once, shifted forward by
  the gap's length** (a daily 02:30 job runs at 03:30 CEST, i.e. 01:30 UTC, that day),
  never skipped. When the shifted instant coincides with another fire time (an hourly
  job's 02:00 shifted to 03:00), it runs once.
- **Overlap** (fall back, 02:00-03:00 happens twice on the last Sunday of October): a
  wall-clock fire time inside the overlap runs **once, at its first occurrence**
  (summer time), not twice. The exception is an expression whose hour field is ``*``
  (hourly or faster): it follows elapsed time, so it runs at both occurrences and no
  hour of data is lost.

EventBridge Scheduler skips fire times in a gap; :mod:`orchestrator.triggers.aws_schedule`
adds a one-time schedule for such shifted fire times so AWS matches this timetable.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from orchestrator.errors import ScheduleError

# croniter is imported where a cron expression is evaluated, not here: its import runs the `file`
# command on the interpreter (platform.architecture(), to detect 32-bit Pythons), ~10 ms of a
# fresh process or a Lambda cold start that has no cron to evaluate.

# Airflow's cron presets (Airflow 3 resolves all of them to CronTriggerTimetable).
CRON_PRESETS: dict[str, str] = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}

# Widest daylight-saving shift in the tz database is 2 h (historic double summer time);
# search windows around a wall-clock time use a safe margin over it.
_DST_MARGIN = timedelta(hours=3)
# A catch-up never creates more runs than this in one go (a minutely DAG with a start
# years back would otherwise try millions); the rest follow on the next fire.
MAX_CATCHUP_RUNS = 1000


@dataclass(frozen=True, order=True)
class DagRunInfo:
    """One run a timetable asks for: its logical date, data interval and when it is due."""

    logical_date: datetime
    data_interval_start: datetime
    data_interval_end: datetime
    run_after: datetime


def utc(value: datetime | str) -> datetime:
    """An aware UTC datetime from a datetime (naive means UTC) or an ISO-8601 string."""
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def zone(name: str, dag_id: str = "?") -> ZoneInfo:
    """The tz database zone ``name``; ScheduleError naming the DAG when it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ScheduleError(
            f"DAG '{dag_id}' has an unknown time zone {name!r}. Use an IANA name such as "
            "'UTC', 'Europe/Berlin' or 'America/New_York'."
        ) from None


def validate_cron(expression: str, dag_id: str = "?") -> str:
    """The five-field cron text for ``expression`` (a preset is expanded); ScheduleError if invalid."""
    text = CRON_PRESETS.get(expression.strip(), expression.strip())
    fields = text.split()
    if len(fields) != 5:
        raise ScheduleError(
            f"DAG '{dag_id}' has an invalid cron expression {expression!r}: expected 5 fields "
            f"(minute hour day-of-month month day-of-week), got {len(fields)}. "
            "Example: '0 6 * * *' for 06:00 every day, or a preset such as '@daily'."
        )
    try:
        from croniter import croniter

        croniter(text, datetime(2000, 1, 1))
    except (ValueError, KeyError, TypeError) as exc:
        raise ScheduleError(
            f"DAG '{dag_id}' has an invalid cron expression {expression!r}: {exc}. "
            "Example: '0 6 * * *' for 06:00 every day, or a preset such as '@daily'."
        ) from None
    return " ".join(fields)


class CronSchedule:
    """A cron expression on the wall clock of one time zone, mapped to instants (see module doc)."""

    def __init__(self, expression: str, timezone: str = "UTC", *, dag_id: str = "?") -> None:
        self.expression = validate_cron(expression, dag_id)
        self.tz = zone(timezone, dag_id)
        # Hourly-or-faster expressions follow elapsed time in an overlap (both occurrences).
        self.every_hour = self.expression.split()[1] == "*"

    def _instants(self, naive: datetime) -> list[datetime]:
        first = naive.replace(tzinfo=self.tz, fold=0)
        inst = first.astimezone(UTC)
        if inst.astimezone(self.tz).replace(tzinfo=None) != naive:
            return [inst]  # in a gap: fold=0 uses the offset before the jump, i.e. shifted forward
        second = naive.replace(tzinfo=self.tz, fold=1).astimezone(UTC)
        if second != inst and self.every_hour:
            return [inst, second]
        return [inst]

    def next_fire(self, after: datetime) -> datetime:
        """The first fire instant strictly after ``after``."""
        after = utc(after)
        start = after.astimezone(self.tz).replace(tzinfo=None) - _DST_MARGIN
        from croniter import croniter

        it = croniter(self.expression, start)
        best: datetime | None = None
        horizon: datetime | None = None
        while True:
            naive = it.get_next(datetime)
            if horizon is not None and naive > horizon:
                break
            for inst in self._instants(naive):
                if inst > after and (best is None or inst < best):
                    best = inst
                    horizon = naive + 2 * _DST_MARGIN
        assert best is not None
        return best

    def prev_fire(self, at_or_before: datetime) -> datetime:
        """The last fire instant at or before ``at_or_before``."""
        at = utc(at_or_before)
        start = at.astimezone(self.tz).replace(tzinfo=None) + _DST_MARGIN + timedelta(minutes=1)
        from croniter import croniter

        it = croniter(self.expression, start)
        best: datetime | None = None
        horizon: datetime | None = None
        while True:
            naive = it.get_prev(datetime)
            if horizon is not None and naive < horizon:
                break
            for inst in self._instants(naive):
                if inst <= at and (best is None or inst > best):
                    best = inst
                    horizon = naive - 2 * _DST_MARGIN
        assert best is not None
        return best


class Timetable:
    """Base: which runs exist between the DAG's bounds. Subclasses implement the three hooks."""

    periodic = True

    def __init__(self, start: datetime | None, end: datetime | None) -> None:
        self.start = start
        self.end = end

    # hooks -------------------------------------------------------------------------
    def _first_at_or_after(self, moment: datetime) -> DagRunInfo | None:
        raise NotImplementedError

    def _last_due(self, now: datetime) -> DagRunInfo | None:
        raise NotImplementedError

    def infer_manual(self, run_after: datetime) -> DagRunInfo:
        """The run a manual trigger at ``run_after`` gets (Airflow: logical date = trigger time)."""
        t = utc(run_after)
        return DagRunInfo(t, t, t, t)

    # derived -----------------------------------------------------------------------
    def _bounded(self, info: DagRunInfo | None) -> DagRunInfo | None:
        if info is None:
            return None
        if self.start is not None and info.logical_date < self.start:
            return None
        if self.end is not None and info.logical_date > self.end:
            return None
        return info

    def next_after(self, after: datetime | None) -> DagRunInfo | None:
        """The first run whose logical date is after ``after`` (or the first of all when None)."""
        if after is None:
            if self.start is None:
                return None
            return self._bounded(self._first_at_or_after(self.start))
        moment = utc(after) + timedelta(microseconds=1)
        if self.start is not None and moment < self.start:
            moment = self.start
        return self._bounded(self._first_at_or_after(moment))

    def latest_due(self, now: datetime) -> DagRunInfo | None:
        """The latest run that is due at ``now`` (run_after <= now), within the DAG's bounds."""
        now = utc(now)
        if self.end is not None:
            last = self._last_due(now)
            if last is not None and last.logical_date > self.end:
                # past end_date: the last run at or before end_date
                last = self._last_logical_at_or_before(self.end, now)
            return self._bounded(last)
        return self._bounded(self._last_due(now))

    def _last_logical_at_or_before(self, moment: datetime, now: datetime) -> DagRunInfo | None:
        raise NotImplementedError

    def iter_between(self, earliest: datetime, latest: datetime) -> Iterator[DagRunInfo]:
        """Runs whose logical date is in ``[earliest, latest]``, in order (for backfill)."""
        if not self.periodic:
            return
        info = self.next_after(utc(earliest) - timedelta(microseconds=1))
        latest = utc(latest)
        while info is not None and info.logical_date <= latest:
            yield info
            info = self.next_after(info.logical_date)

    def due_runs(
        self, *, last_logical: datetime | None, now: datetime, catchup: bool, limit: int = MAX_CATCHUP_RUNS
    ) -> list[DagRunInfo]:
        """Runs to create at ``now`` given the last created one's logical date.

        ``catchup=True``: every run after ``last_logical`` (from ``start_date`` when None)
        whose ``run_after <= now``, oldest first, at most ``limit``. ``catchup=False``: only
        the latest due run, if it is newer than ``last_logical``.
        """
        now = utc(now)
        if not self.periodic:
            return []
        if not catchup or (last_logical is None and self.start is None):
            latest = self.latest_due(now)
            if latest is None or (last_logical is not None and latest.logical_date <= utc(last_logical)):
                return []
            return [latest]
        out: list[DagRunInfo] = []
        info = self.next_after(last_logical)
        while info is not None and info.run_after <= now and len(out) < limit:
            out.append(info)
            info = self.next_after(info.logical_date)
        return out

    def next_run(self, now: datetime) -> DagRunInfo | None:
        """The first run that is not yet due at ``now`` (for display: "next run at ...")."""
        now = utc(now)
        if not self.periodic:
            return None
        latest = self._last_due(now)
        info = self.next_after(latest.logical_date if latest is not None else None)
        if info is None and latest is None:
            info = self._bounded(self._first_at_or_after(now))
        while info is not None and info.run_after <= now:
            info = self.next_after(info.logical_date)
        return info


class CronTimetable(Timetable):
    """Cron (and presets): logical date = fire time, zero-length data interval (Airflow 3 default)."""

    def __init__(self, cron: CronSchedule, start: datetime | None, end: datetime | None) -> None:
        super().__init__(start, end)
        self.cron = cron

    def _first_at_or_after(self, moment: datetime) -> DagRunInfo | None:
        t = self.cron.next_fire(moment - timedelta(microseconds=1))
        return DagRunInfo(t, t, t, t)

    def _last_due(self, now: datetime) -> DagRunInfo | None:
        t = self.cron.prev_fire(now)
        return DagRunInfo(t, t, t, t)

    def _last_logical_at_or_before(self, moment: datetime, now: datetime) -> DagRunInfo | None:
        return self._last_due(min(moment, now))


class DeltaDataIntervalTimetable(Timetable):
    """``timedelta``: contiguous intervals aligned to start_date; due at the interval end."""

    def __init__(self, delta: timedelta, start: datetime | None, end: datetime | None, *, dag_id: str = "?") -> None:
        if delta <= timedelta(0):
            raise ScheduleError(f"DAG '{dag_id}' has a timedelta schedule of {delta}; it must be positive.")
        super().__init__(start, end)
        self.delta = delta
        self.anchor = start or datetime(1970, 1, 1, tzinfo=UTC)

    def _floor(self, moment: datetime) -> datetime:
        k = math.floor((moment - self.anchor) / self.delta)
        return self.anchor + k * self.delta

    def _info(self, begin: datetime) -> DagRunInfo:
        return DagRunInfo(begin, begin, begin + self.delta, begin + self.delta)

    def _first_at_or_after(self, moment: datetime) -> DagRunInfo | None:
        begin = self._floor(moment)
        if begin < moment:
            begin += self.delta
        return self._info(begin)

    def _last_due(self, now: datetime) -> DagRunInfo | None:
        return self._info(self._floor(now) - self.delta)

    def _last_logical_at_or_before(self, moment: datetime, now: datetime) -> DagRunInfo | None:
        return self._info(self._floor(moment))

    def infer_manual(self, run_after: datetime) -> DagRunInfo:
        """Airflow: a manual run covers the last complete interval before the trigger time."""
        t = utc(run_after)
        end = self._floor(t)
        return DagRunInfo(t, end - self.delta, end, t)


class OnceTimetable(Timetable):
    """``@once``: a single run at start_date (or at the first chance when there is none)."""

    def _first_at_or_after(self, moment: datetime) -> DagRunInfo | None:
        if self.start is None or moment > self.start:
            return None
        return DagRunInfo(self.start, self.start, self.start, self.start)

    def _last_due(self, now: datetime) -> DagRunInfo | None:
        t = self.start if self.start is not None else now
        if t > now:
            return None
        return DagRunInfo(t, t, t, t)

    def _last_logical_at_or_before(self, moment: datetime, now: datetime) -> DagRunInfo | None:
        return self._last_due(now)

    def due_runs(
        self, *, last_logical: datetime | None, now: datetime, catchup: bool, limit: int = MAX_CATCHUP_RUNS
    ) -> list[DagRunInfo]:
        if last_logical is not None:
            return []
        info = self._last_due(utc(now))
        return [info] if info is not None and (self.end is None or info.logical_date <= self.end) else []


class NullTimetable(Timetable):
    """``None`` and asset schedules: no time-based runs."""

    periodic = False

    def _first_at_or_after(self, moment: datetime) -> DagRunInfo | None:
        return None

    def _last_due(self, now: datetime) -> DagRunInfo | None:
        return None

    def _last_logical_at_or_before(self, moment: datetime, now: datetime) -> DagRunInfo | None:
        return None


class ScheduleSpec(Protocol):
    """What a timetable needs of a schedule (``plan.model.Schedule`` is one)."""

    @property
    def kind(self) -> str: ...
    @property
    def expression(self) -> str | None: ...
    @property
    def interval_s(self) -> float | None: ...
    @property
    def preset(self) -> str | None: ...
    @property
    def timezone(self) -> str: ...


def timetable_for_schedule(
    schedule: ScheduleSpec, *, start_date: str | datetime | None, end_date: str | datetime | None, dag_id: str = "?"
) -> Timetable:
    """The timetable for a plan's schedule and bounds. ScheduleError for bad cron / zone / delta."""
    zone(schedule.timezone, dag_id)
    start = utc(start_date) if start_date else None
    end = utc(end_date) if end_date else None
    if start is not None and end is not None and end < start:
        raise ScheduleError(
            f"DAG '{dag_id}' has end_date {end.isoformat()} before start_date {start.isoformat()}."
        )
    if schedule.kind == "cron":
        expression = schedule.expression or schedule.preset
        if not expression:
            raise ScheduleError(f"DAG '{dag_id}' has a cron schedule without an expression.")
        return CronTimetable(CronSchedule(expression, schedule.timezone, dag_id=dag_id), start, end)
    if schedule.kind == "timedelta":
        if not schedule.interval_s:
            raise ScheduleError(f"DAG '{dag_id}' has a timedelta schedule without an interval.")
        return DeltaDataIntervalTimetable(timedelta(seconds=schedule.interval_s), start, end, dag_id=dag_id)
    if schedule.kind == "once":
        return OnceTimetable(start, end)
    return NullTimetable(start, end)

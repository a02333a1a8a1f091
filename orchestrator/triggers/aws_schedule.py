"""Translate a plan's schedule into an EventBridge Scheduler expression.

Pure. EventBridge Scheduler knows three expression forms:

- ``cron(minutes hours day-of-month month day-of-week year)``: six fields; one of
  day-of-month and day-of-week must be ``?``; day-of-week counts 1-7 from **Sunday**
  (Unix cron counts 0-6 from Sunday, 7 also Sunday) and has no ``/`` steps. Evaluated in
  ``ScheduleExpressionTimezone`` with daylight saving applied.
- ``rate(value unit)`` with unit minute(s)/hour(s)/day(s): fixed elapsed time; the phase
  comes from the schedule's ``StartDate``.
- ``at(yyyy-mm-ddThh:mm:ss)``: once.

What AWS cannot express raises :class:`~orchestrator.errors.ScheduleError` naming the DAG
and saying what to do instead (e.g. a cron restricting both day-of-month and day-of-week,
which Unix cron ORs together).

Daylight saving: EventBridge Scheduler skips a cron fire time that falls in a spring-forward
gap and fires a repeated wall-clock time once. Stratus's timetable runs a gap time shifted
forward and an hourly job at both occurrences (see :mod:`.timetable`);
:func:`dst_companion` names the instant where the two differ, for which sync and the fire
handler add a one-time ``at()`` schedule, so the run still happens on time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from orchestrator.errors import ScheduleError
from orchestrator.plan.model import StepPlan
from orchestrator.triggers.timetable import (
    CronSchedule,
    DeltaDataIntervalTimetable,
    timetable_for,
    utc,
    validate_cron,
)

_DOW_NAMES = {"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}
_AWS_DOW_NAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
_MONTH_NAMES = {n: i + 1 for i, n in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])}
_FIELD_RANGES = {"minute": (0, 59), "hour": (0, 23), "day-of-month": (1, 31), "month": (1, 12)}


@dataclass(frozen=True)
class AwsSchedule:
    """What ``scheduler:CreateSchedule`` needs from the DAG's schedule."""

    expression: str
    timezone: str = "UTC"
    start_date: datetime | None = None  # UTC; only set when it matters (rate phase, future start)
    end_date: datetime | None = None
    one_time: bool = False


def _unrestricted(field: str) -> bool:
    return field in ("*", "?", "*/1")


def _expand(token: str, lo: int, hi: int, names: dict[str, int], what: str, dag_id: str, expr: str) -> list[int]:
    """Values of one comma-separated token (``*``, ``a``, ``a-b``, with optional ``/step``)."""
    body, _, step_text = token.partition("/")
    step = 1
    if step_text:
        if not step_text.isdigit() or int(step_text) == 0:
            raise _bad(dag_id, expr, f"the {what} field has an invalid step {token!r}")
        step = int(step_text)

    def value(text: str) -> int:
        upper = text.upper()
        if upper in names:
            return names[upper]
        if not text.isdigit():
            raise _bad(dag_id, expr, f"the {what} field has an invalid value {text!r}")
        return int(text)

    if body == "*":
        first, last = lo, hi
    elif "-" in body:
        a, b = body.split("-", 1)
        first, last = value(a), value(b)
    else:
        first = value(body)
        last = hi if step_text else first
    if not (lo <= first <= hi and lo <= last <= hi) or first > last:
        raise _bad(dag_id, expr, f"the {what} field value {token!r} is outside {lo}-{hi}")
    return list(range(first, last + 1, step))


def _bad(dag_id: str, expr: str, why: str) -> ScheduleError:
    return ScheduleError(f"DAG '{dag_id}' has a cron expression {expr!r} that EventBridge Scheduler cannot use: {why}.")


def _compress(values: list[int]) -> str:
    """Sorted ints as an AWS list with ranges: [1, 2, 3, 5] -> '1-3,5'."""
    parts: list[str] = []
    vals = sorted(set(values))
    i = 0
    while i < len(vals):
        j = i
        while j + 1 < len(vals) and vals[j + 1] == vals[j] + 1:
            j += 1
        parts.append(str(vals[i]) if i == j else f"{vals[i]}-{vals[j]}")
        i = j + 1
    return ",".join(parts)


def _simple_field(field: str, what: str, dag_id: str, expr: str) -> str:
    """Minute, hour, day-of-month or month: AWS has the same syntax as Unix except ``*/n``."""
    if field == "*":
        return "*"
    lo, hi = _FIELD_RANGES[what]
    names = _MONTH_NAMES if what == "month" else {}
    if what == "day-of-month" and field.upper() in ("L", "LW"):
        return field.upper()
    tokens = field.split(",")
    if len(tokens) == 1 and field.startswith("*/"):
        _expand(field, lo, hi, names, what, dag_id, expr)  # validates the step
        return f"{lo}/{field[2:]}"
    if len(tokens) == 1 and "/" in field and "-" not in field:
        _expand(field, lo, hi, names, what, dag_id, expr)
        start = field.split("/")[0]
        start = str(names.get(start.upper(), start))
        return f"{start}/{field.split('/')[1]}"
    values: list[int] = []
    for token in tokens:
        values.extend(_expand(token, lo, hi, names, what, dag_id, expr))
    return _compress(values)


def _dow_field(field: str, dag_id: str, expr: str) -> str:
    """Unix day-of-week (0-7, Sunday 0 and 7, names) -> AWS (1-7, Sunday 1, names)."""
    upper = field.upper()
    if "#" in upper:  # nth weekday of the month, e.g. 5#3 (third Friday)
        day, _, nth = upper.partition("#")
        if "," in upper or not nth.isdigit() or not 1 <= int(nth) <= 5:
            raise _bad(dag_id, expr, f"the day-of-week value {field!r} is not 'D#N' with N in 1-5")
        d = _DOW_NAMES.get(day, None)
        if d is None:
            if not day.isdigit() or int(day) > 7:
                raise _bad(dag_id, expr, f"the day-of-week value {field!r} is invalid")
            d = int(day) % 7
        return f"{d + 1}#{nth}"
    if upper.endswith("L") and upper != "L" and "," not in upper:  # last weekday of month, e.g. 5L
        day = upper[:-1]
        d = _DOW_NAMES.get(day, None)
        if d is None:
            if not day.isdigit() or int(day) > 7:
                raise _bad(dag_id, expr, f"the day-of-week value {field!r} is invalid")
            d = int(day) % 7
        return f"{d + 1}L"
    days: set[int] = set()
    for token in upper.split(","):
        days.update(v % 7 for v in _expand(token, 0, 7, _DOW_NAMES, "day-of-week", dag_id, expr))
    if len(days) == 7:
        return "*"
    return _compress([d + 1 for d in days])


def cron_to_aws(expression: str, *, dag_id: str = "?") -> str:
    """A five-field Unix cron (or preset) as an EventBridge Scheduler ``cron(...)`` expression.

    >>> cron_to_aws("0 6 * * 1-5")
    'cron(0 6 ? * 2-6 *)'

    Raises ScheduleError when both day-of-month and day-of-week are restricted (Unix cron
    runs when *either* matches; AWS allows only one of them).
    """
    text = validate_cron(expression, dag_id)
    minute, hour, dom, month, dow = text.split()
    if not _unrestricted(dom) and not _unrestricted(dow):
        raise ScheduleError(
            f"DAG '{dag_id}' has the cron expression {expression!r}, which restricts both day-of-month "
            f"({dom!r}) and day-of-week ({dow!r}); cron runs when either matches, which EventBridge "
            "Scheduler cannot express (one of the two must be '?'). Restrict only one of them, e.g. "
            f"'{minute} {hour} {dom} {month} *' or '{minute} {hour} * {month} {dow}', or split it into two "
            "DAGs, or check the other condition in a @task.short_circuit task."
        )
    aws_minute = _simple_field(minute, "minute", dag_id, expression)
    aws_hour = _simple_field(hour, "hour", dag_id, expression)
    aws_month = _simple_field(month, "month", dag_id, expression)
    if _unrestricted(dow):
        aws_dom, aws_dow = _simple_field("*" if dom == "?" else dom, "day-of-month", dag_id, expression), "?"
    else:
        aws_dom, aws_dow = "?", _dow_field(dow, dag_id, expression)
        if aws_dow == "*":
            aws_dom, aws_dow = "*", "?"
    return f"cron({aws_minute} {aws_hour} {aws_dom} {aws_month} {aws_dow} *)"


def rate_expression(interval_s: float, *, dag_id: str = "?") -> str:
    """A timedelta schedule as ``rate(...)``; ScheduleError unless it is whole minutes."""
    seconds = float(interval_s)
    if seconds < 60 or not math.isclose(seconds % 60, 0.0, abs_tol=1e-6):
        raise ScheduleError(
            f"DAG '{dag_id}' has a timedelta schedule of {timedelta(seconds=seconds)}, but EventBridge Scheduler "
            "fires at minute precision: use a whole number of minutes (at least 1)."
        )
    minutes = int(round(seconds / 60))
    for unit, size in (("day", 1440), ("hour", 60), ("minute", 1)):
        if minutes % size == 0:
            value = minutes // size
            return f"rate({value} {unit}{'' if value == 1 else 's'})"
    raise AssertionError("unreachable")


def at_expression(moment: datetime) -> str:
    """A UTC instant as ``at(...)`` (use with time zone ``UTC``), rounded up to the minute."""
    t = utc(moment)
    if t.second or t.microsecond:
        t = t.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return f"at({t.strftime('%Y-%m-%dT%H:%M:%S')})"


def to_aws_schedule(plan: StepPlan, *, now: datetime) -> AwsSchedule | None:
    """The EventBridge schedule for ``plan`` at ``now``; None when it needs none.

    None for ``None``/asset schedules, and for DAGs whose ``end_date`` has passed. A
    ``@once`` DAG gets an ``at()`` for its start date, or for the next minute when the start
    date has passed (the caller drops it once the run exists). A timedelta gets a ``rate()``
    whose ``StartDate`` is the next interval end, so fires land on interval boundaries.
    """
    now = utc(now)
    schedule = plan.schedule
    tt = timetable_for(plan)  # validates cron, zone, bounds
    end = utc(plan.end_date) if plan.end_date else None
    start = utc(plan.start_date) if plan.start_date else None
    if schedule.kind in ("none", "assets"):
        return None
    if end is not None and end < now and schedule.kind != "once":
        return None
    if schedule.kind == "cron":
        expression = cron_to_aws(schedule.expression or schedule.preset or "", dag_id=plan.dag_id)
        return AwsSchedule(
            expression=expression,
            timezone=schedule.timezone,
            start_date=start if start is not None and start > now else None,
            end_date=end + timedelta(minutes=1) if end is not None else None,
        )
    if schedule.kind == "timedelta":
        assert isinstance(tt, DeltaDataIntervalTimetable)
        expression = rate_expression(schedule.interval_s or 0, dag_id=plan.dag_id)
        first = tt.next_run(now)
        return AwsSchedule(
            expression=expression,
            timezone="UTC",
            start_date=first.run_after if first is not None else None,
            end_date=end + tt.delta + timedelta(minutes=1) if end is not None else None,
        )
    # once
    when = start if start is not None and start > now else now + timedelta(minutes=1)
    return AwsSchedule(expression=at_expression(when), timezone="UTC", one_time=True)


def _aws_next_fire(cron: CronSchedule, after: datetime) -> datetime:
    """Where EventBridge Scheduler fires next: gap times skipped, repeated times once."""
    start = after.astimezone(cron.tz).replace(tzinfo=None) - timedelta(hours=3)
    from croniter import croniter

    it = croniter(cron.expression, start)
    while True:
        naive = it.get_next(datetime)
        inst = naive.replace(tzinfo=cron.tz, fold=0).astimezone(UTC)
        if inst.astimezone(cron.tz).replace(tzinfo=None) != naive:
            continue  # in the gap: AWS skips it
        if inst > after:
            return inst


def dst_companion(plan: StepPlan, *, after: datetime) -> datetime | None:
    """The next fire time of ``plan`` after ``after`` that EventBridge Scheduler would miss.

    A daily 02:30 in Europe/Berlin: on the spring-forward day AWS skips it, while the
    timetable runs it at 03:30 CEST; this returns that instant so the caller can add a
    one-time ``at()`` schedule. None when AWS's next fire is also the timetable's.
    """
    if plan.schedule.kind != "cron" or plan.schedule.timezone in ("UTC", "Etc/UTC"):
        return None
    cron = CronSchedule(plan.schedule.expression or plan.schedule.preset or "", plan.schedule.timezone,
                        dag_id=plan.dag_id)
    after = utc(after)
    ours = cron.next_fire(after)
    if plan.end_date and ours > utc(plan.end_date):
        return None
    if plan.start_date and ours < utc(plan.start_date):
        return None
    return ours if ours < _aws_next_fire(cron, after) else None

"""EventBridge Scheduler expressions, evaluated the way the service does (pure functions).

``at(yyyy-mm-ddThh:mm:ss)`` fires once; ``rate(n unit)`` fires every n units from the
schedule's start; ``cron(minutes hours day-of-month month day-of-week year)`` fires at each
match. All are read in the schedule's time zone (``ScheduleExpressionTimezone``, default UTC)
and fire at minute precision, as the service does. AWS cron numbers days of the week 1-7 from
Sunday and needs ``?`` in one of the two day fields; croniter (used for the matching) numbers
them 0-6, so the fields are translated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from orchestrator.errors import ScheduleError

# croniter is imported where used (orchestrator.timetable says why).

_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}

# Safety cap: fast-forwarding a year over rate(1 minute) does not fire half a million times.
MAX_FIRES_PER_STEP = 2000


@dataclass(frozen=True)
class Expression:
    """A parsed schedule expression: ``kind`` is "at", "rate" or "cron"."""

    kind: str
    text: str
    tz: ZoneInfo
    at: datetime | None = None
    every: timedelta | None = None
    cron: str | None = None
    years: frozenset[int] | None = None

    @property
    def recurring(self) -> bool:
        return self.kind != "at"


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"Unknown schedule time zone {name!r}: use an IANA name such as 'Europe/Paris'.") from exc


def _dow(field: str) -> str:
    """AWS day-of-week (1-7 = SUN-SAT, names, L, #) -> croniter (0-6 = SUN-SAT)."""
    if field == "?":
        return "*"

    def one(match: re.Match[str]) -> str:
        return str(int(match.group(0)) - 1)

    head, sep, nth = field.partition("#")
    head = re.sub(r"\d+", one, head) if not head.isalpha() else head
    return head + sep + nth


def _years(field: str) -> frozenset[int] | None:
    if field in ("*", "?"):
        return None
    years: set[int] = set()
    for part in field.split(","):
        if "-" in part:
            lo, hi = part.split("-", 1)
            step = 1
            if "/" in hi:
                hi, st = hi.split("/", 1)
                step = int(st)
            years.update(range(int(lo), int(hi) + 1, step))
        else:
            years.add(int(part))
    return frozenset(years)


def parse(text: str, timezone_name: str | None = "UTC") -> Expression:
    """Parse a Scheduler expression; raises ``ScheduleError`` quoting it when it is not valid."""
    tz = _zone(timezone_name)
    text = text.strip()
    if m := _AT.match(text):
        at = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=tz)
        return Expression("at", text, tz, at=at)
    if m := _RATE.match(text):
        n, unit = int(m.group(1)), m.group(2).rstrip("s")
        if n < 1:
            raise ScheduleError(f"Schedule expression {text!r}: the rate must be at least 1.")
        return Expression("rate", text, tz, every=timedelta(seconds=n * _UNIT_S[unit]))
    if m := _CRON.match(text):
        fields = m.group(1).split()
        if len(fields) != 6:
            raise ScheduleError(
                f"Schedule expression {text!r}: cron() takes 6 fields (minutes hours day-of-month month day-of-week year)."
            )
        minute, hour, dom, month, dow, year = fields
        if "W" in dom:
            raise ScheduleError(f"Schedule expression {text!r}: 'W' (nearest weekday) is not supported by the local cloud.")
        expr = " ".join([minute, hour, "*" if dom == "?" else dom, month, _dow(dow)])
        from croniter import croniter

        if not croniter.is_valid(expr):
            raise ScheduleError(f"Schedule expression {text!r} is not a valid cron expression.")
        return Expression("cron", text, tz, cron=expr, years=_years(year))
    raise ScheduleError(
        f"Schedule expression {text!r} is not valid: use at(yyyy-mm-ddThh:mm:ss), rate(n minutes|hours|days) or cron(...)."
    )


def occurrences(expr: Expression, *, after: datetime, until: datetime, anchor: datetime) -> list[datetime]:
    """Fire times t with ``after < t <= until`` (UTC-aware), oldest first, at most ``MAX_FIRES_PER_STEP``.

    ``anchor`` is where a rate() schedule counts from (its start date or creation).
    """
    out: list[datetime] = []
    if expr.kind == "at":
        assert expr.at is not None
        if after < expr.at <= until:
            out.append(expr.at.astimezone(timezone.utc))
        return out
    if expr.kind == "rate":
        assert expr.every is not None
        step = expr.every.total_seconds()
        k = max(1, int((after - anchor).total_seconds() // step) + 1)
        while len(out) < MAX_FIRES_PER_STEP:
            t = anchor + timedelta(seconds=k * step)
            if t > until:
                break
            if t > after:
                out.append(t.astimezone(timezone.utc))
            k += 1
        return out
    assert expr.cron is not None
    from croniter import croniter

    it = croniter(expr.cron, after.astimezone(expr.tz))
    while len(out) < MAX_FIRES_PER_STEP:
        t = it.get_next(datetime)
        if t > until:
            break
        if expr.years is None or t.year in expr.years:
            out.append(t.astimezone(timezone.utc))
    return out


def next_occurrence(expr: Expression, *, after: datetime, anchor: datetime, horizon: timedelta = timedelta(days=800)) -> datetime | None:
    """The first fire time after ``after``, or None (one-time schedule already past, or none within the horizon)."""
    if expr.kind == "at":
        assert expr.at is not None
        return expr.at.astimezone(timezone.utc) if expr.at > after else None
    if expr.kind == "rate":
        assert expr.every is not None
        step = expr.every.total_seconds()
        k = max(1, int((after - anchor).total_seconds() // step) + 1)
        t = anchor + timedelta(seconds=k * step)
        while t <= after:
            k += 1
            t = anchor + timedelta(seconds=k * step)
        return t.astimezone(timezone.utc)
    assert expr.cron is not None
    from croniter import croniter

    it = croniter(expr.cron, after.astimezone(expr.tz))
    limit = after + horizon
    while True:
        t = it.get_next(datetime)
        if t > limit:
            return None
        if expr.years is None or t.year in expr.years:
            return t.astimezone(timezone.utc)

"""Asset partitions' rollup windows and wait policies (Airflow 3.3's ``airflow.partition_mappers.window`` and
``wait_policy``): which upstream partitions make up one downstream period, and when a rollup may fire.

Used by ``RollupMapper`` and ``FanOutMapper`` (``authoring.partitions``); each has a JSON form for the plan
(``spec()``, :func:`window_from_spec`). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from orchestrator.errors import DagDefinitionError

# ------------------------------------------------------------------ wait policies


class WaitPolicy:
    """When a rollup's downstream run may start, given the upstream keys expected and arrived."""

    def satisfied(self, matched: set[str], expected: set[str]) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError

    def spec(self) -> dict[str, Any]:  # pragma: no cover - overridden
        raise NotImplementedError


class WaitForAll(WaitPolicy):
    """Every expected upstream key has arrived (the default)."""

    def satisfied(self, matched: set[str], expected: set[str]) -> bool:
        return expected <= matched

    def spec(self) -> dict[str, Any]:
        return {"type": "WaitForAll"}

    def __repr__(self) -> str:
        return "WaitForAll()"


class MinimumCount(WaitPolicy):
    """``n > 0``: at least ``n`` expected keys arrived; ``n < 0``: at most ``-n`` still missing."""

    def __init__(self, n: int) -> None:
        if not isinstance(n, int) or n == 0:
            raise DagDefinitionError("MinimumCount(0) would always fire; use WaitForAll() or MinimumCount(n), n != 0.")
        self.n = n

    def satisfied(self, matched: set[str], expected: set[str]) -> bool:
        got = len(matched & expected)
        return got >= self.n if self.n > 0 else got >= max(0, len(expected) + self.n)

    def spec(self) -> dict[str, Any]:
        return {"type": "MinimumCount", "n": self.n}

    def __repr__(self) -> str:
        return f"MinimumCount({self.n})"


# ------------------------------------------------------------------ windows


class Window:
    """Which decoded upstream members make up one downstream period (a rollup's or a fan-out's)."""

    class Direction(str, Enum):
        BACKWARD = "backward"  # the period ending at the key
        FORWARD = "forward"  # the period starting at the key (default)

    temporal = True
    _count = 0  # fixed-size windows
    _step: tuple[str, int] = ("days", 1)

    def __init__(self, *, direction: Window.Direction | str = Direction.FORWARD) -> None:
        self.direction = Window.Direction(direction)

    def members(self, start: Any) -> list[Any]:
        base = self._shift(start, -(self._count - 1)) if self.direction is Window.Direction.BACKWARD else start
        return [self._shift(base, i) for i in range(self._count)]

    def _shift(self, dt: datetime, n: int) -> datetime:
        unit, size = self._step
        if unit == "months":
            _day_one(dt, self)
            total = dt.month - 1 + n * size
            return dt.replace(year=dt.year + total // 12, month=total % 12 + 1)
        return dt + timedelta(**{unit: n * size})

    def spec(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "direction": self.direction.value}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(direction={self.direction.value!r})"


def _day_one(dt: datetime, window: Window) -> None:
    if dt.day != 1:
        raise ValueError(f"{type(window).__name__} expects a period start on day 1 of the month, got {dt.isoformat()}.")


class HourWindow(Window):
    """The 60 minutes of an hour."""

    _count, _step = 60, ("minutes", 1)


class DayWindow(Window):
    """The 24 hours of a day (naive hourly steps, as in Airflow)."""

    _count, _step = 24, ("hours", 1)


class WeekWindow(Window):
    """The 7 days of a week."""

    _count, _step = 7, ("days", 1)


class MonthWindow(Window):
    """The days of a calendar month (28 to 31); backward: the days after the previous month's
    same day up to the key's day."""

    def members(self, start: Any) -> list[Any]:
        _day_one(start, self)
        if self.direction is Window.Direction.BACKWARD:
            prev = _months(start, -1)
            return [prev + timedelta(days=i + 1) for i in range((start - prev).days)]
        return [start + timedelta(days=i) for i in range((_months(start, 1) - start).days)]


def _months(dt: datetime, n: int) -> datetime:
    total = dt.month - 1 + n
    return dt.replace(year=dt.year + total // 12, month=total % 12 + 1)


class QuarterWindow(Window):
    """The 3 months of a quarter."""

    _count, _step = 3, ("months", 1)


class YearWindow(Window):
    """The 12 months of a year."""

    _count, _step = 12, ("months", 1)


class SegmentWindow(Window):
    """A fixed set of categorical keys (``["us", "eu", "apac"]``), whatever the downstream key."""

    temporal = False

    def __init__(self, segments: Iterable[str]) -> None:
        items = list(segments)
        for i, item in enumerate(items):
            if not isinstance(item, str) or not item:
                raise DagDefinitionError(f"SegmentWindow keys must be non-empty strings; got {item!r} at index {i}.")
        if not items:
            raise DagDefinitionError("SegmentWindow needs at least one segment key.")
        super().__init__()
        self.segments = frozenset(items)

    def members(self, start: Any) -> list[Any]:
        return sorted(self.segments)

    def spec(self) -> dict[str, Any]:
        return {"type": "SegmentWindow", "segments": sorted(self.segments)}

    def __repr__(self) -> str:
        return f"SegmentWindow({sorted(self.segments)!r})"


_WINDOWS: dict[str, type[Window]] = {c.__name__: c for c in (HourWindow, DayWindow, WeekWindow, MonthWindow,
                                                              QuarterWindow, YearWindow)}


def window_from_spec(spec: dict[str, Any]) -> Window:
    if spec["type"] == "SegmentWindow":
        return SegmentWindow(spec["segments"])
    return _WINDOWS[spec["type"]](direction=spec.get("direction", "forward"))

"""Airflow's ``timezone`` helpers (``airflow.utils.timezone``, ``airflow.sdk.timezone``) on pendulum.

``timezone.datetime(2026, 1, 1)`` is a UTC-aware pendulum DateTime (the usual ``start_date``
spelling in Airflow DAG files); ``utcnow``, ``make_aware``, ``make_naive``, ``convert_to_utc``,
``coerce_datetime`` and ``parse`` behave as Airflow's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pendulum

utc = pendulum.UTC


# Where "now" comes from: wall time, or (while a local cloud runs) its clock, which tests
# fast-forward, so that sensors and task code see the time the timers see.
_CLOCK: list[Callable[[], float]] = []


def set_clock(clock: Callable[[], float] | None) -> None:
    """Make ``utcnow()`` read ``clock()`` (epoch seconds); None restores wall time. Local cloud only."""
    _CLOCK[:] = [clock] if clock is not None else []


def utcnow() -> pendulum.DateTime:
    """The current time, UTC-aware."""
    if _CLOCK:
        return pendulum.from_timestamp(_CLOCK[0](), tz=utc)
    return pendulum.now(utc)


def datetime(*args: Any, **kwargs: Any) -> pendulum.DateTime:
    """``datetime.datetime`` with ``tzinfo`` defaulting to UTC (a pendulum DateTime)."""
    tz = kwargs.pop("tzinfo", None) or kwargs.pop("tz", None) or utc
    value = dt.datetime(*args, **kwargs)
    return pendulum.instance(value.replace(tzinfo=None), tz=tz)


def make_aware(value: dt.datetime, timezone: Any = None) -> pendulum.DateTime:
    """A naive datetime read in ``timezone`` (default UTC); an aware one is refused, as in Airflow."""
    if value.tzinfo is not None and value.utcoffset() is not None:
        raise ValueError(f"make_aware expects a naive datetime, got {value}")
    tz = pendulum.timezone(timezone) if isinstance(timezone, str) else (timezone or utc)
    return pendulum.instance(value, tz=tz)


def make_naive(value: dt.datetime, timezone: Any = None) -> dt.datetime:
    """An aware datetime converted to ``timezone`` (default UTC) with its tzinfo dropped."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("make_naive() cannot be applied to a naive datetime")
    tz = pendulum.timezone(timezone) if isinstance(timezone, str) else (timezone or utc)
    return value.astimezone(tz).replace(tzinfo=None)


def convert_to_utc(value: dt.datetime | None) -> pendulum.DateTime | None:
    """``value`` in UTC (a naive value is taken as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return pendulum.instance(value, tz=utc)
    return pendulum.instance(value).in_timezone(utc)


def coerce_datetime(value: dt.datetime | None, tz: Any = None) -> pendulum.DateTime | None:
    """A pendulum DateTime (naive values read in ``tz``, default UTC)."""
    if value is None:
        return None
    if isinstance(value, pendulum.DateTime):
        return value
    if value.tzinfo is None:
        return pendulum.instance(value, tz=tz or utc)
    return pendulum.instance(value)


def parse(text: str, timezone: Any = None) -> pendulum.DateTime:
    """Parse an ISO-8601 string (naive text read in ``timezone``, default UTC)."""
    return pendulum.parse(text, tz=timezone or utc)  # type: ignore[return-value]

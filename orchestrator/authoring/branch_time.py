"""Branching on time: ``BranchDateTimeOperator``, ``BranchDayOfWeekOperator``, ``WeekDay``, ``BaseBranchOperator``.

As in Airflow 3's standard provider: each returns the task ids to follow and the engine skips the
other direct downstream tasks (a ``branch`` step). "Now" is the wall clock (the local cloud's
clock locally), or the run's ``logical_date`` with ``use_task_logical_date=True``.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from typing import Any, ClassVar

from orchestrator.authoring import timezone
from orchestrator.authoring.baseoperator import BaseOperator
from orchestrator.errors import DagDefinitionError


class BaseBranchOperator(BaseOperator):
    """Subclass and implement ``choose_branch(context)``: it returns the task id(s) (or group ids) to follow."""

    _step_kind: ClassVar[str] = "branch"

    def choose_branch(self, context: dict[str, Any]) -> str | Iterable[str] | None:
        raise NotImplementedError(f"{type(self).__name__} must implement choose_branch(context)")

    def execute(self, context: dict[str, Any]) -> Any:
        return self.choose_branch(context)


class WeekDay(enum.IntEnum):
    """Python's ``isoweekday()`` numbers by name (Airflow's ``airflow.utils.weekday.WeekDay``)."""

    MONDAY = 1
    TUESDAY = 2
    WEDNESDAY = 3
    THURSDAY = 4
    FRIDAY = 5
    SATURDAY = 6
    SUNDAY = 7

    @classmethod
    def get_weekday_number(cls, week_day_str: str) -> int:
        """The number of ``"Monday"`` (any case); ``AttributeError`` naming the day otherwise, as in Airflow."""
        sanitized = week_day_str.upper()
        if sanitized not in cls.__members__:
            raise AttributeError(f'Invalid Week Day passed: "{week_day_str}"')
        return cls[sanitized]

    @classmethod
    def convert(cls, day: str | WeekDay) -> int:
        return day if isinstance(day, WeekDay) else cls.get_weekday_number(day)

    @classmethod
    def validate_week_day(cls, week_day: Any) -> set[int]:
        """The isoweekday numbers of a day, a ``WeekDay``, or a set/list of them."""
        if isinstance(week_day, str):
            return {cls.get_weekday_number(week_day)}
        if isinstance(week_day, WeekDay):
            return {int(week_day)}
        if isinstance(week_day, (set, list, tuple, frozenset)) and all(
                isinstance(d, (str, WeekDay)) for d in week_day):
            return {cls.convert(d) for d in week_day}
        raise TypeError(f"Unsupported Type for week_day parameter: {type(week_day)}. Input should be iterable type: "
                        "str, set, list, dict or Weekday enum type")


def _now(op: BaseOperator, context: dict[str, Any], use_logical: bool) -> Any:
    if use_logical:
        return timezone.coerce_datetime(context["logical_date"])
    return timezone.utcnow()


def _dag_tz(op: BaseOperator) -> Any:
    start = getattr(op.dag, "start_date", None)
    return start.tzinfo if isinstance(start, dt.datetime) and start.tzinfo is not None else timezone.utc


def target_times_as_dates(base: dt.datetime, lower: Any, upper: Any) -> tuple[Any, Any]:
    """Airflow's rule: ``time`` targets are taken on ``base``'s day; an upper time below the lower one is
    the next day's."""
    if isinstance(lower, dt.datetime) and isinstance(upper, dt.datetime):
        return lower, upper
    if isinstance(lower, dt.time):
        lower = dt.datetime.combine(base.date(), lower)
    if isinstance(upper, dt.time):
        upper = dt.datetime.combine(base.date(), upper)
    if lower is None or upper is None:
        return lower, upper
    if upper < lower:
        upper += dt.timedelta(days=1)
    return lower, upper


class BranchDateTimeOperator(BaseBranchOperator):
    """Follow ``follow_task_ids_if_true`` when now is between ``target_lower`` and ``target_upper``
    (``datetime`` or ``time``; either may be None), else ``follow_task_ids_if_false``."""

    def __init__(self, *, follow_task_ids_if_true: str | Iterable[str], follow_task_ids_if_false: str | Iterable[str],
                 target_lower: dt.datetime | dt.time | None = None, target_upper: dt.datetime | dt.time | None = None,
                 use_task_logical_date: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if target_lower is None and target_upper is None:
            raise DagDefinitionError(f"Task '{self.task_id}': Both target_upper and target_lower are None. At least "
                                     "one must be defined.")
        self.target_lower, self.target_upper = target_lower, target_upper
        self.follow_task_ids_if_true = follow_task_ids_if_true
        self.follow_task_ids_if_false = follow_task_ids_if_false
        self.use_task_logical_date = use_task_logical_date

    def choose_branch(self, context: dict[str, Any]) -> Any:
        now = _now(self, context, self.use_task_logical_date)
        lower, upper = target_times_as_dates(now, self.target_lower, self.target_upper)
        tz = _dag_tz(self)
        lower = timezone.coerce_datetime(lower, tz)
        upper = timezone.coerce_datetime(upper, tz)
        if upper is not None and upper < now:
            return self.follow_task_ids_if_false
        if lower is not None and lower > now:
            return self.follow_task_ids_if_false
        return self.follow_task_ids_if_true


class BranchDayOfWeekOperator(BaseBranchOperator):
    """Follow ``follow_task_ids_if_true`` on ``week_day`` (a name, a ``WeekDay``, or a set of them)."""

    def __init__(self, *, follow_task_ids_if_true: str | Iterable[str], follow_task_ids_if_false: str | Iterable[str],
                 week_day: Any, use_task_logical_date: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.follow_task_ids_if_true = follow_task_ids_if_true
        self.follow_task_ids_if_false = follow_task_ids_if_false
        self.week_day = week_day
        self.use_task_logical_date = use_task_logical_date
        try:
            self._week_day_num = WeekDay.validate_week_day(week_day)
        except (AttributeError, TypeError) as exc:
            raise DagDefinitionError(f"Task '{self.task_id}': {exc}.") from None

    def choose_branch(self, context: dict[str, Any]) -> Any:
        now = _now(self, context, self.use_task_logical_date)
        if now.isoweekday() in self._week_day_num:
            return self.follow_task_ids_if_true
        return self.follow_task_ids_if_false

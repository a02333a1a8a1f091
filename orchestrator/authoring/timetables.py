"""Timetables beyond plain cron text: a cron schedule in a named time zone."""

from __future__ import annotations


class CronTriggerTimetable:
    """Fire at each cron time in ``timezone`` (IANA name, e.g. "Europe/Paris"), as Airflow's.

    Example: ``schedule=CronTriggerTimetable("0 6 * * 1-5", timezone="America/New_York")``.
    The cron text and the time zone are checked by the plan validator.
    """

    def __init__(self, cron: str, *, timezone: str = "UTC") -> None:
        self.expression = cron
        self.timezone = timezone

    def __repr__(self) -> str:
        return f"CronTriggerTimetable({self.expression!r}, timezone={self.timezone!r})"

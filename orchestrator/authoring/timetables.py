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


class AssetOrTimeSchedule:
    """Run on a timetable AND whenever ``assets`` are updated (Airflow 3): e.g.
    ``AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 1 * * 3", timezone="UTC"), assets=(a & b))``.

    The timetable becomes an EventBridge Scheduler schedule (``scheduled`` runs); asset events start
    ``asset_triggered`` runs as an asset schedule does. ``timetable`` may be a ``CronTriggerTimetable``,
    cron text or a preset.
    """

    def __init__(self, *, timetable: object, assets: object) -> None:
        self.timetable = timetable
        self.assets = assets

    def __repr__(self) -> str:
        return f"AssetOrTimeSchedule(timetable={self.timetable!r}, assets={self.assets!r})"

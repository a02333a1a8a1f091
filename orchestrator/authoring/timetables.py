"""Timetables beyond plain cron text: a cron schedule in a named time zone."""

from __future__ import annotations

from typing import Any


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


class CronPartitionTimetable(CronTriggerTimetable):
    """Fire at each cron time, each run partitioned (Airflow 3.2+): its ``partition_key`` is the fire time
    moved by ``run_offset`` cron intervals (negative: earlier), in ``timezone``, formatted with
    ``key_format``; the events its tasks emit carry that key.

    Example: ``schedule=CronPartitionTimetable("0 * * * *", timezone="UTC")`` gives the run fired at
    10:00 the key ``"2026-03-10T10:00:00"``.
    """

    def __init__(self, cron: str, *, timezone: str = "UTC", run_offset: int | None = None,
                 run_immediately: Any = False, key_format: str = r"%Y-%m-%dT%H:%M:%S") -> None:
        super().__init__(cron, timezone=timezone)
        self.run_offset = run_offset
        self.run_immediately = run_immediately
        self.key_format = key_format

    def __repr__(self) -> str:
        return f"CronPartitionTimetable({self.expression!r}, timezone={self.timezone!r})"


class PartitionedAtRuntime:
    """No time-based runs (as ``schedule=None``); the tasks decide the partition keys of the events they
    emit: ``outlet_events[asset].add_partitions("us")`` (Airflow 3.3)."""

    def __repr__(self) -> str:
        return "PartitionedAtRuntime()"


class PartitionedAssetTimetable:
    """Run once per partition of ``assets`` (Airflow 3.2+): each partitioned event's key goes through the
    mapper of its asset (``partition_mapper_config[asset]``, else ``default_partition_mapper``,
    ``IdentityMapper()`` by default) and a run starts, with that ``partition_key``, when the asset
    condition is met by events mapped to the same key. Events without a partition key start nothing here.
    """

    def __init__(self, *, assets: Any, partition_mapper_config: dict[Any, Any] | None = None,
                 default_partition_mapper: Any = None) -> None:
        from orchestrator.authoring.partitions import IdentityMapper

        self.assets = assets
        self.partition_mapper_config = dict(partition_mapper_config or {})
        self.default_partition_mapper = default_partition_mapper if default_partition_mapper is not None \
            else IdentityMapper()

    def __repr__(self) -> str:
        return f"PartitionedAssetTimetable(assets={self.assets!r})"

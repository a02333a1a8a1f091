"""Turn a DAG's ``schedule`` (cron, preset, timedelta, None, assets, timetable) into ``Schedule``."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta, tzinfo
from typing import Any

from orchestrator.authoring.assets import Asset, AssetAlias, AssetAll, AssetAny, BaseAsset, asset_uri_problem
from orchestrator.authoring.timetables import (
    AssetOrTimeSchedule,
    CronPartitionTimetable,
    CronTriggerTimetable,
    PartitionedAssetTimetable,
    PartitionedAtRuntime,
)
from orchestrator.plan.model import AssetCondition, Partitioning, Schedule

PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@midnight": "0 0 * * *",
}


def timezone_name(tz: tzinfo | None) -> str | None:
    """IANA name of ``tz`` ("UTC" for naive or zero-offset fixed zones); None when it has none."""
    if tz is None:
        return "UTC"
    for attr in ("key", "name", "zone"):
        name = getattr(tz, attr, None)
        if isinstance(name, str) and name:
            return name
    offset = tz.utcoffset(datetime(2000, 1, 1))
    if offset == timedelta(0):
        return "UTC"
    return None


def cron_problem(expression: str) -> str | None:
    """Why ``expression`` is not a 5-field cron text, or None."""
    from croniter import croniter

    fields = expression.split()
    if len(fields) != 5:
        return (
            f"cron {expression!r} has {len(fields)} fields; write 5 (minute hour day-of-month month "
            "day-of-week), e.g. '0 6 * * *', or a preset such as '@daily'"
        )
    if not croniter.is_valid(expression):
        return f"cron {expression!r} is not valid; check each field (e.g. '0 6 * * 1-5')"
    return None


def asset_condition(value: Any) -> AssetCondition:
    """The plan form of an asset expression (a list means all)."""
    if isinstance(value, (Asset, AssetAlias)):  # an alias as "alias:NAME": its events carry source_aliases
        return AssetCondition(uri=value.uri)
    if isinstance(value, AssetAny):
        return AssetCondition(any=[asset_condition(o) for o in value.objects])
    if isinstance(value, AssetAll):
        return AssetCondition(all=[asset_condition(o) for o in value.objects])
    return AssetCondition(all=[asset_condition(o) for o in value])


def _is_asset_list(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, BaseAsset) for v in value)


def _partitioned_assets(schedule: PartitionedAssetTimetable, start_date: Any,
                        problems: list[str]) -> tuple[Schedule | None, list[str]]:
    from orchestrator.authoring.partitions import mapper_problem

    base, problems = normalize_schedule(schedule.assets, start_date)
    if base is None or base.kind != "assets":
        if base is not None:
            problems.append(f"PartitionedAssetTimetable assets must be Asset(...) objects (or & / | of them), "
                            f"got {schedule.assets!r}")
        return None, problems
    if any(isinstance(a, AssetAlias) for a in _leaves(schedule.assets)):
        problems.append("PartitionedAssetTimetable on an AssetAlias is not served (Stratus matches partitioned "
                        "events to the assets themselves); schedule on the assets the alias stands for")
    mappers: dict[str, dict[str, Any]] = {}
    for asset, mapper in schedule.partition_mapper_config.items():
        uri = getattr(asset, "uri", None)
        if not isinstance(asset, Asset) or not isinstance(uri, str):
            problems.append(f"partition_mapper_config keys must be Asset(...) objects, got {asset!r}")
            continue
        problem = mapper_problem(mapper)
        if problem:
            problems.append(problem)
            continue
        mappers[uri] = mapper.spec()
    problem = mapper_problem(schedule.default_partition_mapper)
    if problem:
        problems.append(problem)
    if problems:
        return None, problems
    return base.model_copy(update={"partitioning": Partitioning(
        kind="assets", default_mapper=schedule.default_partition_mapper.spec(), mappers=mappers)}), problems


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, (AssetAll, AssetAny)):
        return [x for o in value.objects for x in _leaves(o)]
    if isinstance(value, (list, tuple)):
        return [x for o in value for x in _leaves(o)]
    return [value]


def normalize_schedule(schedule: Any, start_date: Any) -> tuple[Schedule | None, list[str]]:
    """``(Schedule, problems)``; on a problem the schedule is None. Problems are sentence fragments."""
    tz = timezone_name(start_date.tzinfo) if isinstance(start_date, datetime) else "UTC"
    problems: list[str] = []
    if tz is None:
        problems.append(
            "start_date has a fixed UTC offset, not a named time zone; use "
            "datetime(..., tzinfo=ZoneInfo('Europe/Paris')) or a UTC datetime"
        )
        tz = "UTC"
    if schedule is None:
        return Schedule(kind="none", timezone=tz), problems
    if isinstance(schedule, AssetOrTimeSchedule):
        # The timetable's schedule (EventBridge Scheduler) with the asset condition beside it: runs on either.
        timed, problems = normalize_schedule(schedule.timetable, start_date)
        assets = schedule.assets
        if not (isinstance(assets, BaseAsset) or _is_asset_list(assets)):
            problems.append(f"AssetOrTimeSchedule assets must be Asset(...) objects (or & / | of them), got {assets!r}")
        elif timed is not None and timed.kind not in ("cron", "timedelta"):
            problems.append(f"AssetOrTimeSchedule needs a cron timetable, got {schedule.timetable!r}")
        if problems or timed is None:
            return None, problems
        members: Any = assets
        for a in (assets.iter_assets() if isinstance(assets, BaseAsset) else [x for i in members for x in i.iter_assets()]):
            problem = asset_uri_problem(a.uri)
            if problem:
                problems.append(problem)
        return timed.model_copy(update={"assets": asset_condition(assets)}), problems
    if isinstance(schedule, PartitionedAtRuntime):
        return Schedule(kind="none", timezone=tz, partitioning=Partitioning(kind="runtime")), problems
    if isinstance(schedule, PartitionedAssetTimetable):
        return _partitioned_assets(schedule, start_date, problems)
    if isinstance(schedule, CronPartitionTimetable):
        timed, problems = normalize_schedule(CronTriggerTimetable(schedule.expression, timezone=schedule.timezone),
                                             start_date)
        if not isinstance(schedule.run_offset, (int, type(None))) or isinstance(schedule.run_offset, bool):
            problems.append(f"CronPartitionTimetable run_offset must be an integer, got {schedule.run_offset!r}")
        if not isinstance(schedule.key_format, str) or not schedule.key_format:
            problems.append(f"CronPartitionTimetable key_format must be a strftime text, got {schedule.key_format!r}")
        if problems or timed is None:
            return None, problems
        return timed.model_copy(update={"partitioning": Partitioning(
            kind="cron", key_format=schedule.key_format, run_offset=schedule.run_offset or 0)}), problems
    if isinstance(schedule, CronTriggerTimetable):
        tz = schedule.timezone
        try:
            zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
            problems.append(f"time zone {tz!r} is unknown; use an IANA name such as 'Europe/Paris' or 'UTC'")
        schedule = schedule.expression
    if isinstance(schedule, str):
        text = schedule.strip()
        if text == "@once":
            return (Schedule(kind="once", expression="@once", preset="@once", timezone=tz), problems)
        if text.startswith("@"):
            if text == "@continuous":
                problems.append("schedule '@continuous' is not supported (nothing runs all the time on Lambda); "
                                "use a cron schedule or an Asset schedule that starts a run when data lands")
                return None, problems
            if text not in PRESETS:
                known = ", ".join(["@once", *PRESETS])
                problems.append(f"schedule preset {text!r} is unknown; use one of {known} or a cron text")
                return None, problems
            return Schedule(kind="cron", expression=PRESETS[text], preset=text, timezone=tz), problems
        problem = cron_problem(text)
        if problem:
            problems.append(problem)
            return None, problems
        return Schedule(kind="cron", expression=text, timezone=tz), problems
    if isinstance(schedule, timedelta):
        if schedule.total_seconds() < 60:
            problems.append(f"schedule timedelta {schedule} is shorter than a minute (EventBridge's precision)")
            return None, problems
        return Schedule(kind="timedelta", interval_s=schedule.total_seconds(), timezone=tz), problems
    if isinstance(schedule, BaseAsset) or _is_asset_list(schedule):
        assets = schedule.iter_assets() if isinstance(schedule, BaseAsset) else [
            a for item in schedule for a in item.iter_assets()]
        for a in assets:
            problem = asset_uri_problem(a.uri)
            if problem:
                problems.append(problem)
        return Schedule(kind="assets", assets=asset_condition(schedule), timezone=tz), problems
    problems.append(
        f"schedule {schedule!r} is not supported; use a cron text, a preset like '@daily', a "
        "timedelta, None, an Asset (or a list of assets), or CronTriggerTimetable"
    )
    return None, problems

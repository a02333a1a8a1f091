from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from orchestrator import Asset, CronTriggerTimetable
from orchestrator.plan.schedule import PRESETS, normalize_schedule

START = datetime(2026, 1, 1)


@pytest.mark.parametrize("preset,cron", sorted(PRESETS.items()))
def test_presets_expand_to_cron(preset, cron):
    s, problems = normalize_schedule(preset, START)
    assert problems == []
    assert (s.kind, s.expression, s.preset, s.timezone) == ("cron", cron, preset, "UTC")


def test_once_none_cron_timedelta():
    assert normalize_schedule("@once", START)[0].kind == "once"
    assert normalize_schedule(None, None)[0].kind == "none"
    s, _ = normalize_schedule("15 6 * * 1-5", START)
    assert (s.kind, s.expression, s.preset) == ("cron", "15 6 * * 1-5", None)
    s, _ = normalize_schedule(timedelta(hours=2), START)
    assert (s.kind, s.interval_s) == ("timedelta", 7200.0)


def test_timezone_from_start_date():
    s, _ = normalize_schedule("@daily", datetime(2026, 1, 1, tzinfo=ZoneInfo("Europe/Paris")))
    assert s.timezone == "Europe/Paris"
    s, _ = normalize_schedule("@daily", datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert s.timezone == "UTC"
    _, problems = normalize_schedule("@daily", datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=2))))
    assert "fixed UTC offset" in problems[0]


def test_cron_trigger_timetable_timezone():
    s, problems = normalize_schedule(CronTriggerTimetable("0 6 * * *", timezone="America/New_York"), START)
    assert problems == [] and s.timezone == "America/New_York"
    _, problems = normalize_schedule(CronTriggerTimetable("0 6 * * *", timezone="Mars/Olympus"), START)
    assert problems == ["time zone 'Mars/Olympus' is unknown; use an IANA name such as 'Europe/Paris' or 'UTC'"]


def test_invalid_cron_and_preset_and_type():
    assert "is not valid" in normalize_schedule("61 * * * *", START)[1][0]
    assert "has 6 fields" in normalize_schedule("0 0 6 * * *", START)[1][0]
    assert "preset '@often' is unknown" in normalize_schedule("@often", START)[1][0]
    assert "is not supported" in normalize_schedule(42, START)[1][0]
    assert "shorter than a minute" in normalize_schedule(timedelta(seconds=5), START)[1][0]


def test_asset_schedules():
    a, b = Asset("s3://stratus-landing/a/"), Asset("s3://stratus-landing/b/")
    s, _ = normalize_schedule([a, b], None)
    assert s.kind == "assets"
    assert [c.uri for c in s.assets.all] == [a.uri, b.uri]
    s, _ = normalize_schedule(a | b, None)
    assert [c.uri for c in s.assets.any] == [a.uri, b.uri]
    s, _ = normalize_schedule(a, None)
    assert s.assets.uri == a.uri
    s, _ = normalize_schedule((a | b) & a, None)
    assert s.assets.all[0].any[1].uri == b.uri


def test_partitioned_schedules_and_what_they_refuse():
    from orchestrator.authoring.assets import AssetAlias
    from orchestrator.authoring.partitions import AllowedKeyMapper, IdentityMapper, StartOfHourMapper
    from orchestrator.authoring.timetables import (
        CronPartitionTimetable,
        PartitionedAssetTimetable,
        PartitionedAtRuntime,
    )

    s, problems = normalize_schedule(CronPartitionTimetable("0 * * * *", timezone="Europe/Paris", run_offset=-1), START)
    assert not problems and (s.kind, s.expression, s.timezone) == ("cron", "0 * * * *", "Europe/Paris")
    assert (s.partitioning.kind, s.partitioning.run_offset, s.partitioning.key_format) == ("cron", -1,
                                                                                           "%Y-%m-%dT%H:%M:%S")
    s, _ = normalize_schedule(PartitionedAtRuntime(), START)
    assert (s.kind, s.partitioning.kind) == ("none", "runtime")
    a, b = Asset("s3://stratus-landing/a"), Asset("s3://stratus-landing/b")
    s, _ = normalize_schedule(PartitionedAssetTimetable(assets=a & b, partition_mapper_config={a: AllowedKeyMapper(
        ["us"])}, default_partition_mapper=StartOfHourMapper()), START)
    assert s.kind == "assets" and [c.uri for c in s.assets.all] == [a.uri, b.uri]
    assert s.partitioning.mappers == {a.uri: {"type": "AllowedKeyMapper", "allowed_keys": ["us"]}}
    assert s.partitioning.default_mapper["type"] == "StartOfHourMapper"

    class Mine(IdentityMapper):
        pass

    _, problems = normalize_schedule(PartitionedAssetTimetable(assets=a, default_partition_mapper=Mine()), START)
    assert problems == ["Mine is a custom partition mapper, which Stratus cannot keep in the plan (its code would "
                        "run in the trigger function); compose the built-in mappers (ProductMapper, ChainMapper, "
                        "AllowedKeyMapper, FixedKeyMapper, StartOf...Mapper) instead"]
    _, problems = normalize_schedule(PartitionedAssetTimetable(assets=AssetAlias("x")), START)
    assert problems == ["PartitionedAssetTimetable on an AssetAlias is not served (Stratus matches partitioned "
                        "events to the assets themselves); schedule on the assets the alias stands for"]

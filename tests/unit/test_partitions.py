"""Asset partition mappers, windows and wait policies: the keys Airflow 3.3.2's own classes give.

Every expected key below was produced by ``airflow.partition_mappers`` in ``.venv-airflow`` (Apache
Airflow 3.3.2) for the same inputs; the plan's JSON form of each mapper rebuilds the same mapper.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestrator.authoring.partitions import (
    AllowedKeyMapper,
    ChainMapper,
    DayWindow,
    FanOutMapper,
    FixedKeyMapper,
    IdentityMapper,
    MinimumCount,
    MonthWindow,
    ProductMapper,
    RollupMapper,
    SegmentWindow,
    StartOfDayMapper,
    StartOfHourMapper,
    StartOfMonthMapper,
    StartOfQuarterMapper,
    StartOfWeekMapper,
    StartOfYearMapper,
    WaitForAll,
    WeekWindow,
    Window,
    mapper_from_spec,
    mapper_problem,
)
from orchestrator.errors import DagDefinitionError

KEY = "2026-03-11T09:30:00"


@pytest.mark.parametrize(("mapper", "expected"), [
    (IdentityMapper(), KEY),
    (StartOfHourMapper(), "2026-03-11T09"),
    (StartOfDayMapper(), "2026-03-11"),
    (StartOfWeekMapper(), "2026-03-09 (W11)"),
    (StartOfMonthMapper(), "2026-03"),
    (StartOfQuarterMapper(), "2026-Q1"),
    (StartOfYearMapper(), "2026"),
    (ChainMapper(StartOfHourMapper(), FixedKeyMapper("x")), "x"),
])
def test_mappers_map_a_time_key_as_airflow_does(mapper, expected):
    assert mapper.to_downstream(KEY) == expected
    assert mapper_from_spec(mapper.spec()).to_downstream(KEY) == expected


def test_product_and_allowed_keys():
    assert ProductMapper(IdentityMapper(), StartOfDayMapper()).to_downstream("us|2026-03-10T09:30:00") == "us|2026-03-10"
    with pytest.raises(ValueError, match="Expected 2 segments in key, got 1"):
        ProductMapper(IdentityMapper(), StartOfDayMapper()).to_downstream("us")
    assert AllowedKeyMapper(["us", "eu"]).to_downstream("eu") == "eu"
    with pytest.raises(ValueError, match=r"Key 'apac' not in allowed keys \['us', 'eu'\]"):
        AllowedKeyMapper(["us", "eu"]).to_downstream("apac")


def test_fan_out_forward_and_backward_and_partition_dates():
    forward = FanOutMapper(upstream_mapper=StartOfWeekMapper(), window=WeekWindow())
    assert forward.to_downstream(KEY) == [f"2026-03-{d:02d}" for d in range(9, 16)]
    backward = FanOutMapper(upstream_mapper=StartOfWeekMapper(), window=WeekWindow(direction=Window.Direction.BACKWARD))
    assert backward.to_downstream(KEY) == [f"2026-03-{d:02d}" for d in range(3, 10)]
    assert forward.to_partition_date("2026-03-10") == datetime(2026, 3, 10, tzinfo=UTC)
    assert StartOfWeekMapper().to_partition_date("2026-03-09 (W11)") == datetime(2026, 3, 9, tzinfo=UTC)
    assert IdentityMapper().to_partition_date("us") is None
    with pytest.raises(DagDefinitionError, match="no default downstream_mapper for window type SegmentWindow"):
        FanOutMapper(upstream_mapper=IdentityMapper(), window=SegmentWindow(["us"]))


def test_rollups_expect_the_window_and_wait_as_their_policy_says():
    daily = RollupMapper(upstream_mapper=StartOfDayMapper(), window=DayWindow())
    hours = daily.to_upstream("2026-03-10")
    assert len(hours) == 24 and "2026-03-10T00:00:00" in hours and "2026-03-10T23:00:00" in hours
    monthly = RollupMapper(upstream_mapper=StartOfMonthMapper(input_format="%Y-%m-%d"), window=MonthWindow())
    assert len(monthly.to_upstream("2026-02")) == 28 and monthly.to_downstream("2026-02-17") == "2026-02"
    regions = RollupMapper(upstream_mapper=FixedKeyMapper("all"), window=SegmentWindow(["us", "eu", "apac"]),
                           wait_policy=MinimumCount(2))
    assert regions.to_upstream("all") == {"us", "eu", "apac"}
    assert regions.wait_policy.satisfied({"us", "eu"}, {"us", "eu", "apac"})
    assert not WaitForAll().satisfied({"us", "eu"}, {"us", "eu", "apac"})
    assert MinimumCount(-1).satisfied({"us", "eu"}, {"us", "eu", "apac"})
    assert mapper_from_spec(regions.spec()).spec() == regions.spec()
    with pytest.raises(DagDefinitionError, match="DayWindow expects datetime keys, but FixedKeyMapper decodes to str"):
        RollupMapper(upstream_mapper=FixedKeyMapper("x"), window=DayWindow())


def test_a_custom_mapper_cannot_go_into_a_plan():
    class Mine(IdentityMapper):
        pass

    assert "Mine is a custom partition mapper" in mapper_problem(Mine())
    assert "Mine is a custom partition mapper" in mapper_problem(ProductMapper(Mine(), IdentityMapper()))
    assert mapper_problem(ProductMapper(IdentityMapper(), StartOfDayMapper())) is None


def test_add_partitions_on_outlet_events():
    # Airflow 3.3's OutletEventAccessor.add_partitions: keys per asset; refused on an alias and for blank keys.
    from orchestrator.authoring.assets import Asset, AssetAlias
    from orchestrator.engine.runtime import OutletEventAccessors

    events = OutletEventAccessors()
    events[Asset("s3://b/k")].add_partitions(["us", "eu"])
    events[Asset("s3://b/k")].add_partitions("us")
    assert events.partition_keys() == {"s3://b/k": ["eu", "us"]}
    with pytest.raises(TypeError, match="add_partitions\\(\\) is not supported on asset alias outlet events"):
        events[AssetAlias("daily")].add_partitions("us")
    with pytest.raises(ValueError, match="partition_key must not be empty or whitespace-only; got ' '"):
        events[Asset("s3://b/k")].add_partitions(" ")

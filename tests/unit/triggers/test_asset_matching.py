from __future__ import annotations

import pytest

from orchestrator.errors import ScheduleError
from orchestrator.plan.model import AssetCondition as C
from orchestrator.triggers.assets import condition_met, leaf_uris, uri_matches, validate_asset_uri, validate_condition


@pytest.mark.parametrize(
    ("asset", "event", "hit"),
    [
        ("s3://landing/sales/", "s3://landing/sales/2026/01.csv", True),
        ("s3://landing/sales/", "s3://landing/salesman/01.csv", False),
        ("s3://landing/sales/", "s3://other/sales/01.csv", False),
        ("s3://landing/*.csv", "s3://landing/a.csv", True),
        ("s3://landing/*.csv", "s3://landing/a.json", False),
        ("s3://landing/sales/*/done.flag", "s3://landing/sales/2026/done.flag", True),
        ("s3://landing/data-[0-9].csv", "s3://landing/data-7.csv", True),
        ("s3://landing/exact.csv", "s3://landing/exact.csv", True),
        ("s3://landing/exact.csv", "s3://landing/exact.csv.tmp", False),
        ("s3://lake/sales/", "s3://lake/sales/", True),  # an outlet of the same asset
    ],
)
def test_uri_matches(asset, event, hit):
    assert uri_matches(asset, event) is hit


def test_conditions_all_any_nested():
    a, b, c = C(uri="s3://x/a/"), C(uri="s3://x/b/"), C(uri="s3://x/c/")
    both = C(all=[a, b])
    either = C(any=[a, b])
    nested = C(any=[C(all=[a, b]), c])
    assert not condition_met(both, {"s3://x/a/"})
    assert condition_met(both, {"s3://x/a/", "s3://x/b/"})
    assert condition_met(either, {"s3://x/b/"})
    assert condition_met(nested, {"s3://x/c/"})
    assert not condition_met(nested, {"s3://x/a/"})
    assert leaf_uris(nested) == ["s3://x/a/", "s3://x/b/", "s3://x/c/"]


def test_asset_uris_as_airflow_accepts_them_and_a_clear_error_otherwise():
    assert validate_asset_uri("gs://bucket/x", "consumer") == "gs://bucket/x"  # updated by task outlets
    assert validate_asset_uri("s3://consuming_1_task/out", "consumer") == "s3://consuming_1_task/out"
    with pytest.raises(ScheduleError, match=r"DAG 'consumer': Asset uri 'airflow://x' uses the scheme 'airflow'"):
        validate_asset_uri("airflow://x", "consumer")
    with pytest.raises(ScheduleError, match="must only consist of ASCII"):
        validate_condition(C(all=[C(uri="s3://ok/"), C(uri="s3://ok/é")]), "consumer")
    with pytest.raises(ScheduleError, match="no assets"):
        validate_condition(C(all=[]), "consumer")

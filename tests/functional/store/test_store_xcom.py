from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pydantic
import pytest

from orchestrator.errors import StoreError
from orchestrator.store import xcom


@dataclasses.dataclass
class Point:
    x: int
    when: datetime


class Row(pydantic.BaseModel):
    name: str
    amount: Decimal


def test_round_trips_tagged_types():
    value = {
        "dt": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc), "d": date(2026, 1, 2),
        "dec": Decimal("1.10"), "tup": (1, "a"), "set": {3, 1, 2}, "fs": frozenset({"x"}),
        "td": timedelta(minutes=5), "bytes": b"\x00\x01", "intkeys": {1: "a"},
        "nested": [{"$type": "not a tag"}], "point": Point(1, datetime(2026, 1, 1, tzinfo=timezone.utc)),
        "row": Row(name="a", amount=Decimal("2.5")),
    }
    again = xcom.decode(xcom.encode(value))
    assert again == value
    assert isinstance(again["point"], Point) and isinstance(again["row"], Row)


def test_assets_and_metadata_a_task_returns_round_trip():
    # Airflow 3.3 stores a returned Metadata as the task's XCom and hands the object back downstream.
    from orchestrator.authoring.assets import Asset, AssetAlias, Metadata

    value = [Metadata(Asset("s3://b/k", extra={"a": 1}), {"rows": 5}, alias="daily"), Asset("orders")]
    again = xcom.decode(xcom.encode(value))
    assert again == value and isinstance(again[0], Metadata) and again[0].alias == AssetAlias("daily")
    assert again[0].asset.extra == {"a": 1} and again[1].name == "orders"


def test_unknown_classes_decode_to_dicts_and_never_import():
    text = '{"$type":"dataclass","class":"not_imported_mod:Thing","fields":{"a":1}}'
    assert xcom.decode(text) == {"a": 1}


def test_unsupported_type_is_rejected_with_advice():
    with pytest.raises(TypeError, match="Cannot store a value of type builtins.object as XCom"):
        xcom.encode(object())


def test_large_values_go_to_s3_and_back(store, monkeypatch):
    monkeypatch.setenv("STRATUS_INLINE_XCOM_LIMIT", "100")
    big = "x" * (3 * 1024 * 1024)
    inline, key = store.xcom.place(xcom.encode(big), dag_id="d", run_id="r", task_id="t", map_index=-1,
                                   try_number=1)
    assert inline is None and key == "xcom/d/r/t/-1/1/return_value.json"
    assert store.xcom.load(None, key) == big
    ref = store.xcom.place_ref(xcom.encode([1] * 100), dag_id="d", run_id="r", task_id="t", map_index=-1,
                               try_number=1, key="k")
    assert store.xcom.load_ref(ref) == [1] * 100
    assert store.xcom.load_ref(xcom.encode({"small": 1})) == {"small": 1}


def test_bad_limit_env_names_the_variable(monkeypatch):
    monkeypatch.setenv("STRATUS_INLINE_XCOM_LIMIT", "lots")
    with pytest.raises(StoreError, match="STRATUS_INLINE_XCOM_LIMIT='lots' is not an integer"):
        xcom.inline_limit()


def test_s3_values_are_read_once_per_process(store, monkeypatch):
    monkeypatch.setenv("STRATUS_INLINE_XCOM_LIMIT", "10")
    _, key = store.xcom.place(xcom.encode(list(range(100))), dag_id="d", run_id="r", task_id="t", map_index=-1,
                              try_number=1)
    calls = []
    store.clients.client("s3").meta.events.register("before-call.s3.GetObject", lambda **kw: calls.append(1))
    assert store.xcom.load(None, key) == list(range(100))
    assert store.xcom.load(None, key) == list(range(100))
    assert len(calls) == 1

from __future__ import annotations

import json
from pathlib import Path

from orchestrator.plan.model import AssetCondition as C
from orchestrator.plan.model import Schedule
from orchestrator.triggers.assets import AssetStore, handle_asset_events
from orchestrator.triggers.s3events import parse_s3_event

FIXTURES = Path(__file__).parents[2] / "fixtures" / "events"


def dag_item(dag_id: str, cond: C, paused: bool = False) -> dict:
    return {"dag_id": dag_id, "plan_hash": "h", "paused": paused,
            "schedule": json.loads(Schedule(kind="assets", assets=cond).model_dump_json())}


def s3_event(key: str, sequencer: str = "00A1") -> dict:
    event = json.loads((FIXTURES / "s3_eventbridge_object_created.json").read_text())
    event["detail"]["object"].update(key=key, sequencer=sequencer)
    return event


class Recorder:
    def __init__(self):
        self.started = []

    def __call__(self, clients, resources, dag_item, events, now):
        self.started.append((dag_item["dag_id"], [e["key"] for evts in events.values() for e in evts]))
        self.events = events
        return dag_item["dag_id"]


def test_matching_object_starts_each_matching_dag_once(aws):
    clients, resources = aws
    dags = [dag_item("sales", C(uri="s3://landing/sales/")),
            dag_item("csvs", C(uri="s3://landing/*.csv")),
            dag_item("other", C(uri="s3://landing/other/")),
            dag_item("paused", C(uri="s3://landing/sales/"), paused=True)]
    rec = Recorder()
    events = parse_s3_event(s3_event("sales/2026-01-05.csv"))
    assert handle_asset_events(clients, resources, events, dags=dags, starter=rec) == ["sales", "csvs"]
    # the same delivery again starts nothing
    assert handle_asset_events(clients, resources, events, dags=dags, starter=rec) == []
    # a non-matching key starts nothing
    assert handle_asset_events(clients, resources, parse_s3_event(s3_event("misc/readme.txt", "00B2")),
                               dags=dags, starter=rec) == []
    assert rec.started == [("sales", ["sales/2026-01-05.csv"]), ("csvs", ["sales/2026-01-05.csv"])]


def test_all_condition_waits_for_every_asset_and_then_resets(aws):
    clients, resources = aws
    dags = [dag_item("join", C(all=[C(uri="s3://landing/a/"), C(uri="s3://landing/b/")]))]
    rec = Recorder()
    assert handle_asset_events(clients, resources, parse_s3_event(s3_event("a/1.csv", "01")), dags=dags,
                               starter=rec) == []
    assert handle_asset_events(clients, resources, parse_s3_event(s3_event("a/2.csv", "02")), dags=dags,
                               starter=rec) == []
    assert AssetStore(clients, resources).wait_state("join").keys() == {"s3://landing/a/"}
    assert handle_asset_events(clients, resources, parse_s3_event(s3_event("b/1.csv", "03")), dags=dags,
                               starter=rec) == ["join"]
    assert rec.started == [("join", ["a/1.csv", "a/2.csv", "b/1.csv"])]
    assert AssetStore(clients, resources).wait_state("join") == {}
    # after the run the condition starts over
    assert handle_asset_events(clients, resources, parse_s3_event(s3_event("b/2.csv", "04")), dags=dags,
                               starter=rec) == []


def test_any_condition_and_nested(aws):
    clients, resources = aws
    cond = C(any=[C(all=[C(uri="s3://landing/a/"), C(uri="s3://landing/b/")]), C(uri="s3://landing/c/")])
    dags = [dag_item("nested", cond)]
    rec = Recorder()
    assert handle_asset_events(clients, resources, parse_s3_event(s3_event("a/1", "01")), dags=dags,
                               starter=rec) == []
    assert handle_asset_events(clients, resources, parse_s3_event(s3_event("c/1", "02")), dags=dags,
                               starter=rec) == ["nested"]


def test_notification_records_shape(aws):
    clients, resources = aws
    event = json.loads((FIXTURES / "s3_notification_put.json").read_text())
    rec = Recorder()
    dags = [dag_item("sales", C(uri="s3://landing/sales/"))]
    assert handle_asset_events(clients, resources, parse_s3_event(event), dags=dags, starter=rec) == ["sales"]
    assert rec.started == [("sales", ["sales/red flower(2).csv"])]
    (evt,) = rec.events["s3://landing/sales/"]
    assert evt["extra"]["key"] == "sales/red flower(2).csv" and evt["size"] == 1305107
    assert evt["uri"] == "s3://landing/sales/red flower(2).csv" and evt["asset_uri"] == "s3://landing/sales/"
    assert evt["etag"] == "b21b84d653bb07b05b1e6b33684dc11b" and evt["timestamp"] == "2026-01-05T06:01:02.123000+00:00"


def test_wait_state_keeps_only_the_newest_events_per_asset(aws, monkeypatch):
    from orchestrator.triggers import assets

    clients, resources = aws
    monkeypatch.setattr(assets, "MAX_EVENTS_PER_ASSET", 3)
    monkeypatch.setattr(assets.AssetStore.trim, "__defaults__", (3,))
    dags = [dag_item("join", C(all=[C(uri="s3://landing/a/"), C(uri="s3://landing/b/")]))]
    rec = Recorder()
    for n in range(6):
        handle_asset_events(clients, resources, parse_s3_event(s3_event(f"a/{n}.csv", f"0{n}")), dags=dags,
                            starter=rec)
    kept = AssetStore(clients, resources).wait_state("join")["s3://landing/a/"]
    assert [e["key"] for e in kept] == ["a/3.csv", "a/4.csv", "a/5.csv"]
    handle_asset_events(clients, resources, parse_s3_event(s3_event("b/1.csv", "10")), dags=dags, starter=rec)
    assert rec.started == [("join", ["a/3.csv", "a/4.csv", "a/5.csv", "b/1.csv"])]


def test_partitioned_dags_wait_per_mapped_key(aws):
    # Airflow 3.3.2's AssetManager/_create_dagruns_for_partitioned_asset_dags rules: an unkeyed event (an S3
    # object) starts no partition-aware DAG and a keyed one no other asset DAG; AssetAll waits per mapped
    # key; MinimumCount(2) of a segment rollup starts on the second region (Stratus decides per event).
    from orchestrator.authoring.partitions import FixedKeyMapper, MinimumCount, RollupMapper, SegmentWindow
    from orchestrator.authoring.partitions import StartOfHourMapper
    from orchestrator.plan.model import Partitioning
    from orchestrator.triggers.s3events import outlet_event

    clients, resources = aws
    a, b = "s3://landing/a.csv", "s3://landing/b.csv"

    def parted(dag_id, cond, mapper):
        sched = Schedule(kind="assets", assets=cond, partitioning=Partitioning(kind="assets",
                                                                              default_mapper=mapper.spec()))
        return {"dag_id": dag_id, "plan_hash": "h", "schedule": json.loads(sched.model_dump_json())}

    rollup = RollupMapper(upstream_mapper=FixedKeyMapper("all"), window=SegmentWindow(["us", "eu", "apac"]),
                          wait_policy=MinimumCount(2))
    dags = [parted("hourly", C(all=[C(uri=a), C(uri=b)]), StartOfHourMapper()), dag_item("plain", C(uri=a)),
            parted("regions", C(uri=b), rollup)]
    started = []

    def starter(clients, resources, dag_item, events, now, **part):
        started.append((dag_item["dag_id"], part.get("partition_key"), sorted(
            e.get("partition_key") or "-" for evts in events.values() for e in evts)))
        return dag_item["dag_id"]

    def emit(uri, key, task):
        event = outlet_event(uri, dag_id="p", run_id="r", task_id=task, partition_key=key)
        return handle_asset_events(clients, resources, [event], dags=dags, starter=starter)

    assert handle_asset_events(clients, resources, parse_s3_event(s3_event("a.csv")), dags=dags,
                               starter=starter) == ["plain"]
    assert emit(a, "2026-03-10T10:05:00", "t1") == []  # "plain" does not take a keyed event
    assert emit(b, "2026-03-10T11:00:00", "t2") == []  # another hour
    assert emit(b, "2026-03-10T10:40:00", "t3") == ["hourly"]
    assert started[-1] == ("hourly", "2026-03-10T10", ["2026-03-10T10:05:00", "2026-03-10T10:40:00"])
    assert emit(b, "us", "t4") == []  # not an hour: "hourly" cannot map it; one region of three
    assert emit(b, "eu", "t5") == ["regions"]
    # FixedKeyMapper collapses every key onto "all": the hourly keys of b joined that partition too (they
    # are not in the window, so only us and eu counted), and the run consumes them all, as Airflow's does.
    assert started[-1] == ("regions", "all", ["2026-03-10T10:40:00", "2026-03-10T11:00:00", "eu", "us"])

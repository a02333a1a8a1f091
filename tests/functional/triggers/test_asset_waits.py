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

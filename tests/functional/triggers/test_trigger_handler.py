from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.engine.engine import Engine
from orchestrator.errors import EventError
from orchestrator.plan.model import AssetCondition, Schedule, Step, StepPlan
from orchestrator.store import RunStore
from orchestrator.triggers import runs as runs_mod
from orchestrator.triggers.assets import emit_outlet_events
from orchestrator.triggers.handler import handle_event

FIXTURES = Path(__file__).parents[2] / "fixtures" / "events"


class NullDispatcher:
    def invoke_worker(self, msg, function_name=None):
        pass

    def schedule_retry(self, msg, delay_s):
        pass


def plan(dag_id: str, schedule: Schedule, **kw) -> StepPlan:
    return StepPlan(dag_id=dag_id, fileloc=f"{dag_id}.py", schedule=schedule, start_date="2026-01-01T00:00:00+00:00",
                    steps=[Step(task_id="t", operator="_PythonDecoratedOperator", module=f"{dag_id}.py", **kw)]
                    ).with_hash()


@pytest.fixture
def env(aws, monkeypatch):
    clients, resources = aws
    monkeypatch.setattr(runs_mod, "make_engine", lambda c, r: Engine(RunStore(c, r), NullDispatcher()))
    store = RunStore(clients, resources)
    store.put_plan(plan("daily", Schedule(kind="cron", expression="0 6 * * *")))
    store.put_plan(plan("landing", Schedule(kind="assets", assets=AssetCondition(uri="s3://landing/sales/"))))
    store.put_plan(plan("consumer", Schedule(kind="assets", assets=AssetCondition(uri="s3://lake/sales/"))))
    return clients, resources, store


def test_schedule_fire(env):
    clients, resources, store = env
    event = json.loads((FIXTURES / "scheduler_fire.json").read_text())
    event["dag_id"] = "daily"
    out = handle_event(clients, resources, event)
    assert out["kind"] == "schedule" and out["created"] == ["scheduled__2026-01-05T06:00:00+00:00"]
    assert handle_event(clients, resources, event)["created"] == []


def test_s3_event_starts_the_landing_dag_once(env):
    clients, resources, store = env
    event = json.loads((FIXTURES / "s3_eventbridge_object_created.json").read_text())
    first = handle_event(clients, resources, event)
    assert first["kind"] == "s3" and [r["dag_id"] for r in first["started"]] == ["landing"]
    assert handle_event(clients, resources, event)["started"] == []
    (run,) = store.list_runs("landing")
    assert run["run_type"] == "asset_triggered"
    (evt,) = run["triggering_asset_events"]["s3://landing/sales/"]
    assert (evt["bucket"], evt["key"], evt["size"], evt["etag"]) == (
        "landing", "sales/2026-01-05.csv", 5, "b1946ac92492d2347c6235b4d2611184")


def test_outlets_start_consumer_dags_once(env):
    clients, resources, store = env
    producer = plan("producer", Schedule(kind="none"), outlets=["s3://lake/sales/"])
    run = {"dag_id": "producer", "run_id": "manual__1"}
    started = emit_outlet_events(clients, resources, producer.steps[0], run)
    assert [r["dag_id"] for r in started] == ["consumer"]
    assert emit_outlet_events(clients, resources, producer.steps[0], run) == []  # a redelivered success
    (consumer_run,) = store.list_runs("consumer")
    (evt,) = consumer_run["triggering_asset_events"]["s3://lake/sales/"]
    assert (evt["source"], evt["source_dag_id"], evt["source_task_id"]) == ("outlet", "producer", "t")


def test_direct_asset_event_and_unknown_events(env):
    clients, resources, store = env
    out = handle_event(clients, resources, {"kind": "asset_event", "uri": "s3://lake/sales/", "source_dag_id": "ext",
                                            "source_run_id": "r1", "source_task_id": "t"})
    assert [r["dag_id"] for r in out["started"]] == ["consumer"]
    with pytest.raises(EventError, match="does not handle this event \\('mystery'\\)"):
        handle_event(clients, resources, {"kind": "mystery"})
    with pytest.raises(EventError, match="Asset event needs a string 'uri'"):
        handle_event(clients, resources, {"kind": "asset_event"})
    hostile = json.loads((FIXTURES / "s3_eventbridge_object_created.json").read_text())
    hostile["detail"]["object"]["key"] = "sales/../../etc/passwd"
    with pytest.raises(EventError, match="path segment"):
        handle_event(clients, resources, hostile)
    assert len(store.list_runs("landing")) == 0


@pytest.mark.parametrize("key", ["sales/./2026-01-05.csv", "sales/q1\treport.csv", "sales/.hidden/./x.csv"])
def test_s3_legal_keys_with_a_dot_segment_or_a_tab_start_runs(env, key):
    """Issue #15: S3 accepts these keys, so their objects must start runs (they were refused)."""
    clients, resources, store = env
    event = json.loads((FIXTURES / "s3_eventbridge_object_created.json").read_text())
    event["detail"]["object"]["key"] = key
    out = handle_event(clients, resources, event)
    assert [r["dag_id"] for r in out["started"]] == ["landing"]
    (run,) = store.list_runs("landing")
    (ev,) = run["triggering_asset_events"]["s3://landing/sales/"]
    assert ev["key"] == key


def test_s3_event_time_beyond_the_calendar_is_refused_cleanly(env):
    clients, resources, store = env
    event = json.loads((FIXTURES / "s3_eventbridge_object_created.json").read_text())
    event["time"] = 1e20
    with pytest.raises(EventError, match=r"S3 event has a time '1e\+20' outside the calendar"):
        handle_event(clients, resources, event)
    assert store.list_runs("landing") == []

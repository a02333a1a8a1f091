from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestrator.engine.engine import Engine
from orchestrator.errors import EventError
from orchestrator.plan.model import Schedule, Step, StepPlan
from orchestrator.store import RunStore
from orchestrator.triggers.fire import fire_schedule, parse_fire_event
from orchestrator.triggers.runs import start_run


class RecordingDispatcher:
    def __init__(self):
        self.invoked = []

    def invoke_worker(self, msg, function_name=None):
        self.invoked.append(msg)

    def schedule_retry(self, msg, delay_s):
        pass


def make_plan(**overrides) -> StepPlan:
    fields = dict(
        dag_id="daily", fileloc="daily.py", schedule=Schedule(kind="cron", expression="0 6 * * *"),
        start_date="2026-01-01T00:00:00+00:00", catchup=True, max_active_runs=3,
        steps=[Step(task_id="work", operator="_PythonDecoratedOperator", module="daily.py")],
    )
    fields.update(overrides)
    return StepPlan(**fields).with_hash()


@pytest.fixture
def env(aws):
    clients, resources = aws
    store = RunStore(clients, resources)
    engine = Engine(store, RecordingDispatcher())

    def starter(clients, resources, plan, *, info, run_id, run_type, **kw):
        return start_run(clients, resources, plan, info=info, run_id=run_id, run_type=run_type, engine=engine, **kw)

    return clients, resources, store, engine, starter


def fire(env, dag_id, when):
    clients, resources, _, _, starter = env
    return fire_schedule(clients, resources, dag_id, when, starter=starter, companions=False)


def test_catchup_creates_every_missed_run_in_order_within_max_active_runs(env):
    clients, resources, store, engine, _ = env
    store.put_plan(make_plan())
    result = fire(env, "daily", "2026-01-10T06:00:00Z")
    assert result.created == [f"scheduled__2026-01-{day:02d}T06:00:00+00:00" for day in range(1, 11)]
    runs = store.list_runs("daily", limit=50, newest_first=False)
    assert [r["logical_date"] for r in runs] == [f"2026-01-{day:02d}T06:00:00+00:00" for day in range(1, 11)]
    assert [r["state"] for r in runs].count("running") == 3
    assert [r["state"] for r in runs[:3]] == ["running"] * 3
    assert store.next_waiting_runs("daily", limit=10)[0] == "scheduled__2026-01-04T06:00:00+00:00"
    assert all(r["data_interval_start"] == r["logical_date"] == r["data_interval_end"] for r in runs)


def test_a_fire_delivered_twice_creates_one_run(env):
    clients, resources, store, _, _ = env
    store.put_plan(make_plan(catchup=False))
    first = fire(env, "daily", "2026-01-10T06:00:00Z")
    second = fire(env, "daily", "2026-01-10T06:00:00Z")
    assert first.created == ["scheduled__2026-01-10T06:00:00+00:00"]
    assert second.created == [] and second.existing == []
    assert len(store.list_runs("daily", limit=50)) == 1
    dag = store.get_dag("daily")
    assert dag["last_scheduled_logical_date"] == "2026-01-10T06:00:00+00:00"
    assert dag["next_logical_date"] == "2026-01-11T06:00:00+00:00"


def test_lost_bookkeeping_still_starts_nothing_twice(env):
    clients, resources, store, _, _ = env
    store.put_plan(make_plan(catchup=True, start_date="2026-01-09T00:00:00+00:00"))
    fire(env, "daily", "2026-01-10T06:00:00Z")
    store.update_dag("daily", last_scheduled_logical_date="2026-01-01T00:00:00+00:00")  # as if a crash lost it
    again = fire(env, "daily", "2026-01-10T06:00:00Z")
    assert again.created == [] and len(again.existing) == 2


def test_catchup_false_only_latest_and_end_date(env):
    clients, resources, store, _, _ = env
    store.put_plan(make_plan(catchup=False, end_date="2026-01-05T12:00:00+00:00"))
    result = fire(env, "daily", "2026-01-10T06:00:00Z")
    assert result.created == ["scheduled__2026-01-05T06:00:00+00:00"]
    assert fire(env, "daily", "2026-01-11T06:00:00Z").created == []


def test_paused_and_unknown_dags_start_nothing(env):
    clients, resources, store, _, _ = env
    store.put_plan(make_plan())
    store.set_paused("daily", True)
    assert fire(env, "daily", "2026-01-10T06:00:00Z").skipped == "paused"
    assert fire(env, "nope", "2026-01-10T06:00:00Z").skipped == "not registered"
    assert store.list_runs("daily") == []


def test_parse_fire_event():
    assert parse_fire_event({"kind": "schedule", "dag_id": "daily", "scheduled_time": "2026-01-10T06:00:00Z"}) == (
        "daily", datetime(2026, 1, 10, 6, tzinfo=UTC))
    with pytest.raises(EventError, match="invalid dag_id '../etc'"):
        parse_fire_event({"kind": "schedule", "dag_id": "../etc", "scheduled_time": "2026-01-10T06:00:00Z"})
    with pytest.raises(EventError, match="scheduled_time 'yesterday', which is not ISO-8601"):
        parse_fire_event({"kind": "schedule", "dag_id": "daily", "scheduled_time": "yesterday"})


def test_runs_start_as_slots_free(env):
    clients, resources, store, engine, _ = env
    store.put_plan(make_plan(max_active_runs=1, start_date="2026-01-08T00:00:00+00:00"))
    fire(env, "daily", "2026-01-10T06:00:00Z")
    states = lambda: [r["state"] for r in store.list_runs("daily", newest_first=False)]  # noqa: E731
    assert states() == ["running", "queued", "queued"]
    first = store.list_runs("daily", newest_first=False)[0]
    store.finish_run("daily", first["run_id"], "success", datetime.now(UTC).isoformat())
    engine.start_waiting("daily")
    assert states() == ["success", "running", "queued"]



def test_a_long_catchup_is_cut_into_batches(env):
    clients, resources, store, _, starter = env
    store.put_plan(make_plan(max_active_runs=1, start_date="2026-01-05T00:00:00+00:00"))
    first = fire_schedule(clients, resources, "daily", "2026-01-10T06:00:00Z", starter=starter, companions=False,
                          limit=4)
    assert len(first.created) == 4 and first.more
    second = fire_schedule(clients, resources, "daily", "2026-01-10T06:00:00Z", starter=starter, companions=False,
                           limit=4)
    assert second.created == ["scheduled__2026-01-09T06:00:00+00:00", "scheduled__2026-01-10T06:00:00+00:00"]
    assert not second.more
    assert len(store.list_runs("daily", limit=50)) == 6


def test_dst_gap_day_gets_a_companion_fire_and_its_run(env):
    from dataclasses import replace

    from orchestrator.triggers.sync import ensure_group, read_existing

    clients, resources, store, _, starter = env
    resources = replace(resources, trigger_function="arn:aws:lambda:us-east-1:123456789012:function:stratus-trigger")
    ensure_group(clients, resources)
    store.put_plan(make_plan(catchup=False, schedule=Schedule(kind="cron", expression="30 2 * * *",
                                                               timezone="Europe/Berlin")))
    # Saturday's fire (02:30 CET): EventBridge would next fire on Monday, skipping Sunday's 02:30
    sat = fire_schedule(clients, resources, "daily", "2026-03-28T01:30:00Z", starter=starter)
    assert sat.created == ["scheduled__2026-03-28T01:30:00+00:00"] and sat.companion == "daily.dst"
    companion = read_existing(clients, resources.scheduler_group)["daily.dst"]
    assert companion["ScheduleExpression"] == "at(2026-03-29T01:30:00)"
    # the companion fires on Sunday at 03:30 CEST: the gap day runs once, an hour late
    sun = fire_schedule(clients, resources, "daily", "2026-03-29T01:30:00Z", starter=starter)
    assert sun.created == ["scheduled__2026-03-29T01:30:00+00:00"] and sun.companion is None
    # fall back: 02:30 happens twice on 2026-10-25 and runs once
    fire_schedule(clients, resources, "daily", "2026-10-25T00:30:00Z", starter=starter)
    again = fire_schedule(clients, resources, "daily", "2026-10-25T01:30:00Z", starter=starter)
    assert again.created == [] and again.existing == []

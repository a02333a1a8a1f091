from __future__ import annotations

from datetime import datetime

import pytest

from orchestrator.engine.engine import Engine
from orchestrator.errors import ScheduleError
from orchestrator.plan.model import Schedule, Step, StepPlan
from orchestrator.store import RunStore
from orchestrator.triggers.backfill import backfill_intervals, parse_bound, run_backfill, wait_backfill
from orchestrator.triggers.fire import fire_schedule
from orchestrator.triggers.runs import start_run


class RecordingDispatcher:
    def invoke_worker(self, msg, function_name=None):
        pass

    def schedule_retry(self, msg, delay_s):
        pass


def make_plan(**overrides) -> StepPlan:
    fields = dict(
        dag_id="daily", fileloc="daily.py", schedule=Schedule(kind="cron", expression="0 6 * * *"),
        start_date="2026-01-01T00:00:00+00:00", max_active_runs=2,
        steps=[Step(task_id="work", operator="_PythonDecoratedOperator", module="daily.py")],
    )
    fields.update(overrides)
    return StepPlan(**fields).with_hash()


@pytest.fixture
def env(aws):
    clients, resources = aws
    store = RunStore(clients, resources)
    return clients, resources, store, Engine(store, RecordingDispatcher())


def d(text):
    return datetime.fromisoformat(text)


def test_parse_bound_dates_are_in_the_dag_time_zone():
    assert parse_bound("2026-01-02", timezone="UTC", end=False) == d("2026-01-02T00:00:00+00:00")
    assert parse_bound("2026-01-02", timezone="UTC", end=True) == d("2026-01-02T23:59:59.999999+00:00")
    assert parse_bound("2026-01-02", timezone="Europe/Berlin", end=False) == d("2026-01-01T23:00:00+00:00")
    assert parse_bound("2026-01-02T06:00:00Z", timezone="Europe/Berlin", end=False) == d("2026-01-02T06:00:00+00:00")
    with pytest.raises(ScheduleError, match="Backfill of DAG 'daily': 'last tuesday' is not a date"):
        parse_bound("last tuesday", timezone="UTC", end=False, dag_id="daily")


def test_intervals_and_errors():
    plan = make_plan()
    runs = backfill_intervals(plan, d("2026-01-02T00:00:00+00:00"), d("2026-01-04T23:59:59+00:00"))
    assert [r.logical_date.day for r in runs] == [2, 3, 4]
    with pytest.raises(ScheduleError, match="--end .* is before --start"):
        backfill_intervals(plan, d("2026-01-04T00:00:00+00:00"), d("2026-01-02T00:00:00+00:00"))
    with pytest.raises(ScheduleError, match="DAG 'daily' has schedule 'none', which has no intervals to backfill"):
        backfill_intervals(make_plan(schedule=Schedule(kind="none")), d("2026-01-02T00:00:00+00:00"),
                           d("2026-01-04T00:00:00+00:00"))


def test_backfill_creates_runs_in_order_and_honours_max_active_runs(env):
    clients, resources, store, engine = env
    plan = make_plan()
    store.put_plan(plan)
    seen = []
    report = run_backfill(clients, resources, plan, d("2026-01-01T00:00:00+00:00"), d("2026-01-05T23:00:00+00:00"),
                          engine=engine, on_item=seen.append)
    assert [i.run_id for i in seen] == [f"backfill__2026-01-0{n}T06:00:00+00:00" for n in range(1, 6)]
    runs = store.list_runs("daily", newest_first=False)
    assert [r["state"] for r in runs] == ["running", "running", "queued", "queued", "queued"]
    assert {r["run_type"] for r in runs} == {"backfill"}
    assert report.run_ids == [i.run_id for i in seen]


def test_backfill_skips_existing_runs_and_reruns_failed_on_request(env):
    clients, resources, store, engine = env
    plan = make_plan(max_active_runs=5)
    store.put_plan(plan)

    def starter(clients, resources, plan, *, info, run_id, run_type, **kw):
        return start_run(clients, resources, plan, info=info, run_id=run_id, run_type=run_type, engine=engine)

    fire_schedule(clients, resources, "daily", "2026-01-02T06:00:00Z", starter=starter, companions=False)
    report = run_backfill(clients, resources, plan, d("2026-01-01T00:00:00+00:00"), d("2026-01-03T23:00:00+00:00"),
                          engine=engine)
    assert [(i.action, i.run_id) for i in report.items] == [
        ("created", "backfill__2026-01-01T06:00:00+00:00"),
        ("skipped", "scheduled__2026-01-02T06:00:00+00:00"),
        ("created", "backfill__2026-01-03T06:00:00+00:00"),
    ]
    # fail the scheduled run's task, then rerun failed
    run_id = "scheduled__2026-01-02T06:00:00+00:00"
    engine.mark("daily", run_id, "work", "failed")
    assert store.get_run("daily", run_id)["state"] == "failed"
    again = run_backfill(clients, resources, plan, d("2026-01-02T00:00:00+00:00"), d("2026-01-02T23:00:00+00:00"),
                         engine=engine, rerun="failed")
    assert [(i.action, i.state) for i in again.items] == [("rerun", "failed")]
    assert store.get_run("daily", run_id)["state"] == "running"


def test_wait_backfill_reports_progress(env):
    clients, resources, store, engine = env
    plan = make_plan(max_active_runs=5)
    store.put_plan(plan)
    report = run_backfill(clients, resources, plan, d("2026-01-01T00:00:00+00:00"), d("2026-01-02T23:00:00+00:00"),
                          engine=engine)
    lines = []
    ticks = iter(range(10))

    def sleep(_):
        n = next(ticks)
        rid = report.run_ids[min(n, 1)]
        engine.mark("daily", rid, "work", "success")

    states = wait_backfill(store, "daily", report.run_ids, on_progress=lambda p: lines.append(p.line("daily")),
                           sleep=sleep)
    assert set(states.values()) == {"success"}
    assert lines[0] == "backfill daily: 0/2 done (2 running)"
    assert lines[-1] == "backfill daily: 2/2 done (2 success)"


def test_a_cron_partitioned_dag_backfills_its_partition_dates_and_fires_with_its_offset(env):
    # Airflow 3.3.2's CronPartitionTimetable("0 6 * * *", run_offset=-1, key_format="%Y-%m-%d"), run in
    # .venv-airflow: a backfill walks the partition dates (iter_partition_dagrun_infos: 2026-01-01 and
    # 2026-01-02, each its own tick), the scheduled run fired 2026-01-03 06:00 is the partition 2026-01-02.
    from orchestrator.plan.model import Partitioning

    clients, resources, store, engine = env
    plan = make_plan(max_active_runs=5, schedule=Schedule(kind="cron", expression="0 6 * * *", partitioning=Partitioning(
        kind="cron", key_format="%Y-%m-%d", run_offset=-1)))
    store.put_plan(plan)
    run_backfill(clients, resources, plan, d("2026-01-01T00:00:00+00:00"), d("2026-01-02T23:00:00+00:00"), engine=engine)

    def starter(clients, resources, plan, *, info, run_id, run_type, **kw):
        return start_run(clients, resources, plan, info=info, run_id=run_id, run_type=run_type, engine=engine, **kw)

    fire_schedule(clients, resources, "daily", "2026-01-03T06:00:00Z", starter=starter, companions=False)
    assert [(r["run_type"], r["partition_key"], r["partition_date"]) for r in store.list_runs("daily", newest_first=False)] == [
        ("backfill", "2026-01-01", "2026-01-01T06:00:00+00:00"), ("backfill", "2026-01-02", "2026-01-02T06:00:00+00:00"),
        ("scheduled", "2026-01-02", "2026-01-02T06:00:00+00:00")]

"""Sensors on the local cloud: each poke is one worker invocation and nothing runs in between.

The DAG files in ``sensor_dags/`` are written as Airflow 3 users write them. Their task states
are Airflow 3.3's: ``sensor_waits`` (both tasks success, the sensor still on try 1 after its
reschedules) and ``sensor_xcom`` (same states and XCom) ran through Airflow 3.3.2's
``dag.test()`` (``make bench-airflow``'s virtualenv); the timeout outcomes follow Airflow's task runner
(``AirflowSensorTimeout`` fails without retries) and ``BaseSensorOperator.execute`` (soft_fail
skips), ExternalTaskSensor its ``_poke_af3`` (see each test's comment).
"""

from __future__ import annotations

import shutil
from collections import Counter
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from orchestrator.local.cloud import LocalCloud
from orchestrator.observe.gridmodel import state_color
from orchestrator.observe.terminal import render_run_tree
from tests.e2e.conftest import ti_map

HERE = Path(__file__).parent / "sensor_dags"


@pytest.fixture
def dags(tmp_path: Path) -> Path:
    root = tmp_path / "dags"
    root.mkdir()
    for path in HERE.glob("*.py"):
        shutil.copy(path, root / path.name)
    return root


def _worker_records(cloud: LocalCloud) -> list[tuple[str, str, float, float]]:
    # the worker functions: the shared one and (Isolation=dag, the default) each DAG's own
    return [r for r in cloud.host.records if cloud.host.functions[r[0]].family == "WorkerFunction"
            or r[0] == cloud.stack.physical_ids["WorkerFunction"]]


def test_a_sensor_waits_across_pokes_with_nothing_running_in_between(dags):
    with LocalCloud(dags, stack_name="sensors") as cloud:
        engine = cloud.engine()
        cloud.sync_dag("sensor_waits")
        rid = engine.start_run("sensor_waits")["run_id"]
        for poke in range(1, 4):
            cloud.wait_idle(advance=False)
            ti = engine.store.get_ti("sensor_waits", rid, "wait_for_ready")
            # Between pokes: the try is up_for_reschedule (same try number), the poke's invocation
            # has ended, and no invocation of any function is queued or running.
            assert ti["state"] == "up_for_reschedule"
            assert int(ti["try_number"]) == 1 and int(ti["pokes"]) == poke
            assert (dags / "pokes" / "ready").read_text() == str(poke)
            if poke == 1:  # `stratus show` and the grid show the waiting sensor as Airflow does
                plan = engine.store.get_current_plan("sensor_waits")
                tree = render_run_tree(plan, engine.store.get_run("sensor_waits", rid),
                                       engine.store.list_tis("sensor_waits", rid))
                assert "wait_for_ready  ⏲ up_for_reschedule  try 1/1" in tree
                assert state_color("up_for_reschedule") == "turquoise"
            checked = time.time()
            assert cloud.host.pending == 0
            assert all(end <= checked for _, _, _, end in cloud.host.records)
            workers, conductors = cloud.invocations["WorkerFunction"], cloud.invocations["ConductorFunction"]
            # 29 s later still nothing has run: no invocation at all, the counter unchanged...
            cloud.clock.advance(timedelta(seconds=29))
            cloud.wait_idle(advance=False)
            assert cloud.invocations["WorkerFunction"] == workers
            assert cloud.invocations["ConductorFunction"] == conductors
            assert (dags / "pokes" / "ready").read_text() == str(poke)
            # ...and at poke_interval (30 s) the timer brings the next poke: one conductor
            # invocation (the timer) and one worker invocation (the poke).
            cloud.clock.advance(timedelta(seconds=1))
            cloud.wait_idle(advance=False)
            assert cloud.invocations["ConductorFunction"] == conductors + 1
            assert cloud.invocations["WorkerFunction"] >= workers + 1
        cloud.wait_idle(advance=True)
        final = engine.store.get_run("sensor_waits", rid)
        tis = ti_map(engine.store, "sensor_waits", rid)
        records = sorted(_worker_records(cloud), key=lambda r: r[2])
    # Airflow 3.3 dag.test(): both tasks success (the sensor's fourth poke finds the file).
    assert final["state"] == "success"
    assert {k[0]: t["state"] for k, t in tis.items()} == {"wait_for_ready": "success", "after_ready": "success"}
    assert int(tis[("wait_for_ready", -1)]["pokes"]) == 3 and int(tis[("wait_for_ready", -1)]["try_number"]) == 1
    # One worker invocation per poke (4) and one for after_ready; the pokes never overlap.
    pokes = records[:4]
    assert len(records) == 4 + 1 and len({r[1] for r in records}) == 5
    assert all(a[3] <= b[2] for a, b in zip(pokes, pokes[1:]))


def test_task_sensor_pushes_the_poke_return_value(dags):
    with LocalCloud(dags, stack_name="sensors", auto_advance=True) as cloud:
        run = cloud.run_dag("sensor_xcom")
        store = cloud.engine().store
        tis = ti_map(store, "sensor_xcom", run["run_id"])
        found = store.get_xcom("sensor_xcom", run["run_id"], "wait_for_key")
        used = store.get_xcom("sensor_xcom", run["run_id"], "use")
        invocations = cloud.invocations
    # Airflow 3.3 dag.test(): success; the sensor's XCom is the PokeReturnValue's xcom_value.
    assert run["state"] == "success"
    assert {k[0]: t["state"] for k, t in tis.items()} == {"wait_for_key": "success", "use": "success"}
    assert found == {"key": "s3://lake/part-3"} and used == "s3://lake/part-3"
    assert invocations["WorkerFunction"] == 3 + 1 and invocations["ConductorFunction"] == 2


def test_sensor_timeout_fails_without_retries_and_soft_fail_skips(dags):
    with LocalCloud(dags, stack_name="sensors", auto_advance=True) as cloud:
        run = cloud.run_dag("sensor_timeouts")
        tis = ti_map(cloud.engine().store, "sensor_timeouts", run["run_id"])
    states = {k[0]: t["state"] for k, t in tis.items()}
    # Airflow 3.3: AirflowSensorTimeout fails the task at once (retries=2 unused); soft_fail skips.
    assert states == {"never_ready": "failed", "after_never": "upstream_failed",
                      "never_ready_soft": "skipped", "after_soft": "skipped"}
    assert int(tis[("never_ready", -1)]["try_number"]) == 1
    assert "Sensor has timed out" in tis[("never_ready", -1)]["error"]
    assert run["state"] == "failed"


def _pause_sweeper(cloud: LocalCloud) -> None:
    scheduler = cloud.clients.client("scheduler")
    for group in scheduler.list_schedule_groups()["ScheduleGroups"]:
        for item in scheduler.list_schedules(GroupName=group["Name"])["Schedules"]:
            sched = scheduler.get_schedule(Name=item["Name"], GroupName=group["Name"])
            if '"sweep"' in sched["Target"].get("Input", ""):
                scheduler.update_schedule(Name=sched["Name"], GroupName=group["Name"], State="DISABLED",
                                          ScheduleExpression=sched["ScheduleExpression"],
                                          FlexibleTimeWindow=sched["FlexibleTimeWindow"], Target=sched["Target"])
                return
    raise AssertionError("the conductor's sweep schedule was not found")


def _calls(cloud: LocalCloud, pokes: int) -> Counter[str]:
    """AWS calls (``service.Operation``) of one run whose sensor succeeds at poke ``pokes``."""
    import botocore.client

    calls: Counter[str] = Counter()
    real = botocore.client.BaseClient._make_api_call

    def counting(self, operation, params):  # type: ignore[no-untyped-def]
        calls[f"{self.meta.service_model.service_name}.{operation}"] += 1
        return real(self, operation, params)

    botocore.client.BaseClient._make_api_call = counting  # type: ignore[method-assign]
    try:
        run = cloud.run_dag("sensor_cost", conf={"pokes": pokes})
    finally:
        botocore.client.BaseClient._make_api_call = real  # type: ignore[method-assign]
    assert run["state"] == "success"
    return calls


def test_a_waiting_sensor_costs_the_same_few_calls_per_poke(dags):
    # The figures behind README's "a sensor that waits an hour": the difference between a sensor
    # that pokes 8 times and one that pokes 3 times is 5 pokes' worth of calls.
    with LocalCloud(dags, stack_name="sensors", auto_advance=True) as cloud:
        cloud.sync_dag("sensor_cost")
        _pause_sweeper(cloud)  # its every-5-minutes sweep is the stack's fixed cost, not the sensor's
        short, long = _calls(cloud, 3), _calls(cloud, 8)
    per_poke = {op: (long[op] - short[op]) / 5 for op in long if long[op] != short[op]}
    assert per_poke == {
        "lambda.Invoke": 1.0,              # the conductor invokes the poke's worker (async)
        "sqs.SendMessage": 1.0,            # the worker's timer (DelaySeconds = poke_interval)
        "dynamodb.UpdateItem": 3.0,        # claim, up_for_reschedule, queued again (conductor)
        "dynamodb.GetItem": 1.0,           # the conductor reads the run (is it still running?)
    }, per_poke


def test_external_task_sensor_waits_for_another_dags_run_in_the_run_table(dags):
    # Airflow 3.3 (the standard provider's ExternalTaskSensor._poke_af3): no run at the logical
    # date yet -> keep poking; produce success -> done; a failed_states match -> failed, or
    # skipped with soft_fail; the DAG-level wait sees the upstream run failed (broken failed).
    day = datetime(2026, 3, 4, tzinfo=timezone.utc)
    with LocalCloud(dags, stack_name="sensors") as cloud:
        engine = cloud.engine()
        cloud.sync_dag("ext_upstream")
        cloud.sync_dag("ext_downstream")
        down = engine.start_run("ext_downstream", logical_date=day)["run_id"]
        cloud.wait_idle(advance=False)
        waiting = {k[0]: t["state"] for k, t in ti_map(engine.store, "ext_downstream", down).items()}
        assert waiting == {"wait_for_produce": "up_for_reschedule", "wait_for_run": "up_for_reschedule",
                           "wait_for_broken": "up_for_reschedule"}
        up = engine.start_run("ext_upstream", logical_date=day)["run_id"]
        cloud.wait_idle(advance=False)
        cloud.clock.advance(timedelta(seconds=30))
        cloud.wait_idle(advance=True)
        upstream = engine.store.get_run("ext_upstream", up)
        run = engine.store.get_run("ext_downstream", down)
        states = {k[0]: t["state"] for k, t in ti_map(engine.store, "ext_downstream", down).items()}
        marker = engine.store.get_ti("ext_upstream", up, "tell_downstream")
    assert upstream["state"] == "failed" and marker["state"] == "success"
    assert states == {"wait_for_produce": "success", "consume": "success",
                      "wait_for_run": "failed", "after_run": "upstream_failed",
                      "wait_for_broken": "skipped", "after_broken": "skipped"}
    assert run["state"] == "failed"


def test_a_time_sensor_waiting_an_hour_pokes_twice_through_a_one_time_schedule(dags):
    # Airflow 3.3: success once now > data_interval_end + delta. Stratus wakes the sensor at that
    # moment (past SQS's 900 s: a one-time EventBridge Scheduler schedule) instead of 60 pokes.
    with LocalCloud(dags, stack_name="sensors") as cloud:
        engine = cloud.engine()
        cloud.sync_dag("sensor_hour")
        rid = engine.start_run("sensor_hour")["run_id"]
        cloud.wait_idle(advance=False)
        ti = engine.store.get_ti("sensor_hour", rid, "an_hour_later")
        scheduler = cloud.clients.client("scheduler")
        group = cloud.resources.timer_group  # retry and poke timers: their own group, apart from DAG schedules
        pending = [s["Name"] for s in scheduler.list_schedules(GroupName=group)["Schedules"] if s["Name"].startswith("poke1-")]
        cloud.clock.advance(timedelta(minutes=59))
        cloud.wait_idle(advance=False)
        still = engine.store.get_ti("sensor_hour", rid, "an_hour_later")["state"]
        cloud.clock.advance(timedelta(minutes=2))
        cloud.wait_idle(advance=False)
        run = engine.store.get_run("sensor_hour", rid)
        done = engine.store.get_ti("sensor_hour", rid, "an_hour_later")
        workers = cloud.invocations["WorkerFunction"]
    assert ti["state"] == "up_for_reschedule" and len(pending) == 1 and still == "up_for_reschedule"
    assert run["state"] == "success" and done["state"] == "success" and int(done["pokes"]) == 1
    assert workers == 2

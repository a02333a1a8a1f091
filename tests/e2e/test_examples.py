"""Each example DAG in dags/ ends in the right states on the local cloud, started the way AWS would."""

from __future__ import annotations

import pytest

from orchestrator.local.cloud import LocalCloud
from orchestrator.local.dev import local_parameters, sync_registry
from tests.e2e.conftest import ROOT, ti_map


@pytest.fixture(scope="module")
def cloud():
    with LocalCloud(ROOT / "dags", auto_advance=True, parameters=local_parameters()) as c:
        report = sync_registry(c)
        assert not report.errors, report.errors
        yield c


def _sweeps(cloud) -> int:
    return sum(1 for arn, _ in cloud.emulation.fired if arn.endswith("-sweeper"))


def test_etl_taskflow_costs_one_worker_invocation_per_task_and_no_conductor(cloud):
    before, sweeps = dict(cloud.invocations), _sweeps(cloud)
    run = cloud.run_dag("etl_taskflow")
    assert run["state"] == "success"
    tis = ti_map(cloud.engine().store, "etl_taskflow", run["run_id"])
    assert {t["state"] for t in tis.values()} == {"success"}
    assert all(int(t["try_number"]) == 1 for t in tis.values())
    after = cloud.invocations
    assert after["WorkerFunction"] - before["WorkerFunction"] == len(tis)
    assert after["ConductorFunction"] - before["ConductorFunction"] == _sweeps(cloud) - sweeps


def test_flaky_task_fails_once_then_succeeds_through_the_conductor(cloud):
    before = cloud.invocations["ConductorFunction"]
    run = cloud.run_dag("flaky_retry")
    assert run["state"] == "success"
    tis = ti_map(cloud.engine().store, "flaky_retry", run["run_id"])
    flaky = tis[("flaky", -1)]
    assert flaky["state"] == "success" and int(flaky["try_number"]) == 2
    assert [h["state"] for h in flaky["history"]] == ["failed"] or flaky["history"][0]["state"] in ("failed", "up_for_retry")
    assert tis[("after", -1)]["state"] == "success"
    assert cloud.invocations["ConductorFunction"] > before  # the retry came back through SQS


def test_branching_skips_the_branch_not_taken(cloud):
    run = cloud.run_dag("branching")
    assert run["state"] == "success"
    states = {k[0]: t["state"] for k, t in ti_map(cloud.engine().store, "branching", run["run_id"]).items()}
    assert states["route"] == "success" and states["done"] == "success"
    assert sorted([states.get("small_order"), states.get("large_order")]) == ["skipped", "success"]


def test_grouped_runs_every_task(cloud):
    run = cloud.run_dag("grouped")
    assert run["state"] == "success"
    tis = ti_map(cloud.engine().store, "grouped", run["run_id"])
    assert {t["state"] for t in tis.values()} == {"success"}
    assert int(run["tasks_done"]) == int(run["tasks_total"])


def test_fanout_map_expands_at_run_time_and_reduces_in_order(cloud):
    run = cloud.run_dag("fanout_map")
    assert run["state"] == "success"
    store = cloud.engine().store
    tis = ti_map(store, "fanout_map", run["run_id"])
    squares = sorted(i for (task, i) in tis if task == "square")
    assert squares == list(range(len(squares))) and len(squares) > 1
    assert all(tis[("scale", i)]["state"] == "success" for i in squares)
    assert tis[("total", -1)]["state"] == "success"


def test_s3_object_in_the_landing_bucket_starts_the_asset_dag(cloud):
    bucket = cloud.resources.landing_bucket
    assert bucket == "stratus-landing"
    cloud.clients.client("s3").put_object(Bucket=bucket, Key="incoming/orders-1.csv", Body=b"id\n1\n")
    cloud.wait_idle(120)
    runs = cloud.engine().store.list_runs("s3_arrival")
    assert len(runs) == 1
    run = runs[0]
    assert run["state"] == "success" and run["run_type"] == "asset_triggered"
    store = cloud.engine().store
    assert store.get_xcom("s3_arrival", run["run_id"], "publish") == 1


def test_daily_schedule_fire_catches_up_every_interval(cloud):
    scheduler = cloud.clients.client("scheduler")
    group = cloud.resources.scheduler_group
    names = [s["Name"] for s in scheduler.list_schedules(GroupName=group)["Schedules"]]
    assert "daily_catchup" in names
    # The schedule's next occurrence, delivered to the trigger function as the service would.
    when = cloud.fire_schedule("daily_catchup")
    assert (when.hour, when.minute) == (0, 0)
    cloud.wait_idle(300)
    runs = cloud.engine().store.list_runs("daily_catchup", limit=50)
    assert len(runs) >= 3  # start_date is three days back: the catch-up intervals all run
    assert {r["state"] for r in runs} == {"success"}
    assert len({r["logical_date"] for r in runs}) == len(runs)


@pytest.mark.slow
def test_map_1000(cloud):
    run = cloud.run_dag("map_1000", timeout=1500)
    assert run["state"] == "success"
    store = cloud.engine().store
    work = [t for t in store.list_tis("map_1000", run["run_id"], "work")]
    assert len(work) == 1000 and {t["state"] for t in work} == {"success"}
    assert store.get_xcom("map_1000", run["run_id"], "reduce_all") == {"count": 1000, "sum": sum(i % 7 for i in range(1000))}

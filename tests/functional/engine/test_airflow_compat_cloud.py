"""Airflow 3's asset family and state stores end to end on the local cloud (template.yaml deployed in
moto, the real handlers): DAG files in ``airflow_compat/`` written with ``from airflow.sdk import ...``.

Expected values are Airflow 3.3's, from its documentation: "Asset State Store" and "Task State Store"
(docs/apache-airflow/3.3.2/core-concepts/), the AssetEvent fields of ``triggering_asset_events``
and ``inlet_events`` (authoring-and-scheduling/asset-scheduling), and the example DAG
``example_asset_state_store.py`` that c03 follows.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from orchestrator.local.cloud import LocalCloud
from orchestrator.store import RunStore

HERE = Path(__file__).parent / "airflow_compat"


@pytest.fixture
def cloud(tmp_path, monkeypatch):
    for k, v in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                 "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}.items():
        monkeypatch.setenv(k, v)
    dags = tmp_path / "dags"
    dags.mkdir()
    for name in ("c03_asset_events", "c06_alias_asset", "c07_asset_or_time", "c08_metadata_returned",
                 "c09_partitions"):
        shutil.copy(HERE / f"{name}.py", dags / f"{name}.py")
    with LocalCloud(dags) as c:
        yield c


def _states(store, dag_id, run_id):
    return {(t["task_id"] if int(t["map_index"]) < 0 else f"{t['task_id']}[{t['map_index']}]"): t["state"]
            for t in store.list_tis(dag_id, run_id)}


def test_asset_events_are_airflow_objects_inlet_events_and_the_asset_state_store(cloud):
    store = RunStore(cloud.clients, cloud.resources)
    cloud.sync_dag("c03_consumer")
    for n in (1, 2):
        run = cloud.run_dag("c03_producer")
        assert run["state"] == "success"
        assert store.get_xcom("c03_producer", run["run_id"], "load") == n  # the asset state persists across runs
    cloud.wait_idle(60)
    runs = store.list_runs("c03_consumer", limit=10, newest_first=False)
    assert [r["run_type"] for r in runs] == ["asset_triggered", "asset_triggered"]
    assert {r["state"] for r in runs} == {"success"}
    first, second = (store.get_xcom("c03_consumer", r["run_id"], "consume") for r in runs)
    assert second == {
        "rows": 3, "source": ["c03_producer", "load", -1], "asset": "s3://consuming_1_task/orders/daily",
        "timestamp_is_a_datetime": True, "latest_run": 2, "events": 2, "total_runs": 2,
        "keys": ["s3://consuming_1_task/orders/daily"],
    }
    assert first["latest_run"] == 1 and first["events"] == 1 and first["total_runs"] == 1


def test_the_task_state_store_survives_a_retry_and_is_per_mapped_instance(cloud):
    store = RunStore(cloud.clients, cloud.resources)
    run = cloud.run_dag("c03_task_state")
    assert run["state"] == "success"
    assert _states(store, "c03_task_state", run["run_id"]) == {
        "resumable": "success", "per_instance[0]": "success", "per_instance[1]": "success"}
    assert store.get_xcom("c03_task_state", run["run_id"], "resumable") == {"job": "job-42", "try": 2}
    assert [store.get_xcom("c03_task_state", run["run_id"], "per_instance", i) for i in (0, 1)] == [
        ["nothing", 1], ["nothing", 2]]



def test_trigger_dag_run_to_a_dag_of_the_same_folder_under_stratus_run(tmp_path, capsys, monkeypatch):
    import json

    from orchestrator.cli.main import main

    dags = tmp_path / "flows"
    dags.mkdir()
    shutil.copy(HERE / "c04_trigger.py", dags / "c04_trigger.py")
    monkeypatch.chdir(tmp_path)
    # Airflow 3.3's dag.test() runs the triggered DAG too and the waiting task succeeds with it.
    assert main(["run", "c04_controller", "--dags", str(dags), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    tis = {t["task_id"]: t for t in out["task_instances"]}
    assert {k: t["state"] for k, t in tis.items()} == {"prepare": "success", "trigger": "success"}
    assert tis["trigger"]["xcoms"]["trigger_run_id"].startswith("manual__")


def _only_run(store, dag_id):
    [run] = store.list_runs(dag_id, limit=10)
    assert run["state"] == "success" and run["run_type"] == "asset_triggered", run
    return run


def test_asset_alias_resolved_at_run_time_and_metadata_yielded_by_a_task(cloud):
    # Airflow 3 (authoring-and-scheduling/assets: "Attaching extra information to an emitting asset
    # event" and "Dynamic data events emitting and asset creation through AssetAlias"): the event is
    # for the asset added through the alias, carries the alias in source_aliases, and a DAG scheduled
    # on the alias runs with it keyed by that asset; a yielded Metadata sets the event's extra.
    store = RunStore(cloud.clients, cloud.resources)
    for dag_id in ("c06_alias_consumer", "c06_report_consumer"):
        cloud.sync_dag(dag_id)
    run = cloud.run_dag("c06_alias_producer", logical_date=datetime(2026, 3, 4, tzinfo=timezone.utc))
    assert run["state"] == "success"
    assert _states(store, "c06_alias_producer", run["run_id"]) == {"write": "success", "report": "success"}
    assert store.get_xcom("c06_alias_producer", run["run_id"], "report") == "reported"
    cloud.wait_idle(60)
    consumer = _only_run(store, "c06_alias_consumer")
    assert store.get_xcom("c06_alias_consumer", consumer["run_id"], "read") == {
        "s3://consuming_1_task/raw/2026-03-04.csv": [[4, ["daily-raw"]]]}
    report = _only_run(store, "c06_report_consumer")
    assert store.get_xcom("c06_report_consumer", report["run_id"], "rows") == 7


def test_metadata_returned_by_a_task_is_its_return_value_not_the_events_extra(cloud):
    # Airflow 3.3.2, run with dag.test() in .venv-airflow (make bench-airflow): its task runner feeds only
    # *yielded* values to outlet_events (sdk/execution_time/callback_runner.py); a returned Metadata, or a
    # list of them, is the return value: the tasks succeed, the XCom holds the Metadata objects (a
    # downstream task gets ['Metadata', uri, 5, [6, 7]]) and the three asset events have extra {}.
    from orchestrator.authoring.assets import Asset, Metadata

    store = RunStore(cloud.clients, cloud.resources)
    cloud.sync_dag("c08_more_consumer")
    run = cloud.run_dag("c08_returns_metadata")
    assert run["state"] == "success"
    assert _states(store, "c08_returns_metadata", run["run_id"]) == {
        "one": "success", "several": "success", "check": "success"}
    assert store.get_xcom("c08_returns_metadata", run["run_id"], "check") == [
        "Metadata", "s3://consuming_1_task/returned/rows.csv", 5, [6, 7]]
    assert store.get_xcom("c08_returns_metadata", run["run_id"], "one") == Metadata(
        Asset("s3://consuming_1_task/returned/rows.csv"), {"rows": 5})
    cloud.wait_idle(60)
    consumer = _only_run(store, "c08_more_consumer")
    assert store.get_xcom("c08_more_consumer", consumer["run_id"], "extras") == [["several", False]]


def test_asset_and_asset_multi_decorators_make_dags_that_feed_each_other(cloud):
    # Airflow 3 (authoring-and-scheduling/asset-scheduling, "@asset"): the function is a DAG and a task
    # of the same name, its asset is the outlet; another @asset naming it as a parameter is scheduled on
    # it and gets it as an inlet.
    store = RunStore(cloud.clients, cloud.resources)
    for dag_id in ("summary", "c06_multi_consumer"):
        cloud.sync_dag(dag_id)
    run = cloud.run_dag("quotes")
    assert run["state"] == "success" and store.get_xcom("quotes", run["run_id"], "quotes") == [1, 2]
    cloud.wait_idle(60)
    summary = _only_run(store, "summary")
    assert store.get_xcom("summary", summary["run_id"], "summary") == {
        "n": 2, "me": "summary", "inlet": "s3://consuming_1_task/quotes"}
    run = cloud.run_dag("both_parts")
    assert run["state"] == "success"
    cloud.wait_idle(60)
    multi = _only_run(store, "c06_multi_consumer")
    assert store.get_xcom("c06_multi_consumer", multi["run_id"], "seen") == [
        "s3://consuming_1_task/m1", "s3://consuming_1_task/m2"]


def test_asset_or_time_schedule_runs_on_its_cron_and_on_its_assets(cloud):
    # Airflow 3 (authoring-and-scheduling/asset-scheduling, "Combining asset and time-based schedules"):
    # the DAG runs on the timetable and whenever the asset condition is met.
    import json

    from orchestrator.triggers.sync import sync_folder

    store = RunStore(cloud.clients, cloud.resources)
    report = sync_folder(cloud.clients, cloud.resources, str(cloud.dags_root), dry_run=True)
    assert any("c07_either_way" in line and "schedule" in line for line in report.lines()), report.lines()
    cloud.sync_dag("c07_either_way")
    assert cloud.run_dag("c07_feeder")["state"] == "success"
    cloud.wait_idle(60)
    asset_run = _only_run(store, "c07_either_way")
    assert store.get_xcom("c07_either_way", asset_run["run_id"], "how") == [
        "asset_triggered", ["s3://consuming_1_task/feed"]]
    fire = {"kind": "schedule", "dag_id": "c07_either_way", "scheduled_time": "2026-03-04T01:00:00Z"}
    cloud.clients.client("lambda").invoke(FunctionName=cloud.resources.trigger_function, Payload=json.dumps(fire))
    cloud.wait_idle(60)
    runs = {r["run_type"]: r for r in store.list_runs("c07_either_way", limit=10)}
    assert set(runs) == {"asset_triggered", "scheduled"} and runs["scheduled"]["state"] == "success"
    assert store.get_xcom("c07_either_way", runs["scheduled"]["run_id"], "how") == ["scheduled", []]


def _partition_runs(store, dag_id, task_id):
    runs = store.list_runs(dag_id, limit=20, newest_first=False)
    assert {(r["run_type"], r["state"]) for r in runs} <= {("asset_triggered", "success")}, runs
    return sorted([r["partition_key"], r.get("partition_date"), store.get_xcom(dag_id, r["run_id"], task_id)]
                  for r in runs)


def test_asset_partitions_start_one_run_per_mapped_key(cloud):
    # Airflow 3.3.2 gives the same runs for the same file (`python bench/airflow_partitions.py FILE c09_regions
    # c09_weekly c09_hourly=2026-03-10T09:00:00Z`: the producers through dag.test() or their run's key, the
    # consumers' runs made by its scheduler's partition loop): c09_daily one run "2026-03-10" (partition_date 2026-03-10
    # 00:00 UTC) fed by the event of key "2026-03-10T08:00:00"; c09_plain none (a partitioned event queues
    # only partition-aware DAGs); c09_allowed "eu" and "us" (AllowedKeyMapper drops "apac"); c09_all_regions
    # one "all_regions" run on the three events; c09_daily_inference seven daily runs from one weekly key.
    import json

    store = RunStore(cloud.clients, cloud.resources)
    for dag_id in ("c09_hourly", "c09_daily", "c09_plain", "c09_allowed", "c09_all_regions", "c09_daily_inference"):
        cloud.sync_dag(dag_id)
    fire = {"kind": "schedule", "dag_id": "c09_hourly", "scheduled_time": "2026-03-10T09:00:00Z"}
    cloud.clients.client("lambda").invoke(FunctionName=cloud.resources.trigger_function, Payload=json.dumps(fire))
    cloud.wait_idle(60)
    [hourly] = store.list_runs("c09_hourly", limit=10)
    assert (hourly["run_type"], hourly["state"], hourly["partition_key"]) == (
        "scheduled", "success", "2026-03-10T08:00:00")  # run_offset=-1: the hour before the fire
    assert store.get_xcom("c09_hourly", hourly["run_id"], "ingest") == ["2026-03-10T08:00:00"] * 2
    assert _partition_runs(store, "c09_daily", "summarise") == [
        ["2026-03-10", "2026-03-10T00:00:00+00:00", ["2026-03-10", "2026-03-10T00:00:00+00:00", "2026-03-10T08:00:00"]]]
    assert store.list_runs("c09_plain", limit=10) == []
    assert cloud.run_dag("c09_regions")["state"] == "success"
    assert cloud.run_dag("c09_weekly")["state"] == "success"
    cloud.wait_idle(60)
    assert _partition_runs(store, "c09_allowed", "per_region") == [["eu", None, "eu"], ["us", None, "us"]]
    assert _partition_runs(store, "c09_all_regions", "rollup") == [
        ["all_regions", None, ["all_regions", ["apac", "eu", "us"]]]]
    days = [f"2026-03-{d:02d}" for d in range(9, 16)]
    assert _partition_runs(store, "c09_daily_inference", "infer") == [[d, f"{d}T00:00:00+00:00", d] for d in days]


def test_a_manual_run_with_a_partition_key(cloud):
    # Airflow 3.3.2 (a trigger's partition_key, checked by DAG.validate_partition_key; the date from the
    # timetable's resolve_partition_date, run in .venv-airflow): a CronPartitionTimetable key is read with its
    # key_format (2026-03-10T05:00 UTC) and its event feeds the partitioned consumer; a PartitionedAssetTimetable
    # DAG takes a key its mappers decode (2026-03-12 00:00 UTC); a DAG that is not partitioned refuses one.
    from orchestrator.errors import ParamValidationError

    store = RunStore(cloud.clients, cloud.resources)
    cloud.sync_dag("c09_daily")
    hourly = cloud.run_dag("c09_hourly", partition_key="2026-03-10T05:00:00")
    assert (hourly["state"], hourly["partition_date"]) == ("success", "2026-03-10T05:00:00+00:00")
    cloud.wait_idle(60)
    assert _partition_runs(store, "c09_daily", "summarise") == [
        ["2026-03-10", "2026-03-10T00:00:00+00:00", ["2026-03-10", "2026-03-10T00:00:00+00:00", "2026-03-10T05:00:00"]]]
    daily = cloud.run_dag("c09_daily", partition_key="2026-03-12")
    assert (daily["run_type"], daily["partition_key"], daily["partition_date"]) == (
        "manual", "2026-03-12", "2026-03-12T00:00:00+00:00")
    with pytest.raises(ParamValidationError, match="DAG 'c09_plain' is not a partitioned DAG and does not accept a "
                                                   "partition_key"):
        cloud.run_dag("c09_plain", partition_key="2026-03-12")
    with pytest.raises(ParamValidationError, match="Partition key 'monday' does not match DAG 'c09_hourly''s "
                                                   "key_format '%Y-%m-%dT%H:%M:%S'"):
        cloud.run_dag("c09_hourly", partition_key="monday")

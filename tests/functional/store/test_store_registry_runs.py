from __future__ import annotations

import pytest

from orchestrator.errors import ConflictError, NotFoundError, StoreError
from orchestrator.plan.model import Schedule, Step, StepPlan
from orchestrator.store import Update


def make_plan(dag_id="etl", **overrides) -> StepPlan:
    fields = dict(
        dag_id=dag_id, fileloc=f"{dag_id}.py", schedule=Schedule(kind="cron", expression="0 6 * * *"),
        steps=[Step(task_id="a", operator="EmptyOperator", module=f"{dag_id}.py")],
        max_active_runs=2, tags=["x"],
    )
    fields.update(overrides)
    return StepPlan(**fields).with_hash()


def new_run(dag_id="etl", run_id="manual__1", logical_date="2026-01-01T00:00:00+00:00", **extra):
    return {"dag_id": dag_id, "run_id": run_id, "state": "queued", "run_type": "manual",
            "plan_hash": "h", "logical_date": logical_date, "queued_at": logical_date, **extra}


def test_put_plan_registers_dag_and_plan_round_trips(store):
    plan = make_plan()
    item = store.put_plan(plan)
    assert item["plan_hash"] == plan.hash and item["paused"] is False and item["active_runs"] == 0
    assert store.get_plan("etl", plan.hash) == plan
    dag = store.get_dag("etl")
    assert dag["schedule"]["expression"] == "0 6 * * *" and dag["tags"] == ["x"]
    body = store.clients.client("s3").get_object(Bucket=store.resources.artefact_bucket,
                                                 Key=f"plans/etl/{plan.hash}.json")["Body"].read()
    assert b'"dag_id": "etl"' in body


def test_resync_keeps_pause_flag_and_list_dags(store):
    store.put_plan(make_plan())
    store.put_plan(make_plan("other"))
    store.set_paused("etl", True)
    store.put_plan(make_plan(catchup=True))
    assert store.get_dag("etl")["paused"] is True
    assert [d["dag_id"] for d in store.list_dags()] == ["etl", "other"]


def test_unknown_dag_and_plan_raise_not_found(store):
    with pytest.raises(NotFoundError, match="DAG 'nope' is not registered"):
        store.get_dag("nope")
    with pytest.raises(NotFoundError, match="DAG 'nope' is not registered"):
        store.set_paused("nope", True)
    with pytest.raises(NotFoundError, match="Plan deadbeef of DAG 'nope'"):
        store.get_plan("nope", "deadbeef")


def test_create_run_is_idempotent_on_run_id(store):
    run, created = store.create_run(new_run(conf={"a": 1}))
    assert created and run["state"] == "queued"
    again, created2 = store.create_run(new_run(conf={"a": 2}))
    assert not created2 and again["conf"] == {"a": 1}


def test_find_run_by_id_and_ambiguity(store):
    store.create_run(new_run())
    assert store.find_run("manual__1")["dag_id"] == "etl"
    store.create_run(new_run(dag_id="other"))
    with pytest.raises(StoreError, match="Run id 'manual__1' exists in several DAGs \\('etl', 'other'\\)"):
        store.find_run("manual__1")
    with pytest.raises(NotFoundError, match="No run with run id 'x'"):
        store.find_run("x")


def test_list_runs_newest_first_with_state_filter(store):
    for i in range(5):
        store.create_run(new_run(run_id=f"r{i}", logical_date=f"2026-01-0{i + 1}T00:00:00+00:00",
                                 state="success" if i % 2 else "queued"))
    assert [r["run_id"] for r in store.list_runs("etl", limit=3)] == ["r4", "r3", "r2"]
    assert [r["run_id"] for r in store.list_runs("etl", states=["success"])] == ["r3", "r1"]


def test_run_slots_respect_max_active_runs(store):
    store.put_plan(make_plan())
    for i in range(3):
        store.create_run(new_run(run_id=f"r{i}", logical_date=f"2026-01-0{i + 1}T00:00:00+00:00"))
    assert store.start_run_if_slot("etl", "r0", 2, "now")
    assert store.start_run_if_slot("etl", "r1", 2, "now")
    assert not store.start_run_if_slot("etl", "r2", 2, "now")  # r2 keeps the waiting marker create_run wrote
    assert store.count_active_runs("etl") == 2
    with pytest.raises(ConflictError):
        store.start_run_if_slot("etl", "r0", 5, "now")  # no longer queued
    assert store.list_active_runs("etl") == ["r0", "r1"]
    store.finish_run("etl", "r0", "success", "later")
    assert store.count_active_runs("etl") == 1 and store.list_active_runs("etl") == ["r1"]
    with pytest.raises(ConflictError):
        store.finish_run("etl", "r0", "failed", "later")  # a second finaliser loses
    assert store.next_waiting_runs("etl") == ["r2"]
    assert store.start_run_if_slot("etl", "r2", 2, "now")
    assert store.next_waiting_runs("etl") == []
    assert store.get_run("etl", "r2")["state"] == "running"


def test_update_helper_builds_conditions(store):
    store.create_run(new_run())
    store.update_run("etl", "manual__1", Update(add={"c#x#success": 2}, set_={"note": "hi"}))
    with pytest.raises(ConflictError):
        store.update_run("etl", "manual__1", Update(add={"n": 1}, condition="#s = :s",
                                                    names={"#s": "state"}, values={":s": "running"}))
    run = store.get_run("etl", "manual__1")
    assert run["c#x#success"] == 2 and "n" not in run


def test_the_index_holds_keys_and_state_only_and_listings_read_whole_items(store):
    """Counter writes must not write the index (bench/aws_model.py: one index partition per DAG
    took every run-item write of every run); listings still return whole items."""
    from orchestrator.store import dynamo as d

    table = store.clients.client("dynamodb").describe_table(TableName=store.resources.table)["Table"]
    (gsi,) = table["GlobalSecondaryIndexes"]
    assert gsi["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(d.INDEX_ATTRIBUTES)}
    store.put_plan(make_plan())
    store.create_run(new_run(run_id="r1", conf={"k": 1}))
    store.create_run(new_run(run_id="r2", logical_date="2026-01-02T00:00:00+00:00"))
    store.update_run("etl", "r1", Update(set_={"state": "running"}, add={"tasks_done": 3}))
    raw = store.clients.client("dynamodb").query(
        TableName=store.resources.table, IndexName=d.GSI1, KeyConditionExpression="gsi1pk = :p",
        ExpressionAttributeValues={":p": {"S": d.dag_pk("etl")}})["Items"]
    assert {k for item in raw for k in item} <= {"pk", "sk", "gsi1pk", "gsi1sk", *d.INDEX_ATTRIBUTES}
    runs = store.list_runs("etl")
    assert [r["run_id"] for r in runs] == ["r2", "r1"]
    assert runs[1]["conf"] == {"k": 1} and runs[1]["tasks_done"] == 3 and runs[1]["plan_hash"] == "h"
    assert [r["run_id"] for r in store.list_runs("etl", states=["running"])] == ["r1"]
    assert [r["run_id"] for r in store.list_runs("etl", limit=1)] == ["r2"]
    (dag,) = store.list_dags()
    assert dag["dag_id"] == "etl" and dag["schedule"]["expression"] == "0 6 * * *" and dag["tags"] == ["x"]

"""Per-DAG isolation on the local cloud: each DAG's tasks run in its own worker function and role
(as `stratus deploy` generates them), the IAM check authorising every call against that role.

- a multi-DAG run still succeeds: outlet asset events start the consumer DAG, TriggerDagRunOperator
  starts and waits for another DAG's run (both asked of the trigger function, which checks them);
- a task of one DAG, running in its own worker, is denied another DAG's run item, outputs, plan,
  secret and the global RUNID# pointers, and cannot trigger a DAG its plan does not name.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.local.cloud import LocalCloud
from orchestrator.local.dev import local_parameters, sync_registry
from tests.e2e.conftest import ti_map

DAGS = Path(__file__).parent / "isolation_dags"


@pytest.fixture(scope="module")
def cloud():
    with LocalCloud(DAGS, auto_advance=True, parameters=local_parameters(), stack_name="iso") as c:
        report = sync_registry(c)
        assert not report.errors, report.errors
        sm = c.clients.client("secretsmanager")
        sm.create_secret(Name="stratus/dags/target/conn", SecretString="target-secret")
        sm.create_secret(Name="stratus/dags/intruder/conn", SecretString="intruder-secret")
        yield c


def _ran_in(cloud, dag_id: str) -> set[str]:
    """The functions that ran ``dag_id``'s tasks (from the invocation records' task payloads)."""
    return {name for name, _, _, _ in cloud.host.records if name == cloud.worker_of(dag_id)}


def test_each_dag_has_its_own_worker_function_and_role(cloud):
    names = {d: cloud.worker_of(d) for d in ("producer", "consumer", "kicker", "target", "intruder")}
    assert names["producer"] == "iso-worker-producer" and names["intruder"] == "iso-worker-intruders"
    assert len(set(names.values())) == 5
    lam = cloud.clients.client("lambda")
    roles = {lam.get_function(FunctionName=n)["Configuration"]["Role"] for n in names.values()}
    assert len(roles) == 5 and lam.get_function(FunctionName="iso-worker")["Configuration"]["Role"] not in roles


def test_outlets_start_the_consumer_through_the_requests_function(cloud):
    before = cloud.invocations.get("RequestsFunction", 0)
    run = cloud.run_dag("producer")
    assert run["state"] == "success"
    assert _ran_in(cloud, "producer")
    store = cloud.engine().store
    consumer_runs = store.list_runs("consumer")
    assert consumer_runs, "the asset event started no consumer run"
    run_c = consumer_runs[0]
    assert run_c["state"] == "success"
    tis = ti_map(store, "consumer", run_c["run_id"])
    assert tis[("read", -1)]["state"] == "success"
    assert cloud.invocations["RequestsFunction"] > before  # the worker asked; it did not write
    assert not cloud.iam.take_denials()


def test_trigger_dag_run_starts_and_waits_through_the_requests_function(cloud):
    run = cloud.run_dag("kicker")
    assert run["state"] == "success", ti_map(cloud.engine().store, "kicker", run["run_id"])
    target = cloud.engine().store.get_run("target", "from_kicker")
    assert target["state"] == "success" and target["conf"] == {"n": 2}
    assert not cloud.iam.take_denials()


def test_a_task_cannot_reach_another_dags_items_outputs_plan_or_secret(cloud):
    store = cloud.engine().store
    triggers = cloud.invocations.get("TriggerFunction", 0)
    plan_key = f"plans/target/{store.get_current_plan('target').hash}.json"
    assert cloud.run_dag("target", run_id="intruded", conf={"n": 1})["state"] == "success"
    run = cloud.run_dag("intruder", conf={"plan_key": plan_key, "victim_run": "intruded"})
    assert run["state"] == "success"
    tis = ti_map(store, "intruder", run["run_id"])
    got = json.loads(tis[("tamper", -1)]["xcom"])  # inline: small
    # (the local check answers S3 with AccessDeniedException; S3 itself says AccessDenied)
    got = {k: "AccessDeniedException" if v == "AccessDenied" else v for k, v in got.items()}
    assert got == {
        "write_run_item": "AccessDeniedException", "read_run_item": "AccessDeniedException",
        "write_xcom": "AccessDeniedException", "read_plan": "AccessDeniedException",
        "read_secret": "AccessDeniedException",
        "read_own_secret": "allowed", "runid_pointer": "AccessDeniedException",
        "request_as_target": "AccessDeniedException", "trigger_undeclared": "RequestRefused",
        "invoke_trigger_function": "AccessDeniedException", "asset_event_to_requests": "EventError",
        "schedule_in_dag_schedules": "AccessDeniedException", "schedule_with_scheduler_role": "AccessDeniedException",
        "timer_to_trigger": "allowed",
    }
    denials = cloud.iam.take_denials()
    # The timer it could make fired (the cloud's clock moves to it) and its role could not reach the trigger.
    fired = [d for d in denials if d.function == "schedule iso-timers/forged-c"]
    assert [(d.action, d.resource.rsplit(":", 1)[-1]) for d in fired] == [("lambda:InvokeFunction", "iso-trigger")]
    assert cloud.invocations.get("TriggerFunction", 0) == triggers
    denials = [d for d in denials if d not in fired]
    assert {d.function for d in denials} == {"iso-worker-intruders"}
    assert {d.action for d in denials} >= {"dynamodb:UpdateItem", "dynamodb:GetItem", "s3:PutObject", "s3:GetObject",
                                           "secretsmanager:GetSecretValue", "dynamodb:PutItem", "lambda:InvokeFunction",
                                           "scheduler:CreateSchedule", "iam:PassRole"}
    assert store.get_run("target", "intruded").get("note") is None


def _forged_failure_of_target(cloud, run_id: str) -> tuple[dict, dict]:
    """A finished run ``run_id`` of DAG `target`, and an OnFailure record naming its task `double`
    as if `target`'s own worker sent it; also that task instance as it was."""
    store = cloud.engine().store
    plan = store.get_current_plan("target")
    assert cloud.run_dag("target", run_id=run_id)["state"] == "success"
    before = store.get_ti("target", run_id, "double")
    arn = cloud.clients.client("lambda").get_function(FunctionName=cloud.worker_of("target"))["Configuration"]["FunctionArn"]
    record = {"version": "1.0", "requestContext": {"requestId": "forged", "functionArn": f"{arn}:$LATEST",
                                                   "condition": "RetriesExhausted", "approximateInvokeCount": 1},
              "requestPayload": {"dag_id": "target", "run_id": run_id, "task_id": "double", "map_index": -1,
                                 "try_number": 1, "plan_hash": plan.hash},
              "responseContext": {"statusCode": 200, "functionError": "Unhandled"}}
    return record, before


def test_a_failure_record_forged_by_another_dags_task_is_ignored(cloud, caplog):
    """Every worker role may send to the failure queue (Lambda delivers OnFailure records with it);
    a record DAG `intruder`'s worker sends in `target`'s name is ignored, with a log line."""
    from orchestrator.local import iam

    store = cloud.engine().store
    record, before = _forged_failure_of_target(cloud, "victim")
    queue = cloud.stack.outputs["FailureQueueUrl"]
    token = iam.CALLER.set((cloud.iam, cloud.worker_of("intruder")))  # sent as the intruder's worker
    try:
        import json

        cloud.clients.client("sqs").send_message(QueueUrl=queue, MessageBody=json.dumps(record))
    finally:
        iam.CALLER.reset(token)
    with caplog.at_level("WARNING"):
        cloud.wait_idle()
    assert "OnFailure record ignored: it was sent by 'iso-worker-intruders', not by 'iso-worker-target'" in caplog.text
    assert store.get_ti("target", "victim", "double") == before
    assert not cloud.iam.take_denials()



def test_a_task_reads_its_dags_own_variables_and_connections(cloud):
    ssm, sm = cloud.clients.client("ssm"), cloud.clients.client("secretsmanager")
    ssm.put_parameter(Name="/stratus/dags/reader/colour", Value="blue", Type="String")
    ssm.put_parameter(Name="/stratus/variables/colour", Value="red", Type="String")
    ssm.put_parameter(Name="/stratus/variables/shared_only", Value="yes", Type="String")
    sm.create_secret(Name="stratus/dags/reader/db", SecretString='{"conn_type": "postgres", "host": "own.host"}')
    sm.create_secret(Name="stratus/connections/db", SecretString='{"conn_type": "postgres", "host": "global.host"}')
    run = cloud.run_dag("reader")
    assert run["state"] == "success"
    got = json.loads(ti_map(cloud.engine().store, "reader", run["run_id"])[("read", -1)]["xcom"])
    assert got == {"colour": "blue", "shared": "yes", "host": "own.host"}
    assert not cloud.iam.take_denials()


def test_a_failure_record_sent_to_the_conductor_directly_is_ignored(cloud, caplog):
    """Not through the failure queue (e.g. a one-time schedule a task made, whose role may invoke
    the conductor): no SQS sender vouches for it, so even a right-looking functionArn is not trusted."""
    import json

    store = cloud.engine().store
    record, before = _forged_failure_of_target(cloud, "victim2")
    with caplog.at_level("WARNING"):
        cloud.clients.client("lambda").invoke(FunctionName=cloud.resources.conductor_function,
                                              Payload=json.dumps(record).encode())
        cloud.wait_idle()
    assert "OnFailure record ignored: it did not come through the failure queue" in caplog.text
    assert store.get_ti("target", "victim2", "double") == before

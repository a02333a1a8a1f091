from __future__ import annotations

import json

import pytest
from botocore.stub import Stubber

from orchestrator.engine.dispatch import DispatchError, LambdaDispatcher
from orchestrator.engine.messages import RetryMessage, TaskMessage

MSG = TaskMessage(dag_id="d", run_id="manual__1", task_id="t", map_index=3, try_number=2, plan_hash="abc")


def test_invoke_worker_is_an_async_invoke_with_the_message(aws):
    clients, resources = aws
    dispatcher = LambdaDispatcher(clients, resources)
    lam = clients.client("lambda")
    with Stubber(lam) as stub:
        stub.add_response("invoke", {"StatusCode": 202}, {
            "FunctionName": "worker", "InvocationType": "Event", "Payload": MSG.model_dump_json().encode()})
        dispatcher.invoke_worker(MSG, "WorkerFunction")
        stub.assert_no_pending_responses()


def test_short_retry_delay_uses_sqs_delay_seconds(aws):
    clients, resources = aws
    sqs = clients.client("sqs")
    url = sqs.create_queue(QueueName="retries")["QueueUrl"]
    dispatcher = LambdaDispatcher(clients, resources.__class__(**{**resources.__dict__, "retry_queue_url": url}))
    dispatcher.schedule_retry(MSG, 0)
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)["Messages"]
    assert RetryMessage.model_validate_json(got[0]["Body"]).task == MSG
    with Stubber(sqs) as stub:
        stub.add_response("send_message", {"MessageId": "1"}, {
            "QueueUrl": url, "MessageBody": RetryMessage(task=MSG).model_dump_json(), "DelaySeconds": 900})
        dispatcher.schedule_retry(MSG, 899.6)


def test_long_retry_delay_creates_a_one_time_schedule(aws):
    clients, resources = aws
    res = resources.__class__(**{**resources.__dict__, "conductor_function": "arn:aws:lambda:us-east-1:123456789012:function:c",
                                 "scheduler_role_arn": "arn:aws:iam::123456789012:role/s"})
    LambdaDispatcher(clients, res).schedule_retry(MSG, 3600)
    sched = clients.client("scheduler")
    names = [s["Name"] for s in sched.list_schedules()["Schedules"]]
    assert names == ["retry-d-t-3-2-manual__1"]
    got = sched.get_schedule(Name=names[0])
    assert got["ScheduleExpression"].startswith("at(") and got["ActionAfterCompletion"] == "DELETE"
    assert json.loads(got["Target"]["Input"])["task"]["try_number"] == 2


def test_missing_configuration_is_reported(aws):
    clients, resources = aws
    bare = resources.__class__(table="t", artefact_bucket="b")
    with pytest.raises(DispatchError, match="No retry queue configured \\(STRATUS_RETRY_QUEUE_URL is empty\\)"):
        LambdaDispatcher(clients, bare).schedule_retry(MSG, 5)
    with pytest.raises(DispatchError, match="Retry delays above 900 s need the conductor function"):
        LambdaDispatcher(clients, bare).schedule_retry(MSG, 5000)
    with pytest.raises(DispatchError, match="No worker function configured"):
        LambdaDispatcher(clients, bare).invoke_worker(MSG)

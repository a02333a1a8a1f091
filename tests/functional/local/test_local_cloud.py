"""The local cloud on a small template: handlers run, and what moto does not do is emulated."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest

from orchestrator.local.cloud import LocalCloudError


def _invoke(cloud, name, payload, kind="Event"):
    return cloud.clients.client("lambda").invoke(
        FunctionName=name, InvocationType=kind, Payload=json.dumps(payload).encode()
    )


def _messages(cloud, url):
    out = cloud.clients.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    return out.get("Messages", [])


def test_request_response_runs_the_handler_with_a_context(mini):
    resp = _invoke(mini.cloud, mini.fn("echo"), {"hello": 1}, "RequestResponse")
    body = json.loads(resp["Payload"].read())
    assert "FunctionError" not in resp
    assert body["ok"] is True
    assert 0 < body["remaining_ms"] <= 30_000
    assert mini.events("echo") == [{"hello": 1}]


def test_handler_exception_is_an_unhandled_function_error(mini):
    resp = _invoke(mini.cloud, mini.fn("echo"), {"fail": "boom"}, "RequestResponse")
    body = json.loads(resp["Payload"].read())
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "asked to fail: boom"


def test_event_invokes_run_on_the_pool_and_chain_without_recursion(mini):
    # A chain 60 deep: each handler async-invokes the next; none runs inside its caller.
    payload: dict = {"depth": 0}
    for depth in range(1, 60):
        payload = {"depth": depth, "invoke": {"function": mini.fn("echo"), "payload": payload}}
    resp = _invoke(mini.cloud, mini.fn("echo"), payload)
    assert resp["StatusCode"] == 202
    mini.cloud.wait_idle(60)
    depths = sorted(e["depth"] for e in mini.events("echo"))
    assert depths == list(range(60))


def test_failed_async_invoke_goes_to_the_on_failure_queue_in_lambdas_record_shape(mini):
    _invoke(mini.cloud, mini.fn("task"), {"task": "t1", "fail": "crash"})
    mini.cloud.wait_idle(30)
    # The failure queue is consumed by the consumer function (SQS event source).
    batches = [e for e in mini.events("consumer") if "Records" in e]
    records = [json.loads(r["body"]) for b in batches for r in b["Records"]]
    assert len(records) == 1
    record = records[0]
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["requestContext"]["functionArn"].endswith(f":function:{mini.fn('task')}:$LATEST")
    assert record["requestPayload"] == {"task": "t1", "fail": "crash"}
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorMessage"] == "asked to fail: crash"
    assert batches[0]["Records"][0]["eventSource"] == "aws:sqs"


def test_timed_out_invocation_is_stopped_and_reported(make_mini):
    mini = make_mini(function_timeouts={"TaskFunction": 1})
    _invoke(mini.cloud, mini.fn("task"), {"spin": 30})
    mini.cloud.wait_idle(30)
    records = [json.loads(r["body"]) for b in mini.events("consumer") if "Records" in b for r in b["Records"]]
    assert len(records) == 1
    assert records[0]["responsePayload"]["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert records[0]["requestPayload"] == {"spin": 30}


def test_lambda_retries_an_async_failure_after_a_minute_on_the_local_clock(mini):
    _invoke(mini.cloud, mini.fn("flaky"), {"fail_times": 1})
    mini.cloud.wait_idle(30)
    assert len(mini.events("flaky")) == 1  # the retry waits for the clock
    mini.cloud.clock.advance(timedelta(seconds=61))
    assert len(mini.events("flaky")) == 2
    assert [e for e in mini.events("consumer") if "Records" in e] == []  # it succeeded: no OnFailure


def test_async_failure_without_destination_goes_to_the_dead_letter_queue(mini):
    _invoke(mini.cloud, mini.fn("echo"), {"fail": "always"})
    mini.cloud.clock.advance(timedelta(minutes=4))  # 1 try + 2 retries, 1 and 2 minutes apart
    assert len([e for e in mini.events("echo") if e.get("fail")]) == 3
    dlq = mini.cloud.stack.physical_ids["EchoDeadLetters"]
    msgs = _messages(mini.cloud, dlq)
    assert [json.loads(m["Body"]) for m in msgs] == [{"fail": "always"}]


def test_sqs_delay_follows_the_local_clock(mini):
    url = mini.cloud.stack.outputs["WorkQueueUrl"]
    mini.cloud.clients.client("sqs").send_message(QueueUrl=url, MessageBody="later", DelaySeconds=300)
    mini.cloud.wait_idle(30)
    assert mini.events("consumer") == []
    mini.cloud.clock.advance(timedelta(seconds=200))  # leaves 100 s for a slow machine's wall time
    assert mini.events("consumer") == []
    mini.cloud.clock.advance(timedelta(seconds=101))
    bodies = [r["body"] for e in mini.events("consumer") for r in e["Records"]]
    assert bodies == ["later"]


def test_batch_item_failures_stay_and_reach_the_dead_letter_queue(mini):
    url = mini.cloud.stack.outputs["WorkQueueUrl"]
    sqs = mini.cloud.clients.client("sqs")
    for body in ("good-1", "bad-1", "good-2"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    mini.cloud.wait_idle(30)
    mini.cloud.clock.advance(timedelta(seconds=61))  # visibility timeout 60 s: "bad-1" comes back once
    mini.cloud.clock.advance(timedelta(seconds=61))  # maxReceiveCount 2: then it is dead-lettered
    delivered = [r["body"] for e in mini.events("consumer") for r in e["Records"]]
    assert sorted(delivered) == ["bad-1", "bad-1", "good-1", "good-2"]
    dead = _messages(mini.cloud, mini.cloud.stack.physical_ids["WorkDeadLetters"])
    assert [m["Body"] for m in dead] == ["bad-1"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_s3_object_created_reaches_the_rule_target_in_aws_event_shape(mini):
    bucket = mini.cloud.stack.outputs["LandingBucketName"]
    s3 = mini.cloud.clients.client("s3")
    s3.put_object(Bucket=bucket, Key="in/a.csv", Body=b"a,b\n")
    s3.put_object(Bucket=bucket, Key="in/a.csv", Body=b"a,b,c\n")
    mini.cloud.wait_idle(30)
    events = mini.events("objects")
    assert len(events) == 2
    # Two async invocations run side by side: they record in either order; the sequencer orders the puts.
    first, second = sorted(events, key=lambda e: e["detail"]["object"]["sequencer"])
    assert first["source"] == "aws.s3" and first["detail-type"] == "Object Created"
    assert first["detail"]["bucket"] == {"name": bucket}
    assert first["detail"]["object"]["key"] == "in/a.csv"
    assert first["detail"]["object"]["size"] == 4
    assert first["detail"]["object"]["etag"] and '"' not in first["detail"]["object"]["etag"]
    assert first["detail"]["reason"] == "PutObject"
    assert first["id"] != second["id"]
    assert first["detail"]["object"]["sequencer"] < second["detail"]["object"]["sequencer"]
    datetime.strptime(first["time"], "%Y-%m-%dT%H:%M:%SZ")


def test_template_schedule_fires_on_the_local_clock(mini):
    mini.cloud.clock.advance(timedelta(minutes=25))
    beats = [e for e in mini.events("echo") if e.get("kind") == "heartbeat"]
    assert len(beats) == 2
    first = datetime.strptime(beats[0]["at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    second = datetime.strptime(beats[1]["at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert second - first == timedelta(minutes=10)


def test_cron_schedule_fires_in_its_time_zone_and_at_schedules_delete_themselves(mini):
    cloud = mini.cloud
    scheduler = cloud.clients.client("scheduler")
    echo_arn = cloud.clients.client("lambda").get_function(FunctionName=mini.fn("echo"))["Configuration"]["FunctionArn"]
    target = {"Arn": echo_arn, "RoleArn": cloud.stack.outputs["SchedulerRoleArn"]}
    group = cloud.stack.outputs["SchedulerGroupName"]
    scheduler.create_schedule(
        Name="daily-paris", GroupName=group, ScheduleExpression="cron(30 6 * * ? *)",
        ScheduleExpressionTimezone="Europe/Paris", FlexibleTimeWindow={"Mode": "OFF"},
        Target={**target, "Input": '{"kind": "daily", "at": "<aws.scheduler.scheduled-time>"}'},
    )
    when = (cloud.now() + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S")
    scheduler.create_schedule(
        Name="once", GroupName=group, ScheduleExpression=f"at({when})", ScheduleExpressionTimezone="UTC",
        FlexibleTimeWindow={"Mode": "OFF"}, ActionAfterCompletion="DELETE",
        Target={**target, "Input": '{"kind": "once"}'},
    )
    cloud.clock.advance(timedelta(days=2))
    daily = [e for e in mini.events("echo") if e.get("kind") == "daily"]
    assert len(daily) == 2
    from zoneinfo import ZoneInfo

    for e in daily:
        local = datetime.strptime(e["at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).astimezone(ZoneInfo("Europe/Paris"))
        assert (local.hour, local.minute) == (6, 30)
    assert [e for e in mini.events("echo") if e.get("kind") == "once"] == [{"kind": "once"}]
    names = [s["Name"] for s in scheduler.list_schedules(GroupName=group)["Schedules"]]
    assert "once" not in names and "daily-paris" in names


def test_logs_of_each_invocation_land_in_cloudwatch_logs(mini):
    _invoke(mini.cloud, mini.fn("echo"), {"x": 1}, "RequestResponse")
    logs = mini.cloud.clients.client("logs")
    group = f"/aws/lambda/{mini.fn('echo')}"
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert len(streams) == 1
    messages = [e["message"] for e in logs.get_log_events(logGroupName=group, logStreamName=streams[0]["logStreamName"])["events"]]
    assert messages[0].startswith("START RequestId:")
    assert messages[-1].startswith("REPORT RequestId:")


def test_missing_handler_module_names_the_file(mini):
    (mini.root / "fns" / "flaky" / "app.py").unlink()
    resp = _invoke(mini.cloud, mini.fn("flaky"), {}, "RequestResponse")
    body = json.loads(resp["Payload"].read())
    assert resp["FunctionError"] == "Unhandled"
    assert "fns/flaky/app.py" in body["errorMessage"] and "does not exist" in body["errorMessage"]


def test_wait_idle_says_what_is_busy_when_it_times_out(mini):
    _invoke(mini.cloud, mini.fn("echo"), {"spin": 3})
    with pytest.raises(LocalCloudError, match=r"still busy after 0 s: 1 invocation\(s\) queued or running"):
        mini.cloud.wait_idle(0.2)
    mini.cloud.wait_idle(30)


def test_auto_advance_jumps_over_delays_when_idle(make_mini):
    mini = make_mini(auto_advance=True)
    url = mini.cloud.stack.outputs["WorkQueueUrl"]
    mini.cloud.clients.client("sqs").send_message(QueueUrl=url, MessageBody="later", DelaySeconds=900)
    mini.cloud.wait_idle(30)
    assert [r["body"] for e in mini.events("consumer") for r in e["Records"]] == ["later"]
    assert mini.cloud.clock.offset >= timedelta(seconds=890)


def test_server_mode_serves_other_clients_on_localhost(make_mini):
    mini = make_mini(server=True, stack_name="mini-srv")
    assert mini.cloud.endpoint_url.startswith("http://127.0.0.1:")
    client = boto3.client(
        "lambda", endpoint_url=mini.cloud.endpoint_url, region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="x",
    )
    resp = client.invoke(FunctionName=mini.fn("echo"), Payload=b'{"via": "server", "invoke": {"function": "mini-srv-echo", "payload": {"nested": true}}}')
    assert json.loads(resp["Payload"].read())["ok"] is True
    mini.cloud.wait_idle(30)
    assert {"nested": True} in mini.events("echo")

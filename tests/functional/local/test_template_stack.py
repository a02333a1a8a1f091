"""The project's template.yaml, translated and created as a moto CloudFormation stack."""

from __future__ import annotations

from pathlib import Path

import pytest
from moto import mock_aws

from orchestrator import constants as c
from orchestrator.config import OUTPUT_KEYS, Clients, Resources
from orchestrator.local.stack import deploy_stack
from orchestrator.local.template import translate

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def deployed():
    translated = translate(ROOT / "template.yaml", staging_bucket="stratus-stack-test")
    with mock_aws():
        clients = Clients(region_name="us-east-1")
        stack = deploy_stack(
            clients, translated, stack_name="stratus-test", staging_bucket="stratus-stack-test", region="us-east-1"
        )
        yield clients, stack


def test_stack_is_complete_with_every_output(deployed):
    clients, stack = deployed
    status = clients.client("cloudformation").describe_stacks(StackName="stratus-test")["Stacks"][0]["StackStatus"]
    assert status == "CREATE_COMPLETE"
    assert set(OUTPUT_KEYS) | {"FailureQueueUrl", "ApiUrl", "DashboardName"} <= set(stack.outputs)
    assert stack.outputs["ApiUrl"].startswith("https://") and ".lambda-url.us-east-1.on.aws" in stack.outputs["ApiUrl"]


def test_every_resource_the_orchestrator_looks_up_exists(deployed):
    clients, stack = deployed
    res = Resources.from_stack_outputs(stack.outputs)
    table = clients.client("dynamodb").describe_table(TableName=res.table)["Table"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    assert [g["IndexName"] for g in table["GlobalSecondaryIndexes"]] == ["gsi1"]
    ttl = clients.client("dynamodb").describe_time_to_live(TableName=res.table)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at"
    s3 = clients.client("s3")
    for bucket in (res.artefact_bucket, res.landing_bucket):
        s3.head_bucket(Bucket=bucket)
    # moto's GetBucketNotificationConfiguration omits EventBridge; its bucket model has it.
    from moto.s3.models import s3_backends

    bucket = s3_backends["123456789012"]["aws"].buckets[res.landing_bucket]
    assert bucket.notification_configuration.event_bridge is not None
    lam = clients.client("lambda")
    for name in (res.worker_function, res.conductor_function, res.trigger_function):
        env = lam.get_function(FunctionName=name)["Configuration"]["Environment"]["Variables"]
        assert env[c.ENV_TABLE] == res.table
        assert env[c.ENV_WORKER_FUNCTION] == res.worker_function
        assert env[c.ENV_RETRY_QUEUE_URL] == res.retry_queue_url
        assert env[c.ENV_SCHEDULER_ROLE_ARN] == res.scheduler_role_arn
        assert env[c.ENV_SCHEDULER_GROUP] == res.scheduler_group
    sqs = clients.client("sqs")
    for url in (res.retry_queue_url, stack.outputs["FailureQueueUrl"]):
        assert "RedrivePolicy" in sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    scheduler = clients.client("scheduler")
    assert scheduler.get_schedule_group(Name=res.scheduler_group)["State"] == "ACTIVE"
    assert scheduler.get_schedule(Name="stratus-test-sweeper")["ScheduleExpression"] == "rate(5 minutes)"
    role = res.scheduler_role_arn.rsplit("/", 1)[1]
    assert clients.client("iam").get_role(RoleName=role)["Role"]["Arn"] == res.scheduler_role_arn
    cw = clients.client("cloudwatch")
    assert cw.get_dashboard(DashboardName=stack.outputs["DashboardName"])["DashboardName"] == "stratus-test"


def test_worker_event_invoke_config_and_conductor_queues_are_live(deployed):
    clients, stack = deployed
    lam = clients.client("lambda")
    config = lam.get_function_event_invoke_config(FunctionName=stack.outputs["WorkerFunctionName"])
    assert config["MaximumRetryAttempts"] == 0
    failure_arn = clients.client("sqs").get_queue_attributes(
        QueueUrl=stack.outputs["FailureQueueUrl"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == failure_arn
    mappings = lam.list_event_source_mappings(FunctionName=stack.outputs["ConductorFunctionName"])["EventSourceMappings"]
    assert failure_arn in {m["EventSourceArn"] for m in mappings} and len(mappings) == 2
    names = {a["AlarmName"] for a in clients.client("cloudwatch").describe_alarms()["MetricAlarms"]}
    assert {"stratus-test-task-failures", "stratus-test-worker-errors", "stratus-test-dead-letters"} <= names

"""template.yaml, checked on the samtranslator output (what CloudFormation receives).

Moto's CloudFormation skips schedules, event invoke configuration and alarms, so those are
asserted here on the translated template; tests/functional/local/test_template_stack.py
creates the rest in moto.
"""

from __future__ import annotations

from typing import Any

from orchestrator import constants as c
from orchestrator.config import OUTPUT_KEYS

FUNCTIONS = {
    "WorkerFunction": "worker",
    "ConductorFunction": "conductor",
    "TriggerFunction": "trigger",
    "WidgetFunction": "widget",
    "ApiFunction": "api",
}
ENV_CONSTANTS = [
    c.ENV_TABLE,
    c.ENV_ARTEFACT_BUCKET,
    c.ENV_WORKER_FUNCTION,
    c.ENV_CONDUCTOR_FUNCTION,
    c.ENV_TRIGGER_FUNCTION,
    c.ENV_RETRY_QUEUE_URL,
    c.ENV_SCHEDULER_GROUP,
    c.ENV_SCHEDULER_ROLE_ARN,
    c.ENV_DAGS_ROOT,
]


def _of_type(cfn: dict[str, Any], type_name: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in cfn["Resources"].items() if v["Type"] == type_name}


def test_functions_python312_arm64_with_handlers_and_both_layers(cfn, translated):
    fns = _of_type(cfn, "AWS::Lambda::Function")
    assert set(FUNCTIONS) <= set(fns)
    for logical_id, short in FUNCTIONS.items():
        props = fns[logical_id]["Properties"]
        assert props["Runtime"] == "python3.12"
        assert props["Architectures"] == ["arm64"]
        assert props["Handler"] == "app.handler"
        assert props["TracingConfig"] == {"Mode": "Active"}
        # samtranslator suffixes layer logical ids with a content hash.
        layers = [layer["Ref"] for layer in props["Layers"]]
        assert [x.startswith("StratusLayer") for x in layers] == [True, False]
        assert layers[1].startswith("DagsLayer")
        assert str(translated.functions[logical_id].code_dir).endswith(f"functions/{short}")
        env = props["Environment"]["Variables"]
        missing = [name for name in ENV_CONSTANTS if name not in env]
        assert not missing, f"{logical_id} lacks {missing}"
        assert env[c.ENV_DAGS_ROOT] == "/opt/dags"
        assert props["Role"] == {"Fn::GetAtt": [f"{logical_id.replace('Function', 'Role')}", "Arn"]}


def test_layers_are_built_without_docker_and_the_dag_folder_is_a_parameter(sam):
    lib = sam["Resources"]["StratusLayer"]
    dags = sam["Resources"]["DagsLayer"]
    assert lib["Metadata"]["BuildMethod"] == "makefile"
    assert dags["Metadata"]["BuildMethod"] == "makefile"
    assert dags["Properties"]["ContentUri"] == {"Ref": "DagsPath"}
    assert sam["Parameters"]["DagsPath"]["Default"] == "dags"
    assert "BuildArchitecture" in lib["Metadata"]


def test_worker_async_invoke_has_zero_retries_and_the_failure_queue_as_on_failure(cfn):
    configs = _of_type(cfn, "AWS::Lambda::EventInvokeConfig")
    worker = [v["Properties"] for v in configs.values() if v["Properties"]["FunctionName"] == {"Ref": "WorkerFunction"}]
    assert len(worker) == 1
    assert worker[0]["MaximumRetryAttempts"] == 0
    assert worker[0]["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["FailureQueue", "Arn"]}


def test_conductor_consumes_retry_and_failure_queues_with_batch_item_failures(cfn):
    mappings = _of_type(cfn, "AWS::Lambda::EventSourceMapping")
    conductor = {
        m["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]: m["Properties"]
        for m in mappings.values()
        if m["Properties"]["FunctionName"] == {"Ref": "ConductorFunction"}
    }
    assert set(conductor) == {"RetryQueue", "FailureQueue"}
    for props in conductor.values():
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queues = _of_type(cfn, "AWS::SQS::Queue")
    for name in ("RetryQueue", "FailureQueue"):
        redrive = queues[name]["Properties"]["RedrivePolicy"]
        assert redrive["deadLetterTargetArn"]["Fn::GetAtt"][0].endswith("DeadLetterQueue")
        assert queues[name]["Properties"]["SqsManagedSseEnabled"] is True


def test_sweeper_schedule_every_five_minutes_targets_the_conductor(cfn):
    schedules = _of_type(cfn, "AWS::Scheduler::Schedule")
    sweeper = schedules["SweeperSchedule"]["Properties"]
    assert sweeper["ScheduleExpression"] == "rate(5 minutes)"
    assert sweeper["Target"]["Arn"] == {"Fn::GetAtt": ["ConductorFunction", "Arn"]}
    assert sweeper["Target"]["RoleArn"] == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}
    assert sweeper["Target"]["Input"] == '{"kind": "sweep"}'
    group = _of_type(cfn, "AWS::Scheduler::ScheduleGroup")["SchedulerGroup"]["Properties"]
    assert group["Name"] == {"Fn::Sub": "${AWS::StackName}-schedules"}


def test_landing_bucket_events_route_to_the_trigger_function(cfn):
    rules = _of_type(cfn, "AWS::Events::Rule")
    (rule,) = [r["Properties"] for r in rules.values()]
    assert rule["EventPattern"]["source"] == ["aws.s3"]
    assert rule["EventPattern"]["detail-type"] == ["Object Created"]
    assert rule["EventPattern"]["detail"]["bucket"]["name"] == [{"Ref": "LandingBucket"}]
    assert rule["Targets"][0]["Arn"] == {"Fn::GetAtt": ["TriggerFunction", "Arn"]}
    landing = cfn["Resources"]["LandingBucket"]["Properties"]
    assert landing["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"] is True


def test_buckets_block_public_access_encrypt_and_require_tls(cfn):
    policies = {p["Properties"]["Bucket"]["Ref"]: p["Properties"] for p in _of_type(cfn, "AWS::S3::BucketPolicy").values()}
    for name in ("ArtefactBucket", "LandingBucket"):
        props = cfn["Resources"][name]["Properties"]
        assert all(props["PublicAccessBlockConfiguration"].values())
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
        (statement,) = policies[name]["PolicyDocument"]["Statement"]
        assert statement["Effect"] == "Deny"
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_table_matches_the_run_store(cfn):
    props = cfn["Resources"]["RunTable"]["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
    (gsi,) = props["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "gsi1"
    assert [k["AttributeName"] for k in gsi["KeySchema"]] == ["gsi1pk", "gsi1sk"]
    # The same projection as the store's create_table (keys and state: counter writes skip the index).
    from orchestrator.store.dynamo import INDEX_ATTRIBUTES

    assert gsi["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(INDEX_ATTRIBUTES)}


def test_alarms_cover_task_failures_worker_errors_and_dead_letters(cfn):
    alarms = _of_type(cfn, "AWS::CloudWatch::Alarm")
    assert set(alarms) == {"TaskFailuresAlarm", "WorkerErrorsAlarm", "DeadLettersAlarm"}
    failures = alarms["TaskFailuresAlarm"]["Properties"]
    assert "TasksFailed" in failures["Metrics"][0]["Expression"]
    assert alarms["WorkerErrorsAlarm"]["Properties"]["MetricName"] == "Errors"
    for alarm in alarms.values():
        assert alarm["Properties"]["TreatMissingData"] == "notBreaching"


def test_api_has_an_iam_function_url_and_there_is_a_dashboard(cfn):
    (url,) = _of_type(cfn, "AWS::Lambda::Url").values()
    assert url["Properties"]["AuthType"] == "AWS_IAM"
    assert url["Properties"]["TargetFunctionArn"] == {"Ref": "ApiFunction"}
    assert "Dashboard" in _of_type(cfn, "AWS::CloudWatch::Dashboard")


def test_outputs_have_every_key_the_orchestrator_reads(cfn):
    outputs = set(cfn["Outputs"])
    assert set(OUTPUT_KEYS) <= outputs
    assert {"FailureQueueUrl", "ApiUrl", "DashboardName"} <= outputs


def test_skipped_by_moto_lists_what_the_local_cloud_creates_itself(translated):
    skipped = {v["Type"] for v in translated.skipped_by_moto.values()}
    assert {
        "AWS::Scheduler::Schedule",
        "AWS::Scheduler::ScheduleGroup",
        "AWS::Lambda::EventInvokeConfig",
        "AWS::CloudWatch::Alarm",
        "AWS::Lambda::Url",
    } <= skipped

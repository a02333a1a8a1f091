"""A small SAM template and fake handler modules in tmp_path, for testing the local cloud itself.

Each fake handler appends every event it receives to ``$RECORD_DIR/<function>.jsonl`` and
acts on a few keys: ``fail`` raises, ``spin`` loops for that many seconds in Python,
``invoke`` async-invokes ``{"function": name, "payload": {...}}``, ``send`` sends
``{"queue_url", "body", "delay"}`` to SQS, ``fail_ids`` (SQS batches) reports those
message bodies as batch item failures.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from orchestrator.local import speedups
from orchestrator.local.cloud import LocalCloud

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  RecordDir:
    Type: String
Globals:
  Function:
    Runtime: python3.12
    Handler: app.handler
    Timeout: 30
    Environment:
      Variables:
        RECORD_DIR: !Ref RecordDir
        WORK_QUEUE_URL: !Ref WorkQueue
Resources:
  FailureQueue:
    Type: AWS::SQS::Queue
  WorkQueue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 60
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt WorkDeadLetters.Arn
        maxReceiveCount: 2
  WorkDeadLetters:
    Type: AWS::SQS::Queue
  EchoDeadLetters:
    Type: AWS::SQS::Queue
  Landing:
    Type: AWS::S3::Bucket
    Properties:
      NotificationConfiguration:
        EventBridgeConfiguration:
          EventBridgeEnabled: true
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub "${AWS::StackName}-echo"
      CodeUri: fns/echo/
      # The echo handler async-invokes the next link of a chain: a SAM policy template the
      # translator expands (the local IAM check authorises the invoke against it).
      Policies:
        - LambdaInvokePolicy:
            FunctionName: !Sub "${AWS::StackName}-echo"
      DeadLetterQueue:
        Type: SQS
        TargetArn: !GetAtt EchoDeadLetters.Arn
  TaskFunction:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub "${AWS::StackName}-task"
      CodeUri: fns/echo/
      EventInvokeConfig:
        MaximumRetryAttempts: 0
        DestinationConfig:
          OnFailure:
            Type: SQS
            Destination: !GetAtt FailureQueue.Arn
  FlakyFunction:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub "${AWS::StackName}-flaky"
      CodeUri: fns/flaky/
      EventInvokeConfig:
        MaximumRetryAttempts: 1
        DestinationConfig:
          OnFailure:
            Type: SQS
            Destination: !GetAtt FailureQueue.Arn
  ConsumerFunction:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub "${AWS::StackName}-consumer"
      CodeUri: fns/echo/
      Events:
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt WorkQueue.Arn
            BatchSize: 5
            FunctionResponseTypes: [ReportBatchItemFailures]
        Failures:
          Type: SQS
          Properties:
            Queue: !GetAtt FailureQueue.Arn
  ObjectFunction:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub "${AWS::StackName}-objects"
      CodeUri: fns/echo/
      Events:
        Created:
          Type: EventBridgeRule
          Properties:
            Pattern:
              source: [aws.s3]
              detail-type: [Object Created]
              detail:
                bucket:
                  name: [!Ref Landing]
  SchedulerRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: scheduler.amazonaws.com}
            Action: sts:AssumeRole
      Policies:  # the schedule's target is invoked with this role (the local cloud checks it, as AWS)
        - PolicyName: invoke-echo
          PolicyDocument:
            Version: "2012-10-17"
            Statement:
              - Effect: Allow
                Action: [lambda:InvokeFunction]
                Resource: !GetAtt EchoFunction.Arn
  Group:
    Type: AWS::Scheduler::ScheduleGroup
    Properties:
      Name: !Sub "${AWS::StackName}-group"
  Heartbeat:
    Type: AWS::Scheduler::Schedule
    Properties:
      Name: !Sub "${AWS::StackName}-heartbeat"
      ScheduleExpression: rate(10 minutes)
      FlexibleTimeWindow: {Mode: "OFF"}
      Target:
        Arn: !GetAtt EchoFunction.Arn
        RoleArn: !GetAtt SchedulerRole.Arn
        Input: '{"kind": "heartbeat", "at": "<aws.scheduler.scheduled-time>"}'
Outputs:
  WorkQueueUrl:
    Value: !Ref WorkQueue
  FailureQueueUrl:
    Value: !Ref FailureQueue
  LandingBucketName:
    Value: !Ref Landing
  SchedulerRoleArn:
    Value: !GetAtt SchedulerRole.Arn
  SchedulerGroupName:
    Value: !Sub "${AWS::StackName}-group"
  TableName:
    Value: unused
  ArtefactBucketName:
    Value: unused
"""

ECHO = '''\
import json, os, time
import boto3

def _record(context, event):
    path = os.path.join(os.environ["RECORD_DIR"], context.function_name + ".jsonl")
    with open(path, "a") as fh:
        fh.write(json.dumps(event) + "\\n")

def handler(event, context):
    _record(context, event)
    if isinstance(event, dict):
        if event.get("spin"):
            end = time.monotonic() + float(event["spin"])
            while time.monotonic() < end:
                pass
        if event.get("invoke"):
            target = event["invoke"]
            boto3.client("lambda").invoke(FunctionName=target["function"], InvocationType="Event",
                                          Payload=json.dumps(target["payload"]).encode())
        if event.get("send"):
            s = event["send"]
            boto3.client("sqs").send_message(QueueUrl=s["queue_url"], MessageBody=s["body"],
                                             DelaySeconds=s.get("delay", 0))
        if event.get("fail"):
            raise ValueError("asked to fail: " + str(event["fail"]))
        if "Records" in event:
            bad = [r["messageId"] for r in event["Records"] if r.get("body", "").startswith("bad")]
            if any(r.get("body") == "crash" for r in event["Records"]):
                raise RuntimeError("batch crashed")
            return {"batchItemFailures": [{"itemIdentifier": i} for i in bad]}
    return {"ok": True, "remaining_ms": context.get_remaining_time_in_millis()}
'''

FLAKY = '''\
import json, os

def handler(event, context):
    path = os.path.join(os.environ["RECORD_DIR"], context.function_name + ".jsonl")
    tries = 0
    if os.path.exists(path):
        tries = len(open(path).read().splitlines())
    with open(path, "a") as fh:
        fh.write(json.dumps(event) + "\\n")
    if tries < event.get("fail_times", 1):
        raise RuntimeError(f"flaky failure {tries + 1}")
    return {"ok": True}
'''


class MiniCloud:
    """A LocalCloud on the small template, with helpers to read what each function received."""

    def __init__(self, root: Path, **kwargs: Any) -> None:
        self.root = root
        self.records = root / "records"
        self.records.mkdir(exist_ok=True)
        (root / "template.yaml").write_text(TEMPLATE)
        for name, code in (("echo", ECHO), ("flaky", FLAKY)):
            (root / "fns" / name).mkdir(parents=True, exist_ok=True)
            (root / "fns" / name / "app.py").write_text(textwrap.dedent(code))
        (root / "dags").mkdir(exist_ok=True)
        kwargs.setdefault("stack_name", "mini")
        self.cloud = LocalCloud(
            root / "dags", template=root / "template.yaml", parameters={"RecordDir": str(self.records)}, **kwargs
        )

    def events(self, short_name: str) -> list[Any]:
        path = self.records / f"{self.cloud.stack_name}-{short_name}.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    def fn(self, short_name: str) -> str:
        return f"{self.cloud.stack_name}-{short_name}"


@pytest.fixture
def mini(tmp_path: Path):
    m = MiniCloud(tmp_path)
    with m.cloud:
        yield m


@pytest.fixture
def make_mini(tmp_path: Path):
    """Build a MiniCloud with custom LocalCloud options; closed at teardown."""
    made: list[MiniCloud] = []

    def build(**kwargs: Any) -> MiniCloud:
        m = MiniCloud(tmp_path, **kwargs)
        m.cloud.start()
        made.append(m)
        return m

    yield build
    for m in made:
        m.cloud.close()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test credentials and region in the environment, and the local cloud's moto speed-ups (the
    code the speed-up tests check) installed."""
    for k, v in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                 "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(k, v)
    assert speedups.install(), "the speed-ups under test are not installed (STRATUS_MOTO_FAST=0 or an untested moto)"

"""put_dashboard against moto's CloudWatch: alarms created, dashboard stored as built."""

from __future__ import annotations

import json

import pytest
from moto import mock_aws

from observe_builders import make_plan

from orchestrator.config import Clients, Resources
from orchestrator.errors import StratusError
from orchestrator.observe.dashboard import put_dashboard

ARN = "arn:aws:lambda:us-east-1:123456789012:function:WidgetFunction"


@pytest.fixture
def clients(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield Clients(region_name="us-east-1")


def test_put_dashboard_creates_alarms_and_the_dashboard(clients):
    plans = [make_plan("daily_sales"), make_plan("hourly")]
    body = put_dashboard(clients, Resources(table="t", artefact_bucket="b"), plans, ARN, "/aws/lambda/worker",
                         dashboard_name="stratus-test")
    cw = clients.client("cloudwatch")
    stored = json.loads(cw.get_dashboard(DashboardName="stratus-test")["DashboardBody"])
    assert stored == body
    alarms = cw.describe_alarms(AlarmNamePrefix="stratus-test-")["MetricAlarms"]
    assert sorted(a["AlarmName"] for a in alarms) == ["stratus-test-daily_sales-runs-failed", "stratus-test-hourly-runs-failed"]
    assert alarms[0]["MetricName"] == "RunsFailed" and alarms[0]["Namespace"] == "Stratus"
    [alarm_widget] = [w for w in stored["widgets"] if w["type"] == "alarm"]
    assert sorted(alarm_widget["properties"]["alarms"]) == sorted(a["AlarmArn"] for a in alarms)
    assert [w["properties"]["endpoint"] for w in stored["widgets"] if w["type"] == "custom"] == [ARN, ARN]


def test_put_dashboard_is_idempotent(clients):
    plans = [make_plan("daily_sales")]
    first = put_dashboard(clients, Resources(table="t", artefact_bucket="b"), plans, ARN, "/aws/lambda/w")
    second = put_dashboard(clients, Resources(table="t", artefact_bucket="b"), plans, ARN, "/aws/lambda/w")
    assert first == second
    assert len(clients.client("cloudwatch").describe_alarms()["MetricAlarms"]) == 1


def test_bad_dashboard_name(clients):
    with pytest.raises(StratusError, match=r"Dashboard name 'my dashboard' is invalid"):
        put_dashboard(clients, Resources(table="t", artefact_bucket="b"), [], ARN, "/g", dashboard_name="my dashboard")


def _stack(clients, outputs: dict[str, str]) -> None:
    template = {
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {k: {"Value": v} for k, v in outputs.items()},
    }
    clients.client("cloudformation").create_stack(StackName="stratus-prod", TemplateBody=json.dumps(template))


def test_put_stack_dashboard_reads_the_stack_outputs(clients):
    from orchestrator.observe.dashboard import put_stack_dashboard

    _stack(clients, {"WidgetFunctionArn": ARN, "WorkerLogGroupName": "/aws/lambda/stratus-prod-worker",
                     "DashboardName": "stratus-prod"})
    body = put_stack_dashboard(clients, Resources(table="t", artefact_bucket="b"), "stratus-prod", [make_plan()])
    stored = json.loads(clients.client("cloudwatch").get_dashboard(DashboardName="stratus-prod")["DashboardBody"])
    assert stored == body
    [log] = [w for w in stored["widgets"] if w["type"] == "log"]
    assert log["properties"]["query"].startswith("SOURCE '/aws/lambda/stratus-prod-worker'")


def test_put_stack_dashboard_needs_the_outputs(clients):
    from orchestrator.observe.dashboard import put_stack_dashboard

    _stack(clients, {"DashboardName": "x"})
    with pytest.raises(StratusError, match=r"Stack 'stratus-prod' has no output 'WidgetFunctionArn', 'WorkerLogGroupName'"):
        put_stack_dashboard(clients, Resources(table="t", artefact_bucket="b"), "stratus-prod", [make_plan()])

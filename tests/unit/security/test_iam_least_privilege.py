"""Least privilege in template.yaml (translated by samtranslator): every role, every statement.

tests/unit/iac/test_template.py (H3) checks the wiring; this checks the permissions: no
wildcard actions, ``Resource: "*"`` only where AWS allows nothing narrower, no managed
admin policies, roles assumable only by their service, nothing invokable by the public.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator.local.template import translate

ROOT = Path(__file__).resolve().parents[3]
# Actions AWS only grants on "*" (no resource-level permissions exist for them).
STAR_ONLY = {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "cloudwatch:PutMetricData",
             "scheduler:ListSchedules", "logs:DescribeLogGroups"}
DESTRUCTIVE = {"dynamodb:DeleteTable", "dynamodb:UpdateTable", "dynamodb:CreateTable", "s3:DeleteBucket",
               "s3:PutBucketPolicy", "iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy",
               "lambda:UpdateFunctionCode", "lambda:AddPermission", "lambda:CreateFunctionUrlConfig"}
SERVICE_PRINCIPALS = {"lambda.amazonaws.com", "scheduler.amazonaws.com"}


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return translate(ROOT / "template.yaml", staging_bucket="stratus-test-staging").cloudformation


def _of_type(cfn: dict[str, Any], type_name: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in cfn["Resources"].items() if v["Type"] == type_name}


def _statements(cfn: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name, role in _of_type(cfn, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            out += [(name, st) for st in policy["PolicyDocument"]["Statement"]]
    for name, pol in {**_of_type(cfn, "AWS::IAM::Policy"), **_of_type(cfn, "AWS::IAM::ManagedPolicy")}.items():
        out += [(name, st) for st in pol["Properties"]["PolicyDocument"]["Statement"]]
    return out


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_there_are_roles_to_check(cfn):
    roles = _of_type(cfn, "AWS::IAM::Role")
    assert {"WorkerRole", "ConductorRole", "TriggerRole", "ApiRole", "WidgetRole"} <= set(roles)
    assert len(_statements(cfn)) > 20


def test_no_wildcard_actions_and_no_not_action(cfn):
    bad = [(role, st) for role, st in _statements(cfn)
           if "NotAction" in st or "NotResource" in st
           or any(a == "*" or a.endswith(":*") or "*" in a.split(":")[-1] for a in _list(st.get("Action", [])))]
    assert bad == []


def test_star_resources_only_for_actions_without_resource_permissions(cfn):
    bad = []
    for role, st in _statements(cfn):
        if st.get("Effect") == "Allow" and "*" in _list(st.get("Resource")):
            extra = set(_list(st["Action"])) - STAR_ONLY
            if extra:
                bad.append((role, sorted(extra)))
    assert bad == []


def test_no_destructive_or_privilege_escalating_actions(cfn):
    found = [(role, a) for role, st in _statements(cfn) for a in _list(st.get("Action", [])) if a in DESTRUCTIVE]
    assert found == []


def test_pass_role_and_invoke_stay_inside_the_stack(cfn):
    for role, st in _statements(cfn):
        actions = set(_list(st.get("Action", [])))
        text = json.dumps(st.get("Resource"))
        if "iam:PassRole" in actions:
            # Workers and the conductor pass only the retry timers' role (it invokes the conductor alone).
            passable = ["TimerRole"] if role in ("WorkerRole", "ConductorRole") else ["SchedulerRole"]
            assert text in [json.dumps({"Fn::GetAtt": [r, "Arn"]}) for r in passable], (role, text)
        if "lambda:InvokeFunction" in actions:
            assert all("${AWS::StackName}-" in json.dumps(r) or "GetAtt" in json.dumps(r)
                       for r in _list(st["Resource"])), (role, text)


def test_secret_reads_if_any_are_scoped_to_stratus_names(cfn):
    for role, st in _statements(cfn):
        actions = [a for a in _list(st.get("Action", [])) if a.startswith(("ssm:", "secretsmanager:", "kms:"))]
        if actions:
            text = json.dumps(st.get("Resource"))
            assert '"*"' not in text and ("stratus" in text.lower() or "StackName" in text), (role, actions, text)


def test_no_admin_or_full_access_managed_policies(cfn):
    for name, role in _of_type(cfn, "AWS::IAM::Role").items():
        text = json.dumps(role["Properties"].get("ManagedPolicyArns", []))
        for word in ("AdministratorAccess", "PowerUserAccess", "FullAccess", "IAMFullAccess"):
            assert word not in text, (name, text)


def test_roles_are_assumable_only_by_their_aws_service(cfn):
    for name, role in _of_type(cfn, "AWS::IAM::Role").items():
        for st in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]:
            principal = st["Principal"]
            assert set(principal) == {"Service"}, (name, principal)
            assert set(_list(principal["Service"])) <= SERVICE_PRINCIPALS, (name, principal)


def test_the_http_api_is_behind_iam_and_nothing_is_public(cfn):
    urls = _of_type(cfn, "AWS::Lambda::Url")
    assert urls and all(u["Properties"]["AuthType"] == "AWS_IAM" for u in urls.values())
    for name, perm in _of_type(cfn, "AWS::Lambda::Permission").items():
        props = perm["Properties"]
        assert props["Principal"] != "*" and props.get("FunctionUrlAuthType") != "NONE", name
        if props["Principal"].endswith(".amazonaws.com"):
            assert "SourceArn" in props or "SourceAccount" in props, f"{name}: service invoke without a source"

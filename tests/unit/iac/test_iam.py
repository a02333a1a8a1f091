"""Least privilege: no statement grants '*' actions, nor '*' resources where an ARN exists.

Checked on the samtranslator output. checkov was considered as a second opinion and left out:
its install (hundreds of packages, over ten minutes here) does not fit `make test`.
"""

from __future__ import annotations

from typing import Any

# Actions AWS offers no resource-level permissions for (Service Authorization Reference):
# "*" is the only possible resource.
NO_RESOURCE_LEVEL = {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "scheduler:ListSchedules"}


def _statements(cfn: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for logical_id, res in cfn["Resources"].items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                for st in policy["PolicyDocument"]["Statement"]:
                    out.append((f"{logical_id}/{policy['PolicyName']}", st))
        if res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for st in props["PolicyDocument"]["Statement"]:
                out.append((logical_id, st))
    return out


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_every_function_has_its_own_role(cfn):
    roles = [r["Properties"]["Role"]["Fn::GetAtt"][0] for r in cfn["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert len(roles) == len(set(roles)) == 7  # WidgetActionsFunction only with WidgetActions=on


def test_no_statement_allows_wildcard_actions(cfn):
    statements = _statements(cfn)
    assert statements
    for where, st in statements:
        for action in _as_list(st["Action"]):
            assert "*" not in action or st["Effect"] == "Deny", f"{where} allows {action!r}"


def test_no_wildcard_resource_where_an_arn_is_known(cfn):
    for where, st in _statements(cfn):
        if st["Effect"] != "Allow":
            continue
        for resource in _as_list(st["Resource"]):
            if resource == "*":
                actions = set(_as_list(st["Action"]))
                assert actions <= NO_RESOURCE_LEVEL, f"{where} grants {sorted(actions - NO_RESOURCE_LEVEL)} on '*'"


def test_no_aws_managed_policies_with_broad_grants(cfn):
    for logical_id, res in cfn["Resources"].items():
        if res["Type"] == "AWS::IAM::Role":
            arns = res["Properties"].get("ManagedPolicyArns")
            # Only the user's optional TaskPolicyArn, behind a condition.
            assert arns is None or arns == {"Fn::If": ["HasTaskPolicy", [{"Ref": "TaskPolicyArn"}], {"Ref": "AWS::NoValue"}]}, logical_id


def test_scheduler_role_can_only_invoke_the_trigger_and_conductor(cfn):
    role = cfn["Resources"]["SchedulerRole"]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "scheduler.amazonaws.com"}
    (st,) = role["Policies"][0]["PolicyDocument"]["Statement"]
    assert st["Action"] == ["lambda:InvokeFunction"]
    targets = sorted(r["Fn::Sub"].rsplit("-", 1)[1] for r in st["Resource"])
    assert targets == ["conductor", "trigger"]

"""The local IAM check's two halves without a cloud: API call -> IAM requests, and policy evaluation."""

from __future__ import annotations

import pytest

from orchestrator.local.iam import Access, IamCheck, IamCheckError, RolePolicies, conditions_hold, requests_for

REGION, ACCOUNT = "us-east-1", "123456789012"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/runs"


def _key(pk: str, sk: str = "x") -> dict:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _reqs(service: str, op: str, params: dict) -> list[Access]:
    return requests_for(service, op, params, region=REGION, account=ACCOUNT, hash_keys={"runs": "pk"})


def test_a_transaction_is_authorised_item_by_item_with_each_items_own_action():
    items = [
        {"Put": {"TableName": "runs", "Item": _key("DAG#a")}},
        {"Update": {"TableName": "runs", "Key": _key("DAG#a"), "UpdateExpression": "SET x = :x"}},
        {"Delete": {"TableName": "runs", "Key": _key("DAG#b")}},
        {"ConditionCheck": {"TableName": "runs", "Key": _key("DAG#c"), "ConditionExpression": "attribute_exists(pk)"}},
    ]
    got = [(a.action, a.resource, a.context_dict()) for a in _reqs("dynamodb", "TransactWriteItems", {"TransactItems": items})]
    assert got == [
        ("dynamodb:PutItem", TABLE_ARN, {"dynamodb:LeadingKeys": ("DAG#a",)}),
        ("dynamodb:UpdateItem", TABLE_ARN, {"dynamodb:LeadingKeys": ("DAG#a",)}),
        ("dynamodb:DeleteItem", TABLE_ARN, {"dynamodb:LeadingKeys": ("DAG#b",)}),
        ("dynamodb:ConditionCheckItem", TABLE_ARN, {"dynamodb:LeadingKeys": ("DAG#c",)}),
    ]


def test_batch_calls_are_authorised_per_item_and_queries_on_an_index_name_the_index():
    batch = _reqs("dynamodb", "BatchGetItem", {"RequestItems": {"runs": {"Keys": [_key("DAG#a"), _key("DAG#b")]}}})
    assert [(a.action, a.context_dict()["dynamodb:LeadingKeys"]) for a in batch] == [
        ("dynamodb:BatchGetItem", ("DAG#a",)), ("dynamodb:BatchGetItem", ("DAG#b",))]
    query = _reqs("dynamodb", "Query", {"TableName": "runs", "IndexName": "gsi1", "KeyConditionExpression": "gsi1pk = :p",
                                        "ExpressionAttributeValues": {":p": {"S": "X"}}})
    assert query == [Access("dynamodb:Query", f"{TABLE_ARN}/index/gsi1")]
    on_table = _reqs("dynamodb", "Query", {"TableName": "runs", "KeyConditionExpression": "#p = :p AND begins_with(sk, :s)",
                                           "ExpressionAttributeNames": {"#p": "pk"},
                                           "ExpressionAttributeValues": {":p": {"S": "DAG#a"}, ":s": {"S": "R"}}})
    assert on_table[0].context_dict() == {"dynamodb:LeadingKeys": ("DAG#a",)}


def test_a_schedule_with_a_target_role_needs_pass_role_for_scheduler():
    got = _reqs("scheduler", "CreateSchedule", {"Name": "n", "GroupName": "g", "Target": {"Arn": "f", "RoleArn": "arn:aws:iam::1:role/R"}})
    assert got == [
        Access("scheduler:CreateSchedule", f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/g/n"),
        Access("iam:PassRole", "arn:aws:iam::1:role/R", (("iam:PassedToService", ("scheduler.amazonaws.com",)),)),
    ]


def test_resources_of_the_other_services():
    assert _reqs("lambda", "Invoke", {"FunctionName": "stack-worker"}) == [
        Access("lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:stack-worker")]
    assert _reqs("sqs", "SendMessage", {"QueueUrl": "http://localhost:5000/123456789012/retry-q", "MessageBody": "x"}) == [
        Access("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:retry-q")]
    assert _reqs("ssm", "GetParameter", {"Name": "/stratus/variables/x"}) == [
        Access("ssm:GetParameter", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/stratus/variables/x")]
    assert _reqs("s3", "PutObject", {"Bucket": "b", "Key": "xcom/d/r/t.json"}) == [Access("s3:PutObject", "arn:aws:s3:::b/xcom/d/r/t.json")]


def test_an_operation_without_a_mapping_fails_loudly():
    with pytest.raises(IamCheckError, match="no IAM mapping for dynamodb DeleteTable"):
        _reqs("dynamodb", "DeleteTable", {"TableName": "runs"})


def _role(*statements: dict) -> RolePolicies:
    return RolePolicies("r", [{"Version": "2012-10-17", "Statement": list(statements)}])


def test_allow_implicit_deny_and_explicit_deny():
    role = _role(
        {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"], "Resource": TABLE_ARN},
        {"Effect": "Deny", "Action": "dynamodb:PutItem", "Resource": "*"},
    )
    assert role.decide("dynamodb:GetItem", TABLE_ARN, {}) == "allow"
    assert role.decide("dynamodb:getitem", TABLE_ARN, {}) == "allow"  # actions are case-insensitive
    assert role.decide("dynamodb:DeleteItem", TABLE_ARN, {}) == "implicit"
    assert role.decide("dynamodb:GetItem", TABLE_ARN + "2", {}) == "implicit"
    assert role.decide("dynamodb:PutItem", TABLE_ARN, {}) == "deny"


def test_globs_are_iams_not_regular_expressions_and_not_resource_is_honoured():
    role = _role(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::my.bucket/plans/?.json"},
        {"Effect": "Allow", "Action": "s3:PutObject", "NotResource": "arn:aws:s3:::my.bucket/plans/*"},
    )
    assert role.decide("s3:GetObject", "arn:aws:s3:::my.bucket/plans/a.json", {}) == "allow"
    assert role.decide("s3:GetObject", "arn:aws:s3:::my.bucket/plans/ab.json", {}) == "implicit"
    assert role.decide("s3:GetObject", "arn:aws:s3:::myXbucket/plans/a.json", {}) == "implicit"
    assert role.decide("s3:PutObject", "arn:aws:s3:::my.bucket/xcom/a", {}) == "allow"
    assert role.decide("s3:PutObject", "arn:aws:s3:::my.bucket/plans/a", {}) == "implicit"


def test_leading_keys_condition_allows_only_the_own_partition():
    role = _role({
        "Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": TABLE_ARN,
        "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["DAG#a", "DAG#a#*"]}},
    }, {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TABLE_ARN})
    assert role.decide("dynamodb:PutItem", TABLE_ARN, {"dynamodb:LeadingKeys": ("DAG#a#RUN#1",)}) == "allow"
    assert role.decide("dynamodb:PutItem", TABLE_ARN, {"dynamodb:LeadingKeys": ("DAG#b#RUN#1",)}) == "implicit"
    # an Allow whose condition fails does not deny what another statement allows (moto's own code would)
    assert role.decide("dynamodb:GetItem", TABLE_ARN, {"dynamodb:LeadingKeys": ("DAG#b",)}) == "allow"


def test_condition_operators():
    assert conditions_hold({"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
                           {"iam:PassedToService": ("scheduler.amazonaws.com",)})
    assert not conditions_hold({"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
                               {"iam:PassedToService": ("scheduler.amazonaws.com",)})
    assert not conditions_hold({"StringEquals": {"iam:PassedToService": "x"}}, {})  # a missing key fails
    assert conditions_hold({"StringEqualsIfExists": {"iam:PassedToService": "x"}}, {})
    assert conditions_hold({"ForAllValues:StringLike": {"dynamodb:LeadingKeys": "A*"}}, {})  # IAM's pitfall, kept
    assert not conditions_hold({"ForAnyValue:StringLike": {"dynamodb:LeadingKeys": "A*"}}, {"dynamodb:LeadingKeys": ("B",)})
    assert conditions_hold({"StringNotLike": {"s3:prefix": "secret/*"}}, {"s3:prefix": ("public/x",)})
    assert conditions_hold({"Null": {"s3:prefix": "true"}}, {})
    with pytest.raises(IamCheckError, match="condition operator 'NumericLessThan' is not evaluated"):
        conditions_hold({"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": ("5",)})


def test_denials_are_recorded_with_function_role_action_and_resource_and_decisions_are_cached():
    check = IamCheck({"stack-worker": _role({"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": TABLE_ARN})},
                     account=ACCOUNT)
    assert check.authorize("stack-worker", "dynamodb.PutItem", [Access("dynamodb:PutItem", TABLE_ARN)]) is None
    denial = check.authorize("stack-worker", "dynamodb.TransactWriteItems",
                             [Access("dynamodb:PutItem", TABLE_ARN), Access("dynamodb:DeleteItem", TABLE_ARN)])
    assert denial is not None and (denial.function, denial.role, denial.action, denial.resource) == (
        "stack-worker", "r", "dynamodb:DeleteItem", TABLE_ARN)
    assert "may not dynamodb:DeleteItem on arn:aws:dynamodb:us-east-1:123456789012:table/runs" in str(denial)
    assert check.take_denials() == [denial] and check.denials == []
    assert len(check._cache) == 2 and check.calls["stack-worker"] == 2

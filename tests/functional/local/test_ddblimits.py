"""DynamoDB's limits that moto does not enforce are enforced by the local cloud, with DynamoDB's errors."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from orchestrator.config import Clients
from orchestrator.local import ddblimits
from orchestrator.store import create_table


def _nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"S": "leaf"}
    for _ in range(levels):
        value = {"L": [value]} if levels % 2 else {"M": {"k": value}}
    return value


@pytest.fixture
def ddb(monkeypatch: pytest.MonkeyPatch) -> Any:
    for k, v in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                 "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(k, v)
    ddblimits.install()
    with mock_aws():
        clients = Clients(region_name="us-east-1")
        create_table(clients, "t")
        yield clients.client("dynamodb")


def _key(sk: str) -> dict[str, Any]:
    return {"pk": {"S": "RUN#d#r"}, "sk": {"S": sk}}


def _refused(call: Any, message: str) -> None:
    with pytest.raises(ClientError) as caught:
        call()
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert caught.value.response["Error"]["Message"] == message


def test_item_size_counted_as_dynamodb_counts() -> None:
    assert ddblimits.item_size({"ab": {"S": "héllo"}}) == 2 + 6
    assert ddblimits.item_size({"n": {"N": "123.45"}}) == 1 + 4  # 5 significant digits: 3 + 1
    assert ddblimits.item_size({"n": {"N": "-0.00100"}}) == 1 + 2
    assert ddblimits.item_size({"b": {"B": "AAEC"}}) == 1 + 3  # base64 of 3 bytes
    assert ddblimits.item_size({"m": {"M": {"k": {"BOOL": True}, "l": {"L": [{"NULL": True}]}}}}) == \
        1 + 3 + (1 + 1 + 1) + (1 + 1 + (3 + 1 + 1))


def test_nesting_deeper_than_32_levels_is_refused(ddb: Any) -> None:
    ddb.put_item(TableName="t", Item={**_key("ok"), "doc": _nested(32)})
    _refused(lambda: ddb.put_item(TableName="t", Item={**_key("deep"), "doc": _nested(33)}),
             "Nesting Levels have exceeded supported limits")
    _refused(lambda: ddb.update_item(TableName="t", Key=_key("ok"), UpdateExpression="SET #d = :d",
                                     ExpressionAttributeNames={"#d": "doc"},
                                     ExpressionAttributeValues={":d": _nested(40)}),
             "Nesting Levels have exceeded supported limits")
    _refused(lambda: ddb.batch_write_item(RequestItems={"t": [{"PutRequest": {"Item": {**_key("b"),
                                                                                        "doc": _nested(33)}}}]}),
             "Nesting Levels have exceeded supported limits")
    assert [i["sk"]["S"] for i in ddb.scan(TableName="t")["Items"]] == ["ok"]


def test_item_over_400_kb_is_refused(ddb: Any) -> None:
    ddb.put_item(TableName="t", Item={**_key("fits"), "x": {"S": "a" * 400_000}})
    _refused(lambda: ddb.put_item(TableName="t", Item={**_key("big"), "x": {"S": "a" * 409_600}}),
             "Item size has exceeded the maximum allowed size")


def test_empty_attribute_name_is_refused(ddb: Any) -> None:
    _refused(lambda: ddb.put_item(TableName="t", Item={**_key("e"), "m": {"M": {"": {"S": "v"}}}}),
             "One or more parameter values were invalid: An attribute name in Item is empty")


def test_transaction_over_4_mb_writes_nothing(ddb: Any) -> None:
    actions = [{"Put": {"TableName": "t", "Item": {**_key(f"p{i}"), "x": {"S": "y" * 390_000}}}} for i in range(11)]
    _refused(lambda: ddb.transact_write_items(TransactItems=actions),
             "Transaction request cannot include more than 4 MB of data")
    ddb.transact_write_items(TransactItems=actions[:10])  # 3.9 MB: fine
    pages = ddb.get_paginator("scan").paginate(TableName="t", Select="COUNT")  # a scan page holds 1 MB
    assert sum(page["Count"] for page in pages) == 10


def test_transaction_of_101_actions_is_refused(ddb: Any) -> None:
    actions = [{"Put": {"TableName": "t", "Item": _key(f"p{i}")}} for i in range(101)]
    with pytest.raises(ClientError) as caught:
        ddb.transact_write_items(TransactItems=actions)
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert ddb.scan(TableName="t", Select="COUNT")["Count"] == 0

"""DynamoDB parameters read by ``json.loads`` are what moto's shape walk reads.

Every request a case sends is read twice: by the fast path the local cloud installs and by moto's
own walk (``parse_parameters.__wrapped__``) on the same request. The two must be equal, including
blobs (which only the walk decodes: a body naming ``B``/``BS`` must take it) and operations whose
shapes hold a timestamp (never read with ``json.loads``).
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from moto import mock_aws

from orchestrator.config import Clients
from orchestrator.local.speedups import motoparams
from orchestrator.store import create_table

KEY = {"pk": {"S": "RUN#d#r"}, "sk": {"S": "TI#t#-00001"}}


@pytest.fixture
def seen(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Every (operation, fast params, moto's params) of the requests DynamoDB answers in the test."""
    from moto.dynamodb.responses import DynamoHandler

    fast = DynamoHandler.__dict__["parse_parameters"]
    assert getattr(fast, "_stratus_fast", False)
    records: list[tuple[str, Any, Any]] = []

    def both(self: Any, request: Any) -> None:
        fast.__wrapped__(self, request)
        walked = self.params
        fast(self, request)
        records.append((self._get_action(), self.params, walked))

    monkeypatch.setattr(DynamoHandler, "parse_parameters", both)
    with mock_aws():
        clients = Clients(region_name="us-east-1")
        create_table(clients, "t")  # the run table's own schema
        yield clients.client("dynamodb"), records


def test_the_fast_read_equals_moto_walk(seen: Any) -> None:
    ddb, records = seen
    nested = {"M": {"l": {"L": [{"N": "1.5"}, {"NULL": True}, {"BOOL": False}, {"SS": ["a", "b"]}]},
                    "s": {"S": "{\"B\": \"not a blob\"}"}}}
    ddb.put_item(TableName="t", Item={**KEY, "doc": nested, "n": {"N": "7"}})
    ddb.update_item(TableName="t", Key=KEY, UpdateExpression="SET #a = :a", ConditionExpression="#n = :n",
                    ExpressionAttributeNames={"#a": "state", "#n": "n"}, ReturnValues="ALL_NEW",
                    ExpressionAttributeValues={":a": {"S": "running"}, ":n": {"N": "7"}})
    ddb.transact_write_items(TransactItems=[
        {"Update": {"TableName": "t", "Key": KEY, "UpdateExpression": "REMOVE #a",
                    "ExpressionAttributeNames": {"#a": "state"}}},
        {"Put": {"TableName": "t", "Item": {"pk": {"S": "p"}, "sk": {"S": "s"}}}}])
    ddb.query(TableName="t", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": KEY["pk"]},
              Limit=5, ConsistentRead=True)
    blob = base64.b64encode(b"\x00\x01").decode()
    ddb.put_item(TableName="t", Item={**KEY, "b": {"B": b"\x00\x01"}, "bs": {"BS": [b"x"]}})
    ddb.get_item(TableName="t", Key=KEY)
    assert len(records) >= 6
    for action, fast, walked in records:
        assert fast == walked, action
    blobs = [fast for action, fast, _ in records if action == "PutItem" and "b" in fast.get("Item", {})]
    assert blobs and blobs[0]["Item"]["b"]["B"] == b"\x00\x01" != blob  # decoded: moto's walk read it


def test_shapes_with_conversions_keep_moto_walk() -> None:
    from moto.core.utils import get_service_model

    model = get_service_model("dynamodb")
    assert motoparams.plain_json(model.operation_model("TransactWriteItems").input_shape)
    assert motoparams.plain_json(model.operation_model("UpdateItem").input_shape)
    # Timestamps (a restore's point in time, an export's time) are parsed by the walk only.
    assert not motoparams.plain_json(model.operation_model("RestoreTableToPointInTime").input_shape)
    assert not motoparams.plain_json(model.operation_model("ExportTableToPointInTime").input_shape)

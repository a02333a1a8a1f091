"""The transactions the parity test sends, run in a fresh process (``python transaction_cases.py MODE``).

MODE ``plain``: moto as shipped; nothing of Stratus touches moto or botocore (checked below
and reported). MODE ``local``: what the local cloud installs (the speed-ups and the DynamoDB
limits). Prints one JSON document: per case the answer (ok, or the error code, message and
cancellation reasons) and every item of the table afterwards.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

TABLE = "parity"


def _item(pk: str, sk: str, **attrs: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"pk": {"S": pk}, "sk": {"S": sk}}
    for name, value in attrs.items():
        item[name] = {"N": str(value)} if isinstance(value, int) else {"S": value}
    return item


def _nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"S": "leaf"}
    for _ in range(levels):
        value = {"M": {"k": value}}
    return value


def _put(item: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"Put": {"TableName": TABLE, "Item": item, **extra}}


def _update(pk: str, sk: str, expression: str, names: dict[str, str], values: dict[str, Any] | None = None,
            **extra: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"TableName": TABLE, "Key": {"pk": {"S": pk}, "sk": {"S": sk}},
                          "UpdateExpression": expression, "ExpressionAttributeNames": names, **extra}
    if values:
        op["ExpressionAttributeValues"] = values
    return {"Update": op}


# name -> the TransactItems of one TransactWriteItems call, sent in this order on one table.
CASES: list[tuple[str, list[dict[str, Any]]]] = [
    ("valid", [
        _put(_item("RUN#a", "TI#new", state="queued")),
        _update("RUN#a", "RUN", "SET #s = :s ADD #n :one", {"#s": "state", "#n": "tasks_done"},
                {":s": {"S": "running"}, ":one": {"N": "1"}}),
        {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "RUN#a"}, "sk": {"S": "TI#gone"}}}},
        {"ConditionCheck": {"TableName": TABLE, "Key": {"pk": {"S": "RUN#a"}, "sk": {"S": "TI#kept"}},
                            "ConditionExpression": "attribute_exists(pk)"}},
    ]),
    ("conditional failure", [
        _put(_item("RUN#a", "TI#never", state="queued")),
        _update("RUN#a", "RUN", "SET #s = :s", {"#s": "state"}, {":s": {"S": "failed"}, ":want": {"S": "queued"}},
                ConditionExpression="#s = :want", ReturnValuesOnConditionCheckFailure="ALL_OLD"),
    ]),
    ("conditional failure, then a valid action", [
        {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "RUN#a"}, "sk": {"S": "TI#kept"}},
                    "ConditionExpression": "attribute_not_exists(pk)"}},
        _put(_item("RUN#a", "TI#never2", state="queued")),
    ]),
    ("invalid update: ADD onto a string", [
        _put(_item("RUN#a", "TI#never3", state="queued")),
        _update("RUN#a", "RUN", "ADD #s :one", {"#s": "state"}, {":one": {"N": "1"}}),
    ]),
    ("invalid update: a key attribute", [
        _update("RUN#a", "RUN", "SET #t = :t", {"#t": "tasks_done"}, {":t": {"N": "7"}}),
        _update("RUN#a", "TI#kept", "SET #k = :k", {"#k": "sk"}, {":k": {"S": "other"}}),
    ]),
    ("the same item twice", [
        _put(_item("RUN#a", "TI#never4", state="queued")),
        _update("RUN#a", "TI#never4", "SET #s = :s", {"#s": "state"}, {":s": {"S": "x"}}),
    ]),
    ("limit: 101 actions", [_put(_item("RUN#many", f"TI#{i:03d}")) for i in range(101)]),
    ("limit: an item over 400 KB", [
        _put(_item("RUN#a", "TI#never5", state="queued")),
        _put(_item("RUN#big", "TI#big", blob="x" * (410 * 1024))),
    ]),
]

# Limits moto does not enforce: the local cloud refuses them, plain moto writes them.
KINDER_CASES: list[tuple[str, list[dict[str, Any]]]] = [
    ("limit: 33 levels of nesting", [
        _put(_item("RUN#deep", "TI#ok")),
        _put({**_item("RUN#deep", "TI#deep"), "doc": _nested(33)}),
    ]),
    ("limit: more than 4 MB", [_put(_item("RUN#huge", f"TI#{i:02d}", blob="y" * (390 * 1024))) for i in range(11)]),
]


def _seed(ddb: Any) -> None:
    for item in (_item("RUN#a", "RUN", state="queued", tasks_done=0), _item("RUN#a", "TI#gone", state="x"),
                 _item("RUN#a", "TI#kept", state="success")):
        ddb.put_item(TableName=TABLE, Item=item)


def _scan(ddb: Any) -> list[dict[str, Any]]:
    items = ddb.scan(TableName=TABLE, ConsistentRead=True)["Items"]
    return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


def patched() -> dict[str, bool]:
    """Whether each thing Stratus may replace in moto/botocore is replaced in this process."""
    from botocore import auth, loaders
    from moto.core.botocore_stubber import BotocoreStubber
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler

    return {
        "transactions": hasattr(DynamoDBBackend.transact_write_items, "_stratus_fast"),
        "requests": hasattr(BotocoreStubber.process_request, "_stratus_fast"),
        "signatures": hasattr(auth.SigV4Auth.add_auth, "_stratus_fast"),
        "loaders": hasattr(loaders.Loader.load_service_model, "_stratus_shared"),
        "responses": hasattr(DynamoHandler.serialized, "_stratus_fast"),
        "limits": hasattr(DynamoHandler.put_item, "_stratus_limits"),
        "speedups_imported": "orchestrator.local.speedups" in sys.modules,
    }


def main(mode: str) -> None:
    for key, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        os.environ[key] = value
    import boto3
    from botocore.exceptions import ClientError
    from moto import mock_aws

    if mode == "local":
        from orchestrator.local import ddblimits, speedups

        assert speedups.install(), "the speed-ups did not install"
        ddblimits.install()
    out: dict[str, Any] = {"patched": patched(), "cases": {}}
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                    {"AttributeName": "sk", "KeyType": "RANGE"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                               {"AttributeName": "sk", "AttributeType": "S"}])
        _seed(ddb)
        for name, actions in CASES + KINDER_CASES:
            try:
                ddb.transact_write_items(TransactItems=actions)
                answer: dict[str, Any] = {"ok": True}
            except ClientError as exc:
                error = exc.response["Error"]
                answer = {"code": error.get("Code"), "message": error.get("Message"),
                          "reasons": exc.response.get("CancellationReasons")}
            out["cases"][name] = {"answer": answer, "items": _scan(ddb)}
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])

"""Low-level DynamoDB helpers: key builders, value (de)serialisation, the table schema.

The store talks to DynamoDB through the low-level client (one per ``Clients``) so that the
same calls run on AWS, moto and the local cloud. Everything here is pure except
``create_table``, which tests and the local cloud use to build a table matching template.yaml.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

_SER = TypeSerializer()
_DES = TypeDeserializer()

GSI1 = "gsi1"
# Non-key attributes the index gsi1 holds (template.yaml says the same; a test compares them).
# Only ``state`` (run listings filter on it): see ``StoreBase._query_index``.
INDEX_ATTRIBUTES = ("state",)


# ---------------------------------------------------------------- keys


def dag_pk(dag_id: str) -> str:
    return f"DAG#{dag_id}"


def run_pk(dag_id: str, run_id: str) -> str:
    return f"RUN#{dag_id}#{run_id}"


def ti_sk(task_id: str, map_index: int) -> str:
    """``TI#{task_id}#{map_index:06d}``; -1 is ``-00001`` and sorts before 000000."""
    return f"TI#{task_id}#{map_index:06d}"


def ti_prefix(task_id: str) -> str:
    return f"TI#{task_id}#"


def runid_pk(run_id: str) -> str:
    return f"RUNID#{run_id}"


# ---------------------------------------------------------------- values


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, int):
        return value
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_dynamo(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return set(value)
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    if isinstance(value, set):
        return {_from_dynamo(v) for v in value}
    return value


def serialize(value: Any) -> dict[str, Any]:
    """A Python value -> a DynamoDB attribute value (floats become exact decimals)."""
    return _SER.serialize(_to_dynamo(value))


def to_item(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: serialize(v) for k, v in attrs.items() if v is not None}


def from_item(item: dict[str, Any] | None) -> dict[str, Any] | None:
    if item is None:
        return None
    return {k: _from_dynamo(_DES.deserialize(v)) for k, v in item.items()}


def values(**kwargs: Any) -> dict[str, Any]:
    """ExpressionAttributeValues from keyword arguments: ``values(s="queued")`` -> ``{":s": ...}``."""
    return {f":{k}": serialize(v) for k, v in kwargs.items()}


def is_conditional_failure(err: ClientError) -> bool:
    code = err.response.get("Error", {}).get("Code", "")
    return code in ("ConditionalCheckFailedException", "TransactionCanceledException")


def cancellation_codes(err: ClientError) -> list[str]:
    """Per-item reasons of a cancelled transaction (``"None"`` for items that were fine)."""
    reasons = err.response.get("CancellationReasons") or []
    return [str(r.get("Code", "None")) for r in reasons]


# ---------------------------------------------------------------- schema


def create_table(clients: Any, name: str) -> None:
    """Create the run-store table as template.yaml declares it (pk/sk, GSI gsi1, on demand, TTL).

    For tests and the embedded local cloud; on AWS the stack owns the table.
    """
    ddb = clients.client("dynamodb")
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "gsi1pk", "AttributeType": "S"},
            {"AttributeName": "gsi1sk", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": GSI1,
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(INDEX_ATTRIBUTES)},
            }
        ],
    )
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    try:
        ddb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
        )
    except ClientError:  # pragma: no cover - TTL is an optimisation, not a requirement
        pass

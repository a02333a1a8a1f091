"""Cost of one DynamoDB call on the local cloud: boto3 -> moto in process, per operation.

The calls a task's path makes (a consistent GetItem, a conditional UpdateItem with
ReturnValues, a two-action TransactWriteItems, a PutItem) on a table that already holds
``--items`` items (at least ``20 + 5 * --rounds``) of one run partition, through the same hooks as the local cloud
(``orchestrator.local.speedups.motofast`` and the one-lock-per-call dispatch of
``orchestrator.local.functions``). ``--plain`` leaves moto and botocore as they ship (only the
lock), to see what the local cloud's speed-ups save. Each operation is timed over
``--rounds`` rounds, five times; the fastest of the five is printed (CPU time of this
process, which other work on the machine disturbs less than wall time).

Usage::

    python bench/local_calls.py [--rounds 200] [--items 2000] [--plain]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.table import render  # noqa: E402

PK = {"S": "RUN#bench#manual__1"}
ITEM = {"pk": PK, "state": {"S": "queued"}, "try_number": {"N": "1"}, "payload": {"S": "x" * 200},
        "map": {"M": {"a": {"N": "1"}, "b": {"S": "q"}}}}


def _key(i: int) -> dict[str, Any]:
    return {"pk": PK, "sk": {"S": f"TI#work#{i:05d}"}}


def _operations(ddb: Any) -> dict[str, Callable[[int], Any]]:
    names = {"#s": "state"}
    return {
        "GetItem": lambda i: ddb.get_item(TableName="t", Key=_key(i), ConsistentRead=True),
        "UpdateItem": lambda i: ddb.update_item(
            TableName="t", Key=_key(i), UpdateExpression="SET #s = :r ADD try_number :one",
            ConditionExpression="#s = :q", ExpressionAttributeNames=names, ReturnValues="ALL_NEW",
            ExpressionAttributeValues={":r": {"S": "running"}, ":q": {"S": "queued"}, ":one": {"N": "1"}}),
        "TransactWriteItems": lambda i: ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": "t", "Key": _key(i), "UpdateExpression": "SET #s = :d",
                        "ConditionExpression": "#s = :r", "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": {":d": {"S": "success"}, ":r": {"S": "running"}}}},
            {"Put": {"TableName": "t", "Item": {**ITEM, "sk": {"S": f"TI#next#{i:05d}"}},
                     "ConditionExpression": "attribute_not_exists(pk)"}}]),
        "PutItem": lambda i: ddb.put_item(TableName="t", Item={**ITEM, "sk": {"S": f"X#{i:05d}"}}),
    }


def measure(rounds: int = 200, items: int = 2000, plain: bool = False) -> dict[str, float]:
    """CPU ms per call of each operation (the fastest of five batches of ``rounds`` calls)."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(key, "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    import boto3
    from moto import mock_aws

    from orchestrator.local import functions, speedups

    if not plain:
        speedups.install()
    functions._install_hooks()  # one lock per moto call, as in the local cloud
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                    {"AttributeName": "sk", "KeyType": "RANGE"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                               {"AttributeName": "sk", "AttributeType": "S"}])
        # Every call below finds its item queued (then running): one item per call, 20 for the warm-up.
        for i in range(max(items, 20 + 5 * rounds)):
            ddb.put_item(TableName="t", Item={**ITEM, **_key(i)})
        ops = _operations(ddb)
        for i in range(20):  # warm-up: parsers, kept expressions, first-call imports
            for op in ops.values():
                op(i)
        best = {name: float("inf") for name in ops}
        for batch in range(5):
            first = 20 + batch * rounds
            for name, op in ops.items():  # get, claim, finish, put: the steps of a task, in order
                c0 = time.process_time()
                for i in range(first, first + rounds):
                    op(i)
                best[name] = min(best[name], (time.process_time() - c0) * 1000 / rounds)
        return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--plain", action="store_true", help="moto and botocore as they ship (no local speed-ups)")
    args = parser.parse_args(argv)
    best = measure(args.rounds, args.items, args.plain)
    rows = [[name, ms] for name, ms in best.items()] + [["mean of the four", sum(best.values()) / len(best)]]
    setup = "moto and botocore as shipped" if args.plain else "with the local cloud's speed-ups"
    print(render(f"One DynamoDB call on the local cloud, CPU ms ({setup})", ["operation", "CPU ms per call"], rows,
                 [f"Table of {args.items:,} items in one partition; fastest of 5 batches of {args.rounds} calls; "
                  f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}."]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

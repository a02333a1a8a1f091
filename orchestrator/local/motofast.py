"""Make moto's DynamoDB fast enough for 1,000-task runs (tests and the embedded local cloud only).

moto backs up every table touched by a transaction with ``copy.deepcopy`` before applying
it, which makes each transaction O(table size) and a 1,000-way map O(n^2). DynamoDB itself
checks every condition first and then applies all writes; ``install()`` makes moto do the
same: conditions are evaluated up front (a failure cancels with per-item reasons, nothing
written) and the writes are applied without the backup.

moto 5.2 also serialises every DynamoDB response through its shape-driven serializer
(~50 ms for a run item); DynamoDB's wire format is the JSON moto already built, so
successful responses are written with ``json.dumps`` instead. Idempotent; never used on AWS.
"""

from __future__ import annotations

from typing import Any

_FLAG = "_stratus_fast"


def install() -> None:
    """Patch moto's DynamoDB backend in this process (no-op when already patched)."""
    from moto.dynamodb.exceptions import MultipleTransactionsException, TooManyTransactionsException
    from moto.dynamodb.exceptions import TransactionCanceledException
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend.transact_write_items, _FLAG, False):
        return
    from moto.dynamodb.comparisons import get_filter_expression as filter_expr

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        seen: set[tuple[str, str]] = set()
        errors: list[tuple[Any, Any, Any]] = []
        plan = []
        for item in transact_items:
            op_type, op = next(iter(item.items()))
            table_name = op["TableName"]
            if op_type == "Put":
                table = self.get_table(table_name)
                attrs = op["Item"]
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            ident = (str(table_name), str(dict(sorted(key.items()))))
            if ident in seen:
                raise MultipleTransactionsException()
            seen.add(ident)
            cond = op.get("ConditionExpression")
            if cond is not None:
                current = self.get_item(table_name, key)
                check = filter_expr(cond, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues"))
                if not check.expr(current):
                    errors.append(("ConditionalCheckFailed", "The conditional request failed", None))
                    continue
            errors.append((None, None, None))
            plan.append((op_type, op, table_name, key))
        if any(code is not None for code, _, _ in errors):
            raise TransactionCanceledException(errors)
        for op_type, op, table_name, key in plan:
            names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            if op_type == "Put":
                self.put_item(table_name, op["Item"], expression_attribute_names=names,
                              expression_attribute_values=values)
            elif op_type == "Delete":
                self.delete_item(table_name, key, expression_attribute_names=names,
                                 expression_attribute_values=values)
            elif op_type == "Update":
                self.update_item(table_name, key, update_expression=op["UpdateExpression"],
                                 condition_expression=op.get("ConditionExpression"),
                                 expression_attribute_names=names, expression_attribute_values=values)

    setattr(transact_write_items, _FLAG, True)
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    _fast_responses()


def _fast_responses() -> None:
    import json

    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.serialized

    def serialized(self: Any, action_result: Any) -> Any:
        result = action_result.result
        if isinstance(result, dict):
            try:
                body = json.dumps(result)
            except TypeError:
                return original(self, action_result)
            headers = {"Content-Type": "application/x-amz-json-1.0", **self.response_headers}
            return 200, headers, body
        return original(self, action_result)

    DynamoHandler.serialized = serialized  # type: ignore[method-assign]

"""DynamoDB's request limits that moto does not enforce, enforced in the local cloud.

moto accepts writes that DynamoDB refuses; code that passes locally would then fail on AWS.
``install()`` makes moto's DynamoDB front end refuse them first, with DynamoDB's error code
(``ValidationException``) and message, and nothing written:

- an item larger than 400 KB (409,600 bytes, counted as DynamoDB counts: attribute names
  plus values, numbers by significant digits, 3 + 1 bytes per element of a map or list),
  in PutItem, BatchWriteItem and TransactWriteItems (moto's own check counts differently
  and lets items up to its 405,000 of its own measure through; an UpdateItem that makes an
  item too large is moto's own ``ItemSizeToUpdateTooLarge`` check);
- more than 32 levels of nested maps and lists, in an item or an expression value;
- attribute names: empty, or longer than 64 KB (65,535 bytes), at any level;
- a transaction of more than 100 actions (moto checks this too) or more than 4 MB of data.

This is fidelity, not speed: it stays on with ``STRATUS_MOTO_FAST=0``. The local cloud and
the engine/store test fixtures install it; never used on AWS.
"""

from __future__ import annotations

import base64
from typing import Any

ITEM_MAX_BYTES = 400 * 1024
TRANSACTION_MAX_BYTES = 4 * 1024 * 1024
TRANSACTION_MAX_ACTIONS = 100
NESTING_MAX = 32
NAME_MAX_BYTES = 65535
_FLAG = "_stratus_limits"

ITEM_TOO_LARGE = "Item size has exceeded the maximum allowed size"
NESTING_TOO_DEEP = "Nesting Levels have exceeded supported limits"
TRANSACTION_TOO_LARGE = "Transaction request cannot include more than 4 MB of data"


class LimitError(Exception):
    """A DynamoDB limit (message as DynamoDB's); raised to the caller as ``ValidationException``."""


def attribute_size(value: dict[str, Any]) -> int:
    """Bytes DynamoDB counts for one attribute value in wire format (``{"S": "x"}``)."""
    (kind, inner), = value.items()
    if kind == "S":
        return len(inner.encode("utf-8"))
    if kind == "N":
        return _number_size(inner)
    if kind == "B":
        return _binary_size(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(v.encode("utf-8")) for v in inner)
    if kind == "NS":
        return sum(_number_size(v) for v in inner)
    if kind == "BS":
        return sum(_binary_size(v) for v in inner)
    if kind == "L":
        return 3 + sum(1 + attribute_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + attribute_size(v) for k, v in inner.items())
    return 0


def item_size(item: dict[str, Any]) -> int:
    """Bytes DynamoDB counts for an item (names and values)."""
    return sum(len(name.encode("utf-8")) + attribute_size(value) for name, value in item.items())


def _number_size(text: str) -> int:
    digits = text.strip().lstrip("+-").replace(".", "").split("e")[0].split("E")[0].strip("0")
    return (len(digits) + 1) // 2 + 1


def _binary_size(value: Any) -> int:
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    try:
        return len(base64.b64decode(value))
    except (ValueError, TypeError):
        return len(str(value))


def _depth(value: Any) -> int:
    if not isinstance(value, dict) or len(value) != 1:
        return 0
    (kind, inner), = value.items()
    if kind == "M" and isinstance(inner, dict):
        return 1 + max((_depth(v) for v in inner.values()), default=0)
    if kind == "L" and isinstance(inner, list):
        return 1 + max((_depth(v) for v in inner), default=0)
    return 0


def _check_names(attributes: dict[str, Any], where: str) -> None:
    for name, value in attributes.items():
        if not name:
            raise LimitError(f"One or more parameter values were invalid: An attribute name in {where} is empty")
        if len(name.encode("utf-8")) > NAME_MAX_BYTES:
            raise LimitError(f"One or more parameter values were invalid: An attribute name in {where} "
                             f"is longer than {NAME_MAX_BYTES} bytes")
        if isinstance(value, dict) and len(value) == 1:
            (kind, inner), = value.items()
            if kind == "M" and isinstance(inner, dict):
                _check_names(inner, where)
            elif kind == "L" and isinstance(inner, list):
                for element in inner:
                    if isinstance(element, dict) and list(element) == ["M"]:
                        _check_names(element["M"], where)


def check_item(item: dict[str, Any], where: str = "Item", *, deep: bool = True, sized: bool = True) -> int:
    """Raise ``LimitError`` when ``item`` breaks a DynamoDB limit; returns its size (0 when not ``sized``)."""
    _check_names(item, where)
    if deep and any(_depth(v) > NESTING_MAX for v in item.values()):
        raise LimitError(NESTING_TOO_DEEP)
    if not sized:
        return 0
    size = item_size(item)
    if size > ITEM_MAX_BYTES:
        raise LimitError(ITEM_TOO_LARGE)
    return size


def check_values(values: dict[str, Any] | None, *, deep: bool = True) -> int:
    """Expression attribute values: nesting; returns their size (counted towards a transaction's 4 MB)."""
    if not values:
        return 0
    if deep and any(_depth(v) > NESTING_MAX for v in values.values()):
        raise LimitError(NESTING_TOO_DEEP)
    return sum(attribute_size(v) for v in values.values() if isinstance(v, dict) and len(v) == 1)


def check_request(action: str, body: dict[str, Any], raw_length: int, raw_nesting: int) -> None:
    """Check one DynamoDB request (``action`` as in X-Amz-Target) before moto handles it.

    ``raw_length`` (the request's size) and ``raw_nesting`` (how many maps and lists it holds)
    bound the work: a request smaller than an item's limit cannot hold an item too large (its
    JSON is longer than DynamoDB's count), one with fewer than 33 maps and lists cannot nest
    too deep.
    """
    deep = raw_nesting > NESTING_MAX
    sized = raw_length > ITEM_MAX_BYTES
    if action == "PutItem":
        check_item(body.get("Item") or {}, deep=deep, sized=sized)
        check_values(body.get("ExpressionAttributeValues"), deep=deep)
    elif action == "UpdateItem":
        check_values(body.get("ExpressionAttributeValues"), deep=deep)
    elif action == "BatchWriteItem":
        for requests in (body.get("RequestItems") or {}).values():
            for request in requests:
                put = request.get("PutRequest") if isinstance(request, dict) else None
                if put:
                    check_item(put.get("Item") or {}, deep=deep, sized=sized)
    elif action == "TransactWriteItems":
        actions = body.get("TransactItems") or []
        if len(actions) > TRANSACTION_MAX_ACTIONS:
            return  # moto's own TooManyTransactionsException, DynamoDB's message
        total = 0
        for entry in actions:
            for kind, op in entry.items():
                if not isinstance(op, dict):
                    continue
                if kind == "Put":
                    total += check_item(op.get("Item") or {}, deep=deep, sized=sized)
                else:
                    total += item_size(op.get("Key") or {}) if sized else 0
                total += check_values(op.get("ExpressionAttributeValues"), deep=deep) if sized or deep else 0
        if total > TRANSACTION_MAX_BYTES:
            raise LimitError(TRANSACTION_TOO_LARGE)


_ACTIONS = {"put_item": "PutItem", "update_item": "UpdateItem", "batch_write_item": "BatchWriteItem",
            "transact_write_items": "TransactWriteItems"}


def install() -> None:
    """Make moto's DynamoDB front end enforce the limits above, in this process (idempotent)."""
    from moto.dynamodb.exceptions import MockValidationException
    from moto.dynamodb.responses import DynamoHandler

    for method, action in _ACTIONS.items():
        original = getattr(DynamoHandler, method)
        if getattr(original, _FLAG, False):
            continue
        setattr(DynamoHandler, method, _checked(original, action, MockValidationException))


def installed() -> bool:
    """Whether ``install()`` ran in this process."""
    from moto.dynamodb.responses import DynamoHandler

    return bool(getattr(DynamoHandler.put_item, _FLAG, False))


def _checked(original: Any, action: str, error: type[Exception]) -> Any:
    def method(self: Any) -> Any:
        raw = self.raw_body
        if isinstance(raw, (bytes, bytearray)):
            length, nesting = len(raw), raw.count(b'"M"') + raw.count(b'"L"')
        else:
            text = str(raw or "")
            length, nesting = len(text.encode("utf-8")), text.count('"M"') + text.count('"L"')
        try:
            check_request(action, self.body, length, nesting)
        except LimitError as exc:
            raise error(str(exc)) from None
        return original(self)

    method.__name__ = original.__name__
    method.__doc__ = original.__doc__
    method.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(method, _FLAG, True)
    return method

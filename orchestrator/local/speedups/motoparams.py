"""DynamoDB's request parameters read with ``json.loads`` where moto's shape walk would return the same.

moto 5.2 reads every request's parameters by walking the JSON body along the operation's
input shape (``moto.core.parse.JSONParser``): a Python call per node of the document, about a
tenth of an in-process ``TransactWriteItems``. For a JSON-protocol body that walk changes
only what the shapes say to change:

- a ``blob`` is base64-decoded, a ``timestamp`` parsed, a ``float``/``double`` made a float;
- a structure member with a ``serialization`` name is read under that name;
- members a structure does not list, and ``null`` members, are left out.

An operation whose input shapes (followed to the leaves, once per operation) hold no
timestamp, float, double or renamed member, and whose only blobs are the ``B``/``BS`` members
of an ``AttributeValue``, is read with ``json.loads`` when the body holds neither ``"B"`` nor
``"BS"``: every attribute value in it is then one of the kinds the walk leaves as they are.
Members outside the model, or ``null``, are not in a body botocore sent: its parameter
validation refuses them first. A client made with validation turned off (Stratus makes none)
could send them, and moto's handlers would then see them where the walk drops them. Anything
else, another service included, gets moto's walk.

Never used on AWS.
"""

from __future__ import annotations

import json
from typing import Any

_FLAG = "_stratus_fast"
_CONVERTED = frozenset({"blob", "timestamp", "float", "double"})
_ATTRIBUTE_BLOBS = frozenset({"B", "BS"})
_BLOB_KEYS = (b'"B"', b'"BS"')
_JSON_PROTOCOL = ("application/x-amz-json-1.0", "application/x-amz-json-1.1")  # moto's "json" protocol


def plain_json(shape: Any) -> bool:
    """Whether moto's walk of a JSON body along ``shape`` returns ``json.loads`` of it unchanged,
    given no ``"B"``/``"BS"`` key in the body (the blobs of an ``AttributeValue``)."""
    seen: set[tuple[str, str | None]] = set()

    def walk(node: Any, member: str | None) -> bool:
        kind = node.type_name
        if kind in _CONVERTED:
            return kind == "blob" and member in _ATTRIBUTE_BLOBS
        key = (node.name, member if kind == "list" else None)  # a list of blobs is plain only as ``BS``
        if key in seen:
            return True
        seen.add(key)
        if kind == "structure":
            if getattr(node, "is_document_type", False):
                return True
            return all(m.serialization.get("name", name) == name and walk(m, name)
                       for name, m in node.members.items())
        if kind == "list":
            return walk(node.member, member)
        if kind == "map":
            return walk(node.key, None) and walk(node.value, None)
        return True

    return walk(shape, None)


def install() -> None:
    """Route DynamoDB's plain bodies around moto's walk (no-op when installed)."""
    from moto.core.responses import BaseResponse
    from moto.dynamodb.responses import DynamoHandler

    if getattr(DynamoHandler.__dict__.get("parse_parameters"), _FLAG, False):
        return
    original = BaseResponse.parse_parameters
    plain: dict[str, bool] = {}  # operation -> plain_json(input shape)

    def parse_parameters(self: Any, request: Any) -> None:
        body = request.data
        if isinstance(body, bytes) and getattr(request, "content_type", None) in _JSON_PROTOCOL \
                and not any(key in body for key in _BLOB_KEYS):
            action = self._get_action()
            ok = plain.get(action)
            if ok is None:
                ok = plain[action] = _plain_operation(self.boto3_service_name, action)
            if ok:
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = None  # moto's walk makes of it what it makes
                if isinstance(parsed, dict):
                    self.params = parsed
                    return
        original(self, request)

    setattr(parse_parameters, _FLAG, True)
    parse_parameters.__wrapped__ = original  # type: ignore[attr-defined]
    DynamoHandler.parse_parameters = parse_parameters  # type: ignore[method-assign]


def _plain_operation(service: str, action: str) -> bool:
    from moto.core.responses import get_service_model

    try:
        shape = get_service_model(service).operation_model(action).input_shape
    except Exception:  # noqa: BLE001 - an unknown operation: moto's walk reports it as before
        return False
    return shape is not None and plain_json(shape)

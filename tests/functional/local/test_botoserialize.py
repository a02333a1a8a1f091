"""``local.speedups.botoserialize``: a JSON-protocol request body is the very one botocore's own walk writes.

Parameters are generated from the input shape of every operation of the JSON-protocol services
the local cloud serves (timestamps as datetimes and strings, blobs as bytes and text, numbers as
floats, ints and Decimals, nested attribute values, members in the caller's order) and
serialized both ways; the requests must be equal byte for byte, and a member the model does not
know fails the same way.
"""

from __future__ import annotations

import random
from typing import Any

import botocore.session
from botocore.serialize import JSONSerializer

from orchestrator.local.speedups import botoserialize
from tests.functional.local.shapegen import ParamGen

SERVICES = ("dynamodb", "sqs", "logs", "events", "secretsmanager", "ssm", "kms", "kinesis", "stepfunctions")


class _Plain(JSONSerializer):
    """botocore's own walk: ``botoserialize`` leaves serializers of other classes alone."""


def _fast_request(params: Any, op: Any) -> Any:
    serializer = JSONSerializer()
    writes = botoserialize.Writes()
    original = serializer._serialize

    def walk(serialized: Any, value: Any, shape: Any, key: Any = None) -> None:
        writes.of(shape)(serializer, serialized, value, key)

    serializer._serialize = walk  # type: ignore[method-assign]
    try:
        return serializer.serialize_to_request(params, op)
    finally:
        serializer._serialize = original  # type: ignore[method-assign]


def _outcome(make: Any, params: Any, op: Any) -> str:
    try:
        return repr(make(params, op))
    except Exception as exc:  # noqa: BLE001 - the same failure both ways counts as the same answer
        return f"raised {type(exc).__name__}: {exc}"


def test_every_json_request_is_written_as_botocore_writes_it() -> None:
    rng = random.Random(2026)
    session = botocore.session.get_session()
    compared = 0
    for service in SERVICES:
        model = session.get_service_model(service)
        assert model.metadata["protocol"] == "json", service
        for name in model.operation_names:
            op = model.operation_model(name)
            if op.input_shape is None:
                continue
            for _ in range(4):
                params = ParamGen(rng).value(op.input_shape)
                if rng.random() < 0.3:
                    params = dict(reversed(list(params.items())))  # the caller's order is kept
                plain = _outcome(lambda p, o: _Plain().serialize_to_request(p, o), params, op)
                assert _outcome(_fast_request, params, op) == plain, (service, name, params)
                compared += 1
            bad = {**ParamGen(rng).value(op.input_shape), "NotAMember": 1}
            assert _outcome(_fast_request, bad, op) == _outcome(lambda p, o: _Plain().serialize_to_request(p, o), bad, op)
    assert compared > 1500, compared


def test_an_installed_serializer_writes_through_the_walk() -> None:
    botoserialize.install()
    op = botocore.session.get_session().get_service_model("dynamodb").operation_model("PutItem")
    params = {"TableName": "t", "Item": {"pk": {"S": "a"}, "b": {"B": b"\x01"}, "l": {"L": [{"N": "1"}, {"M": {}}]}}}
    assert JSONSerializer.serialize_to_request.__qualname__  # the public door is botocore's own
    assert getattr(JSONSerializer._serialize, "_stratus_fast", False)
    assert JSONSerializer().serialize_to_request(params, op) == _Plain().serialize_to_request(params, op)


def test_wire_names_timestamp_formats_and_decimal_numbers_are_written_as_botocore_writes_them() -> None:
    from datetime import datetime, timezone
    from decimal import Decimal

    from botocore.model import ServiceModel

    model = ServiceModel({
        "metadata": {"protocol": "json", "apiVersion": "2026-01-01", "jsonVersion": "1.0", "targetPrefix": "T",
                     "endpointPrefix": "t", "serviceId": "T", "signatureVersion": "v4"},
        "operations": {"Op": {"name": "Op", "http": {"method": "POST", "requestUri": "/"}, "input": {"shape": "In"}}},
        "shapes": {
            "In": {"type": "structure", "members": {
                "Renamed": {"shape": "Str", "locationName": "wire"},
                "Iso": {"shape": "Time", "timestampFormat": "iso8601"}, "Epoch": {"shape": "Time"},
                "Ratio": {"shape": "Double"}, "Data": {"shape": "Blob"}, "Nested": {"shape": "In"},
                "Many": {"shape": "Times"}}},
            "Times": {"type": "list", "member": {"shape": "Time", "timestampFormat": "rfc822"}},
            "Str": {"type": "string"}, "Time": {"type": "timestamp"}, "Double": {"type": "double"},
            "Blob": {"type": "blob"},
        },
    }, service_name="t")
    op = model.operation_model("Op")
    when = datetime(2026, 12, 4, 12, 30, tzinfo=timezone.utc)
    params = {"Renamed": "r", "Iso": when, "Epoch": when, "Ratio": Decimal("0.25"), "Data": b"\x00",
              "Nested": {"Ratio": 2, "Renamed": "n", "Many": [when, "2026-01-01T00:00:00Z"]}}
    plain = _Plain().serialize_to_request(params, op)
    assert _fast_request(params, op) == plain
    assert b'"wire": "r"' in plain["body"] and b'"Ratio": 0.25' in plain["body"]

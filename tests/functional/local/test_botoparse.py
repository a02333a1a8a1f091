"""``local.speedups.botoparse``: a JSON-protocol response parses to the very values botocore's own walk gives.

Response bodies are generated from the output shape of every operation of the JSON-protocol
services the local cloud serves (wire names, nulls, members the model does not know, base64
blobs, timestamps both ways, nested attribute values) and parsed both ways; the results must be
equal, key order and types included.
"""

from __future__ import annotations

import base64
import json
import random
from typing import Any

import boto3
import botocore.session
from botocore import parsers

from orchestrator.local.speedups import botoparse

SERVICES = ("dynamodb", "sqs", "logs", "events", "secretsmanager", "ssm", "kms", "kinesis", "stepfunctions")
_PLAIN = getattr(parsers.JSONParser._handle_json_body, "__wrapped__", parsers.JSONParser._handle_json_body)


class _Wire:
    """A random JSON value for a shape, as a service would send it."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def value(self, shape: Any, depth: int = 0) -> Any:
        kind = shape.type_name
        if self.rng.random() < 0.05:
            return None
        if kind == "structure":
            if shape.is_document_type:
                return {"doc": [1, None, "x"]}
            members = dict(shape.members)
            if shape.is_tagged_union:
                name = self.rng.choice(sorted(members))
                return {members[name].serialization.get("name", name): self.value(members[name], depth + 1)}
            out = {m.serialization.get("name", n): self.value(m, depth + 1)
                   for n, m in members.items() if depth < 5 and self.rng.random() < 0.6}
            if self.rng.random() < 0.2:
                out["UnknownToTheModel"] = {"x": 1}
            return dict(sorted(out.items(), key=lambda kv: self.rng.random()))  # wire order is not model order
        if kind == "list":
            return [None if self.rng.random() < 0.1 else self.value(shape.member, depth + 1)
                    for _ in range(self.rng.randint(0, 3) if depth < 5 else 0)]
        if kind == "map":
            return {str(self.rng.randint(0, 99)): self.value(shape.value, depth + 1)
                    for _ in range(self.rng.randint(0, 3) if depth < 5 else 0)}
        if kind == "blob":
            return base64.b64encode(b"\x00bytes").decode()
        if kind == "timestamp":
            return self.rng.choice([1764806400, 1764806400.25, "2026-12-04T00:00:00Z"])
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind in ("integer", "long"):
            return self.rng.randint(-5, 5)
        if kind in ("float", "double"):
            return self.rng.choice([1.5, 2, -0.0])
        return "s" + str(self.rng.randint(0, 9))


def _outputs() -> list[tuple[str, Any]]:
    session = botocore.session.get_session()
    found = []
    for service in SERVICES:
        model = session.get_service_model(service)
        assert model.metadata["protocol"] == "json", service
        for name in model.operation_names:
            op = model.operation_model(name)
            for shape in [op.output_shape, *op.error_shapes]:
                if shape is not None:
                    found.append((f"{service}.{name}.{shape.name}", shape))
    return found


def _parsed(how: Any, parser: Any, body: bytes, shape: Any) -> str:
    try:
        return repr(how(parser, body, shape))
    except Exception as exc:  # noqa: BLE001 - the same failure both ways counts as the same answer
        return f"raised {type(exc).__name__}: {exc}"


def test_every_json_response_parses_to_what_botocore_s_walk_gives() -> None:
    rng = random.Random(4122026)
    walks = botoparse.Walks()
    parser = parsers.create_parser("json")
    assert type(parser) is parsers.JSONParser

    def fast(p: Any, body: bytes, shape: Any) -> Any:
        return walks.of(shape)(p, p._parse_body_as_json(body))

    compared = 0
    for label, shape in _outputs():
        for _ in range(4):
            body = json.dumps(_Wire(rng).value(shape)).encode()
            assert _parsed(fast, parser, body, shape) == _parsed(_PLAIN, parser, body, shape), (label, body)
            compared += 1
        for body in (b"", b"null", b"[1]", b"not json"):
            assert _parsed(fast, parser, body, shape) == _parsed(_PLAIN, parser, body, shape), (label, body)
    assert compared > 2000, compared


def test_deep_attribute_values_and_binary_ones_come_back_alike() -> None:
    shape = botocore.session.get_session().get_service_model("dynamodb").operation_model("GetItem").output_shape
    parser = parsers.create_parser("json")
    deep: dict[str, Any] = {"B": base64.b64encode(b"\xff").decode()}
    for _ in range(40):
        deep = {"M": {"k": {"L": [deep, {"NULL": True}, {"BS": ["AA=="]}]}}}
    body = json.dumps({"Item": {"pk": deep, "n": {"N": "1.50"}}}).encode()
    fast = botoparse.Walks().of(shape)(parser, parser._parse_body_as_json(body))
    assert repr(fast) == repr(_PLAIN(parser, body, shape))


def test_an_installed_client_parses_through_the_walk(aws_env: Any) -> None:
    import moto

    botoparse.install()
    assert getattr(parsers.JSONParser._handle_json_body, "_stratus_fast", False)
    with moto.mock_aws():
        client = boto3.session.Session().client("dynamodb", region_name="us-east-1")
        client.create_table(TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                            BillingMode="PAY_PER_REQUEST")
        client.put_item(TableName="t", Item={"pk": {"S": "a"}, "b": {"B": b"\x01"}, "m": {"M": {"x": {"N": "2"}}}})
        item = client.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"]
    assert item == {"pk": {"S": "a"}, "b": {"B": b"\x01"}, "m": {"M": {"x": {"N": "2"}}}}


def test_members_are_read_under_their_wire_names_and_unions_go_through_botocore() -> None:
    from botocore.model import ServiceModel

    model = ServiceModel({
        "metadata": {"protocol": "json", "apiVersion": "2026-01-01", "jsonVersion": "1.0", "targetPrefix": "T",
                     "endpointPrefix": "t", "serviceId": "T", "signatureVersion": "v4"},
        "operations": {"Op": {"name": "Op", "http": {"method": "POST", "requestUri": "/"},
                              "output": {"shape": "Out"}}},
        "shapes": {
            "Out": {"type": "structure", "members": {"Renamed": {"shape": "Str", "locationName": "wire"},
                                                     "When": {"shape": "Time"}, "Data": {"shape": "Blob"},
                                                     "Pick": {"shape": "Union"}}},
            "Union": {"type": "structure", "union": True, "members": {"A": {"shape": "Str"}, "B": {"shape": "Str"}}},
            "Str": {"type": "string"}, "Time": {"type": "timestamp"}, "Blob": {"type": "blob"},
        },
    }, service_name="t")
    shape = model.operation_model("Op").output_shape
    parser = parsers.create_parser("json")
    walks = botoparse.Walks()
    for doc in ({"wire": "w", "Renamed": "not me", "When": 1764806400, "Data": "AAE=", "Pick": {"B": "b"}},
                {"Renamed": "only the model name"}, {"Pick": {"Z": "unknown member"}}, {"Pick": {"A": "a", "B": "b"}}):
        body = json.dumps(doc).encode()

        def fast(p: Any, b: bytes, s: Any) -> Any:
            return walks.of(s)(p, p._parse_body_as_json(b))

        assert _parsed(fast, parser, body, shape) == _parsed(_PLAIN, parser, body, shape), doc
    assert _parsed(_PLAIN, parser, b'{"wire": "w"}', shape) == repr({"Renamed": "w"})

"""``local.speedups.botovalidate``: a shape's checker says "valid" only where botocore's validator finds no error.

Parameters are generated from the input shape of every operation of the services the handlers
call (valid ones, then each mutated the ways callers get parameters wrong) and both validators
judge them: the checker may leave a valid call to botocore (slower, same answer) but must never
pass one botocore rejects; and the valid calls it was built for (no timestamp strings, documents
or JSON-value headers) it answers itself.
"""

from __future__ import annotations

import copy
import random
from datetime import datetime
from decimal import Decimal
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.exceptions import ParamValidationError
from botocore.validate import ParamValidator

from orchestrator.local.speedups import botovalidate
from tests.functional.local.shapegen import ParamGen

SERVICES = ("dynamodb", "lambda", "s3", "sqs", "events", "scheduler", "logs", "cloudwatch", "ssm",
            "secretsmanager", "sts", "iam")
_PLAIN = ParamValidator.validate.__wrapped__ if hasattr(ParamValidator.validate, "__wrapped__") else ParamValidator.validate


def _paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [at]
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, at + (k,))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found += _paths(v, at + (i,))
    return found


def _mutated(params: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    out = copy.deepcopy(params)
    if isinstance(out, dict):
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}
    path = rng.choice(_paths(out))
    parent: Any = None
    node: Any = out
    for step in path:
        parent, node = node, node[step]
    how = rng.randrange(7)
    if how == 0 and isinstance(node, dict):
        node["BogusMember"] = 1  # unknown member (or a map entry of the wrong type)
    elif how == 1 and isinstance(node, dict) and node:
        node.pop(rng.choice(sorted(node, key=str)))  # a required member, perhaps
    elif how == 2 and isinstance(node, (str, list)) and parent is not None and not isinstance(parent, tuple):
        parent[path[-1]] = node[:0]  # below a min length, perhaps
    elif how == 3 and isinstance(node, (int, float, Decimal)) and parent is not None and not isinstance(parent, tuple):
        parent[path[-1]] = -10**6  # below a min value, perhaps
    elif how == 4 and isinstance(node, dict) and node:
        key = sorted(node, key=str)[0]
        node[str(key) + "Twin"] = node[key]  # a second member of a tagged union, perhaps
    elif parent is not None and not isinstance(parent, tuple):
        parent[path[-1]] = rng.choice([None, 1.5, True, 7, "s", [], {}, b"b", float("nan"), Decimal("NaN"),
                                       datetime(2026, 1, 1), ("t",)])
    else:
        out["BogusTop"] = "x"
    return out


def _operations() -> list[tuple[str, Any]]:
    session = botocore.session.get_session()
    found = []
    for service in SERVICES:
        model = session.get_service_model(service)
        for name in model.operation_names:
            shape = model.operation_model(name).input_shape
            if shape is not None:
                found.append((f"{service}.{name}", shape))
    return found


def _plain_errors(params: Any, shape: Any) -> str:
    try:
        report = _PLAIN(ParamValidator(), params, shape)
    except Exception as exc:  # noqa: BLE001 - botocore itself fails on some values (a NaN Decimal)
        return f"raised {type(exc).__name__}"
    return report.generate_report() if report.has_errors() else ""


def test_the_checker_never_passes_what_botocore_rejects_and_answers_the_valid_calls_itself() -> None:
    rng = random.Random(20261204)
    checkers = botovalidate.Checkers(ParamValidator.SCALAR_TYPES, ParamValidator.CONTAINER_TYPES)
    judged = answered = rejected = 0
    for label, shape in _operations():
        check = checkers.of(shape)
        for _ in range(3):
            gen = ParamGen(rng)
            params = gen.value(shape)
            errors = _plain_errors(params, shape)
            assert not errors, (label, params, errors)  # the generator makes valid parameters
            if gen.fast:
                assert check(params), (label, params)
                answered += 1
            for _ in range(6):
                bad = _mutated(params, rng)
                errors = _plain_errors(bad, shape)
                try:
                    passed = check(bad)
                except Exception:  # noqa: BLE001 - botovalidate.install() then asks botocore
                    passed = False
                assert not (passed and errors), (label, bad, errors)
                judged += 1
                rejected += bool(errors)
    assert answered > 1000 and judged > 5000 and rejected > judged // 3, (answered, judged, rejected)


def test_recursive_attribute_values_are_checked_all_the_way_down() -> None:
    shape = botocore.session.get_session().get_service_model("dynamodb").operation_model("PutItem").input_shape
    check = botovalidate.Checkers(ParamValidator.SCALAR_TYPES, ParamValidator.CONTAINER_TYPES).of(shape)
    deep: dict[str, Any] = {"S": "leaf"}
    for _ in range(30):
        deep = {"M": {"k": {"L": [deep]}}}
    assert check({"TableName": "table", "Item": {"pk": deep}})
    bad = copy.deepcopy(deep)
    node = bad
    for _ in range(30):
        node = node["M"]["k"]["L"][0]
    node["S"] = 5
    assert not check({"TableName": "table", "Item": {"pk": bad}})
    assert _plain_errors({"TableName": "table", "Item": {"pk": bad}}, shape)


@pytest.mark.parametrize("params", [
    {"TableName": "t", "Key": {"pk": {"S": 5}}},
    {"TableName": "t", "Key": {"pk": {"S": "a", "N": "1"}}, "Bogus": 1},
    {"Key": {"pk": {"S": "a"}}},
    {"TableName": "", "Key": {"pk": {"S": "a"}}},
])
def test_an_installed_client_rejects_bad_calls_in_botocore_s_words(params: dict[str, Any]) -> None:
    botovalidate.install()
    assert getattr(ParamValidator.validate, "_stratus_fast", False)
    client = boto3.session.Session().client("dynamodb", region_name="us-east-1", aws_access_key_id="x",
                                            aws_secret_access_key="y")
    with pytest.raises(ParamValidationError) as raised:
        client.get_item(**params)
    shape = client.meta.service_model.operation_model("GetItem").input_shape
    assert str(raised.value) == str(ParamValidationError(report=_plain_errors(params, shape)))


def test_a_validator_with_constraints_it_does_not_know_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = ParamValidator.validate
    monkeypatch.setattr(ParamValidator, "validate", _PLAIN)
    monkeypatch.setattr(ParamValidator, "VALIDATED_METADATA_ATTRS", {"required", "min", "max", "document", "union"})
    botovalidate.install()
    assert ParamValidator.validate is _PLAIN
    monkeypatch.setattr(ParamValidator, "validate", plain)


def test_two_references_to_one_shape_with_different_member_traits_are_checked_apart() -> None:
    from botocore.model import ServiceModel

    model = ServiceModel({
        "metadata": {"protocol": "json", "apiVersion": "2026-01-01", "jsonVersion": "1.0", "targetPrefix": "T",
                     "endpointPrefix": "t", "serviceId": "T", "signatureVersion": "v4"},
        "operations": {"Op": {"name": "Op", "http": {"method": "POST", "requestUri": "/"}, "input": {"shape": "In"}}},
        "shapes": {"In": {"type": "structure", "members": {"Plain": {"shape": "Str"},
                                                           "Long": {"shape": "Str", "min": 3}}},
                   "Str": {"type": "string"}},
    }, service_name="t")
    shape = model.operation_model("Op").input_shape
    check = botovalidate.Checkers(ParamValidator.SCALAR_TYPES, ParamValidator.CONTAINER_TYPES).of(shape)
    assert check({"Plain": "x", "Long": "xyz"}) and not _plain_errors({"Plain": "x", "Long": "xyz"}, shape)
    assert _plain_errors({"Plain": "x", "Long": "x"}, shape) and not check({"Plain": "x", "Long": "x"})

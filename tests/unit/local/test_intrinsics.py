"""The local cloud's CloudFormation intrinsic resolver."""

from __future__ import annotations

import pytest

from orchestrator.local.intrinsics import IntrinsicError, Resolver, references


def _resolver(**conditions):
    return Resolver(
        parameters={"AWS::StackName": "s", "AWS::Region": "eu-west-1", "Stage": "dev", "Empty": ""},
        ref=lambda name: f"phys-{name}",
        getatt=lambda name, attr: f"{name}.{attr}",
        conditions=conditions,
    )


def test_ref_sub_getatt_join_select_split():
    r = _resolver()
    assert r.resolve({"Ref": "Stage"}) == "dev"
    assert r.resolve({"Ref": "Queue"}) == "phys-Queue"
    assert r.resolve({"Fn::Sub": "${AWS::StackName}-${Queue.Arn}-${!Literal}"}) == "s-Queue.Arn-${Literal}"
    assert r.resolve({"Fn::Sub": ["${A}/${Stage}", {"A": {"Ref": "Bucket"}}]}) == "phys-Bucket/dev"
    assert r.resolve({"Fn::GetAtt": ["Fn", "Arn"]}) == "Fn.Arn"
    assert r.resolve({"Fn::Join": ["-", ["a", {"Ref": "Stage"}]]}) == "a-dev"
    assert r.resolve({"Fn::Select": [1, {"Fn::Split": [",", "x,y,z"]}]}) == "y"


def test_conditions_and_no_value():
    r = _resolver(HasEmpty={"Fn::Not": [{"Fn::Equals": [{"Ref": "Empty"}, ""]}]})
    value = {"A": {"Fn::If": ["HasEmpty", "yes", {"Ref": "AWS::NoValue"}]}, "B": [1, {"Ref": "AWS::NoValue"}]}
    assert r.resolve(value) == {"B": [1]}


def test_unknown_function_and_condition_are_named():
    with pytest.raises(IntrinsicError, match=r"Intrinsic function 'Fn::Base64' is not supported"):
        _resolver().resolve({"Fn::Base64": "x"})
    with pytest.raises(IntrinsicError, match=r"Condition 'Nope' is not defined"):
        _resolver().resolve({"Fn::If": ["Nope", 1, 2]})


def test_references_finds_refs_in_sub_strings():
    assert references({"Fn::Sub": ["${A.Arn}/${B}/${AWS::Region}", {"B": {"Ref": "C"}}]}) == {"A", "C", "AWS::Region"}

"""moto's in-process calls give the same answers through ``local.speedups.motorequest`` (kept routes, DynamoDB's lighter request).

Each case makes the same sequence of calls twice, in fresh moto states: once with
``motorequest`` installed and once through moto's own request handling. The parsed
responses (without the per-response request ids, dates and checksums) and the errors (code
and message) must be the same. DynamoDB calls take the lighter request; other services are
routed by the kept table and keep moto's werkzeug request. Signatures: only what moto answers
in process goes unsigned.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.awsrequest import AWSRequest
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber

from orchestrator.local.speedups import motorequest

KEY = {"pk": {"S": "RUN#d#r"}, "sk": {"S": "TI#t#00001"}}
ITEM = {**KEY, "state": {"S": "queued"}, "try_number": {"N": "1"}, "blob": {"B": b"\x00\x01"},
        "tags": {"SS": ["a", "b"]}, "m": {"M": {"n": {"NULL": True}, "l": {"L": [{"N": "1.50"}]}}}}
Call = Callable[[Any], Any]

CASES: list[tuple[str, list[Call]]] = [
    ("put then get", [lambda d: d.put_item(TableName="t", Item=ITEM),
                      lambda d: d.get_item(TableName="t", Key=KEY, ConsistentRead=True),
                      lambda d: d.get_item(TableName="t", Key={**KEY, "sk": {"S": "missing"}})]),
    ("conditional update, then its condition failing", [
        lambda d: d.put_item(TableName="t", Item=ITEM),
        lambda d: d.update_item(TableName="t", Key=KEY, UpdateExpression="SET #s = :r ADD try_number :one",
                                ConditionExpression="#s = :q", ExpressionAttributeNames={"#s": "state"},
                                ExpressionAttributeValues={":r": {"S": "running"}, ":q": {"S": "queued"},
                                                           ":one": {"N": "1"}},
                                ReturnValues="ALL_NEW", ReturnConsumedCapacity="TOTAL"),
        lambda d: d.update_item(TableName="t", Key=KEY, UpdateExpression="SET #s = :r",
                                ConditionExpression="#s = :q", ExpressionAttributeNames={"#s": "state"},
                                ExpressionAttributeValues={":r": {"S": "running"}, ":q": {"S": "queued"}},
                                ReturnValuesOnConditionCheckFailure="ALL_OLD")]),
    ("a transaction cancelled, then applied", [
        lambda d: d.put_item(TableName="t", Item=ITEM),
        lambda d: d.transact_write_items(TransactItems=[
            {"Put": {"TableName": "t", "Item": {**ITEM, "sk": {"S": "TI#t#00002"}}}},
            {"ConditionCheck": {"TableName": "t", "Key": KEY, "ConditionExpression": "attribute_not_exists(pk)"}}]),
        lambda d: d.transact_write_items(TransactItems=[
            {"Put": {"TableName": "t", "Item": {**ITEM, "sk": {"S": "TI#t#00002"}}}},
            {"Delete": {"TableName": "t", "Key": KEY}}]),
        lambda d: d.scan(TableName="t")]),
    ("a paged query", [
        *[lambda d, i=i: d.put_item(TableName="t", Item={**ITEM, "sk": {"S": f"TI#t#{i:05d}"}}) for i in range(5)],
        lambda d: d.query(TableName="t", KeyConditionExpression="pk = :p AND begins_with(sk, :ti)",
                          ExpressionAttributeValues={":p": KEY["pk"], ":ti": {"S": "TI#"}}, Limit=2),
        lambda d: d.query(TableName="t", KeyConditionExpression="pk = :p AND begins_with(sk, :ti)",
                          ExpressionAttributeValues={":p": KEY["pk"], ":ti": {"S": "TI#"}}, Limit=2,
                          ExclusiveStartKey={**KEY, "sk": {"S": "TI#t#00001"}}, ScanIndexForward=False)]),
    ("errors", [
        lambda d: d.get_item(TableName="missing", Key=KEY),
        lambda d: d.put_item(TableName="t", Item={"pk": {"S": "only the hash key"}}),
        lambda d: d.update_item(TableName="t", Key=KEY, UpdateExpression="SET #s = :undefined",
                                ExpressionAttributeNames={"#s": "state"}),
        lambda d: d.update_item(TableName="t", Key=KEY, UpdateExpression="SET = oops")]),
    ("tables", [lambda d: d.describe_table(TableName="t"), lambda d: d.list_tables()]),
]

_VARYING = ("x-amzn-requestid", "date", "x-amz-crc32", "x-amz-request-id", "x-amz-id-2", "last-modified",
            "x-amzn-trace-id", "etag")


def _outcome(call: Call, ddb: Any) -> Any:
    try:
        response = call(ddb)
    except botocore.exceptions.ClientError as exc:
        return ("error", exc.response["Error"], exc.response.get("CancellationReasons"), exc.response.get("Item"))
    if not isinstance(response, dict):
        return ("ok", response)
    meta = response.pop("ResponseMetadata")
    headers = {k: v for k, v in meta["HTTPHeaders"].items() if k not in _VARYING}
    return ("ok", meta["HTTPStatusCode"], headers, _without_dates(response))


def _without_dates(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_dates(v) for k, v in value.items() if "DateTime" not in k}
    if isinstance(value, list):
        return [_without_dates(v) for v in value]
    return value


OTHER_SERVICES: list[tuple[str, str, list[Call]]] = [
    ("s3", "s3", [lambda s3: s3.create_bucket(Bucket="b"),
                  lambda s3: s3.put_object(Bucket="b", Key="k/1.json", Body=b"{}"),
                  lambda s3: s3.get_object(Bucket="b", Key="k/1.json")["Body"].read(),
                  lambda s3: s3.list_objects_v2(Bucket="b", Prefix="k/")["KeyCount"],
                  lambda s3: s3.get_object(Bucket="b", Key="missing")]),
    ("sqs", "sqs", [lambda q: q.create_queue(QueueName="q"),
                    lambda q: q.get_queue_url(QueueName="missing")]),
    ("lambda", "lambda", [lambda f: f.list_functions(),
                          lambda f: f.invoke(FunctionName="missing", InvocationType="Event", Payload=b"{}")]),
    ("logs", "logs", [lambda g: g.create_log_group(logGroupName="/aws/lambda/f"),
                      lambda g: g.describe_log_groups()["logGroups"][0]["logGroupName"]]),
]


def _run(calls: list[Call], service: str = "dynamodb") -> list[Any]:
    with mock_aws():
        client = boto3.client(service, region_name="us-east-1")  # type: ignore[call-overload]
        if service != "dynamodb":
            return [_outcome(call, client) for call in calls]
        ddb = client
        ddb.create_table(
            TableName="t", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}],
        )
        return [_outcome(call, ddb) for call in calls]


@pytest.mark.parametrize("label,calls", CASES, ids=[c[0] for c in CASES])
def test_dynamodb_answers_match_moto_own_path(aws_env: None, monkeypatch: pytest.MonkeyPatch,
                                               label: str, calls: list[Call]) -> None:
    taken: list[Any] = []
    real_build = motorequest.json_request

    def counted(request: Any) -> Any:
        built = real_build(request)
        taken.append(built)
        return built

    monkeypatch.setattr(motorequest, "json_request", counted)
    fast = _run(calls)
    assert taken and all(isinstance(t, motorequest.JsonRequest) for t in taken)  # every call took the light path
    monkeypatch.setattr(BotocoreStubber, "process_request", BotocoreStubber.process_request.__wrapped__)
    own = _run(calls)
    assert fast == own


@pytest.mark.parametrize("label,service,calls", OTHER_SERVICES, ids=[c[0] for c in OTHER_SERVICES])
def test_other_services_answers_match_moto_own_path(aws_env: None, monkeypatch: pytest.MonkeyPatch,
                                                     label: str, service: str, calls: list[Call]) -> None:
    fast = _run(calls, service)
    monkeypatch.setattr(BotocoreStubber, "process_request", BotocoreStubber.process_request.__wrapped__)
    assert fast == _run(calls, service)


def _prepared(url: str, headers: dict[str, str], body: bytes = b"{}", method: str = "POST") -> Any:
    return AWSRequest(method=method, url=url, headers=headers, data=body).prepare()


JSON_HEADERS = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.ListTables"}


def test_a_dynamodb_request_becomes_a_json_request() -> None:
    request = motorequest.json_request(_prepared("https://dynamodb.us-east-1.amazonaws.com/", JSON_HEADERS, b'{"a": 1}'))
    assert isinstance(request, motorequest.JsonRequest)
    assert request.data == b'{"a": 1}'
    assert request.headers["Host"] == "dynamodb.us-east-1.amazonaws.com"
    assert request.headers["Content-Length"] == "8"
    assert request.headers["x-amz-target"] == "DynamoDB_20120810.ListTables"
    assert not request.form and not request.files


@pytest.mark.parametrize("url,headers,method", [
    ("https://dynamodb.us-east-1.amazonaws.com/?x=1", JSON_HEADERS, "POST"),
    ("https://dynamodb.us-east-1.amazonaws.com/", JSON_HEADERS, "GET"),
    ("https://dynamodb.us-east-1.amazonaws.com/", {**JSON_HEADERS, "Content-Encoding": "gzip"}, "POST"),
    ("https://dynamodb.us-east-1.amazonaws.com/", {"Content-Type": "application/x-amz-json-1.0"}, "POST"),
    ("https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/f/invocations",
     {"Content-Type": "application/json"}, "POST"),
], ids=["query string", "GET", "compressed", "no target", "rest-json"])
def test_other_requests_keep_moto_own_path(url: str, headers: dict[str, str], method: str) -> None:
    assert motorequest.json_request(_prepared(url, headers, method=method)) is None


def test_an_invoke_becomes_an_invoke_request() -> None:
    url = "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/stratus-local-worker/invocations"
    request = motorequest.invoke_request(_prepared(url, {"X-Amz-Invocation-Type": "Event"}, b'{"a": 1}'))
    assert isinstance(request, motorequest.InvokeRequest)
    assert request.path == request.raw_path == "/2015-03-31/functions/stratus-local-worker/invocations"
    assert request.host == "lambda.us-east-1.amazonaws.com" and request.content_type == ""
    assert request.headers["X-Amz-Invocation-Type"] == "Event" and request.headers["Content-Length"] == "8"
    assert not request.args and not request.form and request.data == b'{"a": 1}'


@pytest.mark.parametrize("url,method", [
    ("https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/f/invocations?Qualifier=1", "POST"),
    ("https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af"
     "/invocations", "POST"),
    ("https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/f/invocations", "GET"),
    ("https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/f", "POST"),
], ids=["qualifier", "percent-encoded ARN", "GET", "another path"])
def test_other_lambda_requests_keep_moto_own_path(url: str, method: str) -> None:
    assert motorequest.invoke_request(_prepared(url, {}, method=method)) is None


def _payload_read(response: dict[str, Any]) -> dict[str, Any]:
    return {**response, "Payload": response["Payload"].read()}


def test_invokes_answer_as_through_moto_own_request(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's Lambda responses to an ``InvokeRequest`` and to its own werkzeug request are the same,
    and the function gets the same payload and headers (a stand-in for the local cloud's host)."""
    from moto.awslambda.models import LambdaFunction

    received: list[Any] = []

    def invoke(self: Any, body: Any, request_headers: Any, response_headers: Any) -> Any:
        received.append((self.function_name, body, request_headers.get("X-Amz-Invocation-Type")))
        return '{"ok": true}' if request_headers.get("X-Amz-Invocation-Type") != "Event" else ""

    monkeypatch.setattr(LambdaFunction, "invoke", invoke)
    taken: list[Any] = []
    real_build = motorequest.invoke_request
    monkeypatch.setattr(motorequest, "invoke_request", lambda request: taken.append(real_build(request)) or taken[-1])

    def calls() -> list[Any]:
        with mock_aws():
            iam = boto3.client("iam", region_name="us-east-1")
            role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
            fn = boto3.client("lambda", region_name="us-east-1")
            fn.create_function(FunctionName="f", Runtime="python3.12", Role=role, Handler="app.handler",
                               Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18})
            cases = [("f", "Event", b'{"task": 1}'), ("f", "RequestResponse", b"{}"), ("f", "DryRun", b"{}"),
                     ("missing", "RequestResponse", b"{}")]
            return [_outcome(lambda c: _payload_read(c.invoke(FunctionName=name, InvocationType=kind, Payload=payload)),
                             fn) for name, kind, payload in cases]

    fast, fast_received = calls(), list(received)
    assert len([t for t in taken if isinstance(t, motorequest.InvokeRequest)]) == 4  # every invoke, nothing else
    received.clear()
    monkeypatch.setattr(BotocoreStubber, "process_request", BotocoreStubber.process_request.__wrapped__)
    assert fast == calls()
    assert fast_received == received and fast_received[0] == ("f", '{"task": 1}', "Event")


def _signed(url: str = "https://dynamodb.us-east-1.amazonaws.com/") -> str:
    from botocore.auth import SigV4Auth
    from botocore.credentials import Credentials

    request = AWSRequest(method="POST", url=url, headers=dict(JSON_HEADERS), data=b"{}")
    SigV4Auth(Credentials("AKIDEXAMPLE", "secret"), "dynamodb", "us-east-1").add_auth(request)
    assert request.headers["X-Amz-Date"]
    return str(request.headers["Authorization"])


def test_requests_moto_answers_in_process_carry_the_credential_scope_unsigned(aws_env: None) -> None:
    with mock_aws():
        header = _signed()
    assert header.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert header.split(", ")[0].endswith("/us-east-1/dynamodb/aws4_request")
    assert header.endswith(f"Signature={motorequest.NOT_COMPUTED}")


def test_other_requests_are_signed_by_botocore(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "Signature=" in _signed() and motorequest.NOT_COMPUTED not in _signed()  # no mock
    with mock_aws():
        assert motorequest.NOT_COMPUTED not in _signed("http://127.0.0.1:5000/")  # not an AWS host
        from moto import settings

        monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # moto checks signatures now
        signature = _signed().rsplit("Signature=", 1)[1]
    assert len(signature) == 64 and int(signature, 16) >= 0


def test_url_rules_match_and_build_as_werkzeug_does_with_builders_made_on_first_use() -> None:
    from werkzeug.routing import Map, Rule
    from werkzeug.routing.rules import Rule as RuleClass

    motorequest.install()
    lazy = RuleClass._compile_builder
    assert getattr(lazy, "_stratus_fast", False)

    def rules() -> list[Rule]:
        return [Rule("/2015-03-31/functions/<FunctionName>/invocations", endpoint="Invoke", methods=["POST"]),
                Rule("/things/<int:n>/<path:rest>", endpoint="thing", defaults={"flag": "x"}),
                Rule("/plain", endpoint="plain")]

    def use(table: Map) -> list[Any]:
        urls = table.bind("lambda.us-east-1.amazonaws.com")
        return [urls.match("/2015-03-31/functions/my-fn/invocations", method="POST"),
                urls.match("/things/7/a/b"),
                urls.build("Invoke", {"FunctionName": "a b/c"}, method="POST"),
                urls.build("thing", {"n": 3, "rest": "x/y", "flag": "x", "extra": "1"}),
                urls.build("plain", {"q": ["1", "2"]}, append_unknown=True),
                urls.build("plain", {"q": "1"}, append_unknown=False)]

    fast = use(Map(rules()))
    RuleClass._compile_builder = lazy.__wrapped__  # werkzeug's own, eager
    try:
        plain = use(Map(rules()))
    finally:
        RuleClass._compile_builder = lazy
    assert fast == plain
    assert plain[2] == "/2015-03-31/functions/a%20b/c/invocations"  # werkzeug keeps "/" in a default converter

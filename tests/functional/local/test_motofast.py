"""The local cloud's moto speed-ups give moto's own results and errors.

Each case runs one UpdateExpression twice on copies of the same item: through moto's
validator and executor (a tree parsed without the speed-up's bookkeeping, so moto walks it)
and through the fast path (the tree as ``UpdateExpressionParser.make`` returns it once
``motofast`` is installed). Items after the update, or the errors raised, must be the same.
Conditions kept per expression must evaluate as freshly parsed ones do.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from moto import mock_aws

from orchestrator.config import Clients
from orchestrator.local.speedups import motoupdate
from orchestrator.store import create_table

ITEM = {
    "pk": {"S": "RUN#d#r"}, "sk": {"S": "TI#t#-00001"}, "state": {"S": "queued"},
    "try_number": {"N": "1"}, "label": {"S": "x"}, "history": {"L": [{"S": "a"}]},
}

CASES: list[tuple[str, str, dict[str, str], dict[str, Any]]] = [
    ("sets", "SET #a = :a, #b = :b", {"#a": "state", "#b": "start_date"},
     {":a": {"S": "running"}, ":b": {"S": "2026-01-01T00:00:00+00:00"}}),
    ("set add remove", "SET #a = :a ADD #n :one, #m :two REMOVE #r",
     {"#a": "state", "#n": "try_number", "#m": "tasks_done", "#r": "label"},
     {":a": {"S": "success"}, ":one": {"N": "1"}, ":two": {"N": "2.5"}}),
    ("lower-case keywords, maps and lists", "set #a = :a add #n :one",
     {"#a": "xcom_keys", "#n": "c#t#success"},
     {":a": {"M": {"k": {"S": "v"}, "l": {"L": [{"N": "1"}, {"NULL": True}]}}}, ":one": {"N": "1"}}),
    ("remove of a missing attribute", "REMOVE #r", {"#r": "nothing"}, {}),
    ("the same attribute twice", "SET #a = :a, #b = :b", {"#a": "state", "#b": "state"},
     {":a": {"S": "x"}, ":b": {"S": "y"}}),
    ("a key attribute", "SET #a = :a", {"#a": "pk"}, {":a": {"S": "other"}}),
    ("an index key attribute of the wrong type", "SET #a = :a", {"#a": "gsi1pk"}, {":a": {"N": "1"}}),
    ("ADD onto a string", "ADD #a :one", {"#a": "state"}, {":one": {"N": "1"}}),
    ("ADD of a string", "ADD #a :s", {"#a": "try_number"}, {":s": {"S": "1"}}),
    ("an undefined value placeholder", "SET #a = :missing", {"#a": "state"}, {}),
    ("an undefined name placeholder", "SET #missing = :a", {}, {":a": {"S": "x"}}),
    ("REMOVE written before SET", "REMOVE #r SET #a = :a", {"#r": "label", "#a": "state"}, {":a": {"S": "x"}}),
    ("a function (moto's own path)", "SET #h = list_append(if_not_exists(#h, :e), :v)", {"#h": "history"},
     {":e": {"L": []}, ":v": {"L": [{"S": "b"}]}}),
    ("arithmetic (moto's own path)", "SET #n = #n + :one", {"#n": "try_number"}, {":one": {"N": "1"}}),
]


@pytest.fixture
def table(aws_env: None) -> Any:
    with mock_aws():
        from moto.dynamodb.models import dynamodb_backends

        create_table(Clients(region_name="us-east-1"), "t")
        yield dynamodb_backends["123456789012"]["us-east-1"].get_table("t")


def _run(tree: Any, table: Any, names: dict[str, str], values: dict[str, Any]) -> tuple[str, Any]:
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.parsing.executors import UpdateExpressionExecutor
    from moto.dynamodb.parsing.validators import UpdateExpressionValidator

    item = Item({"S": ITEM["pk"]["S"]}, {"S": ITEM["sk"]["S"]}, copy.deepcopy(ITEM))
    try:
        validated = UpdateExpressionValidator(tree, expression_attribute_names=names,
                                              expression_attribute_values=values, item=item, table=table).validate()
        validated.normalize()
        UpdateExpressionExecutor(validated, item, names).execute()
    except Exception as exc:  # noqa: BLE001 - the error itself is what is compared
        return "error", (type(exc).__name__, str(exc))
    return "item", item.to_json()


@pytest.mark.parametrize("label,expression,names,values", CASES, ids=[c[0] for c in CASES])
def test_update_expressions_match_moto(table: Any, label: str, expression: str, names: dict[str, str],
                                       values: dict[str, Any]) -> None:
    from moto.dynamodb.parsing.expressions import ExpressionTokenizer, UpdateExpressionParser

    walked = UpdateExpressionParser(ExpressionTokenizer.make_list(expression)).parse()  # moto's own tree
    assert "_stratus_parsed" not in walked.__dict__
    expected = _run(walked, table, names, values)
    assert _run(UpdateExpressionParser.make(expression), table, names, values) == expected
    # The parse is shared by every request with this expression: a second one sees it unchanged.
    assert _run(UpdateExpressionParser.make(expression), table, names, values) == expected


@pytest.mark.parametrize("attribute,size", [("big", 210_000), ("new", 210_000), ("new", 100_000), ("big", 100_000),
                                            ("new", 204_900), ("new", 204_980)],
                         ids=["replace over", "add over", "add under", "replace under", "add at", "add past"])
def test_item_size_checks_match_moto(table: Any, attribute: str, size: int) -> None:
    # moto measures the item before each set (the replaced value still in it) against 405,000
    # bytes; the fast path keeps a running total and must raise, or not, exactly where moto does.
    from moto.dynamodb.parsing.expressions import ExpressionTokenizer, UpdateExpressionParser

    global ITEM
    saved = ITEM
    ITEM = {**saved, "big": {"S": "b" * 200_000}}
    try:
        expression, names = "SET #s = :s, #x = :x", {"#s": "state", "#x": attribute}
        values = {":s": {"S": "running"}, ":x": {"S": "x" * size}}
        walked = UpdateExpressionParser(ExpressionTokenizer.make_list(expression)).parse()
        expected = _run(walked, table, names, values)
        assert _run(UpdateExpressionParser.make(expression), table, names, values) == expected
    finally:
        ITEM = saved
    assert expected[0] == ("error" if size >= 210_000 or size == 204_980 else "item"), expected[1] if expected[0] == "error" else ""


def test_simple_shapes_take_the_fast_path() -> None:
    assert motoupdate.plan_of("SET #a = :a, #b = :b ADD #n :one REMOVE #r") == (
        ("SET", "#a", ":a"), ("SET", "#b", ":b"), ("ADD", "#n", ":one"), ("REMOVE", "#r", None))
    for other in ("SET a = :a", "SET #a = #a + :n", "SET #a = if_not_exists(#a, :v)", "DELETE #s :v",
                  "SET #a = :a SET #b = :b", "REMOVE #r SET #a = :a", "SET #a[0] = :a", "SET #a.b = :a"):
        assert motoupdate.plan_of(other) is None, other


def test_kept_conditions_evaluate_like_fresh_ones(table: Any) -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.models.dynamo_type import Item

    item = Item({"S": ITEM["pk"]["S"]}, {"S": ITEM["sk"]["S"]}, copy.deepcopy(ITEM))
    names = {"#state": "state", "#try": "try_number"}
    for state, try_number, expected in (("queued", "1", True), ("running", "1", False), ("queued", "2", False),
                                        ("queued", "1", True)):
        parser = ConditionExpressionParser("#state = :queued AND #try = :n", names,
                                           {":queued": {"S": state}, ":n": {"N": try_number}, ":unused": {"S": "u"}})
        assert parser.parse().expr(item) is expected
        assert parser.expr_attr_names_found == ["#state", "#try"]
        assert sorted(parser.expr_attr_values_found) == [":n", ":queued"]


CONDITIONS = [
    "#state = :a AND #try = :n",
    "(#state IN (:a, :b) AND #try = :n) AND #label = :c",
    "attribute_not_exists(pk) OR (#state = :a AND #try = :n)",
    "NOT (#try BETWEEN :n AND :m) OR size(#label) > :n",
    "begins_with(#label, :c) AND attribute_type(#state, :t) AND contains(#history, :a)",
    "#try <> :n OR #state >= :a",
]
VALUE_SETS = [
    {":a": {"S": "queued"}, ":b": {"S": "x"}, ":c": {"S": "x"}, ":n": {"N": "1"}, ":m": {"N": "3"}, ":t": {"S": "S"}},
    {":a": {"S": "running"}, ":b": {"S": "queued"}, ":c": {"S": "y"}, ":n": {"N": "2"}, ":m": {"N": "2"},
     ":t": {"S": "N"}},
    {":a": {"S": "a"}, ":b": {"N": "1"}, ":c": {"S": ""}, ":n": {"N": "0"}, ":m": {"N": "9"}, ":t": {"S": "L"}},
]


@pytest.mark.parametrize("expression", CONDITIONS)
def test_conditions_parsed_with_other_values_evaluate_like_moto(table: Any, expression: str) -> None:
    """A tree kept for (expression, names) and given another call's values is moto's own parse of them."""
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.models.dynamo_type import Item

    moto_parse = ConditionExpressionParser.parse.__wrapped__
    item = Item({"S": ITEM["pk"]["S"]}, {"S": ITEM["sk"]["S"]}, copy.deepcopy(ITEM))
    names = {"#state": "state", "#try": "try_number", "#label": "label", "#history": "history"}
    for round_ in range(2):  # the second round finds every tree kept
        for values in VALUE_SETS:
            ours = ConditionExpressionParser(expression, names, values)
            theirs = ConditionExpressionParser(expression, names, values)
            assert ours.parse().expr(item) is moto_parse(theirs).expr(item), (round_, values)
            assert ours.expr_attr_names_found == theirs.expr_attr_names_found
            assert ours.expr_attr_values_found == theirs.expr_attr_values_found
    gone = expression[expression.index(":"):].split()[0].strip("(),")
    missing = {k: v for k, v in VALUE_SETS[0].items() if k != gone}  # moto's own error for a missing value
    with pytest.raises(KeyError, match=gone):
        ConditionExpressionParser(expression, names, missing).parse()
    with pytest.raises(KeyError, match=gone):
        moto_parse(ConditionExpressionParser(expression, names, missing))


def test_response_ids_are_moto_shaped_and_reach_xml_bodies(aws_env: None) -> None:
    with mock_aws():
        clients = Clients(region_name="us-east-1")
        ids = [clients.client("dynamodb").list_tables()["ResponseMetadata"] for _ in range(2)]
        xml = clients.client("iam").list_users()["ResponseMetadata"]  # query protocol: the id is in the body
    for meta in [*ids, xml]:
        assert len(meta["RequestId"]) == 52 and meta["RequestId"].isalnum()
        assert meta["HTTPHeaders"]["x-amzn-requestid"] == meta["RequestId"]
    assert ids[0]["RequestId"] != ids[1]["RequestId"]


QUERIES: list[dict[str, Any]] = [
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "RUN#a"}}},
    {"KeyConditionExpression": "pk = :p AND begins_with(sk, :b)",
     "ExpressionAttributeValues": {":p": {"S": "RUN#a"}, ":b": {"S": "TI#"}}, "ScanIndexForward": False},
    {"KeyConditionExpression": "pk = :p AND sk BETWEEN :lo AND :hi",
     "ExpressionAttributeValues": {":p": {"S": "RUN#a"}, ":lo": {"S": "TI#t#00003"}, ":hi": {"S": "TI#t#00012"}}},
    {"KeyConditionExpression": "pk = :p AND sk > :lo", "Limit": 4,
     "ExpressionAttributeValues": {":p": {"S": "RUN#a"}, ":lo": {"S": "TI#t#00005"}},
     "ExclusiveStartKey": {"pk": {"S": "RUN#a"}, "sk": {"S": "TI#t#00007"}}},
    {"KeyConditionExpression": "pk = :p", "FilterExpression": "#s = :s", "ExpressionAttributeNames": {"#s": "state"},
     "ExpressionAttributeValues": {":p": {"S": "RUN#a"}, ":s": {"S": "success"}}, "Limit": 7},
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "RUN#missing"}}},
]


def test_queries_answer_as_moto_own(table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ddb = Clients(region_name="us-east-1").client("dynamodb")
    for pk in ("RUN#a", "RUN#b", "RUN#A", "RUN#a2"):
        for i in (12, 3, 7, 0, 5, 9, 1, 11, 4):
            ddb.put_item(TableName="t", Item={"pk": {"S": pk}, "sk": {"S": f"TI#t#{i:05d}"},
                                              "state": {"S": "success" if i % 2 else "failed"}})
        for sk in ("RUN", "TI#ü", "TI#Z", "XCOM#t#00001"):
            ddb.put_item(TableName="t", Item={"pk": {"S": pk}, "sk": {"S": sk}})

    def answers() -> list[Any]:
        out = []
        for q in QUERIES:
            page = ddb.query(TableName="t", **q)
            out.append((page["Items"], page["Count"], page["ScannedCount"], page.get("LastEvaluatedKey")))
        return out

    fast = answers()
    from moto.dynamodb.models.table import Table

    monkeypatch.setattr(Table, "query", Table.query.__wrapped__)
    assert fast == answers()
    assert [item["sk"]["S"] for item in fast[0][0]][:3] == ["RUN", "TI#Z", "TI#t#00000"]


def test_backends_found_at_once_are_still_reset_between_mocks(aws_env: None) -> None:
    from moto.core.base_backend import BackendDict
    from moto.dynamodb.models import dynamodb_backends

    for _ in range(2):
        with mock_aws():
            clients = Clients(region_name="us-east-1")
            assert clients.client("dynamodb").list_tables()["TableNames"] == []  # the last mock's table is gone
            create_table(clients, "t")
            assert dynamodb_backends in BackendDict._instances  # listed, so moto's reset clears it
            assert clients.client("dynamodb").list_tables()["TableNames"] == ["t"]


def test_a_table_with_a_stream_still_records_the_old_image(aws_env: None) -> None:
    # UpdateItem's copy of the item is skipped only where no stream reads it.
    with mock_aws():
        clients = Clients(region_name="us-east-1")
        ddb = clients.client("dynamodb")
        desc = ddb.create_table(TableName="s", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                                BillingMode="PAY_PER_REQUEST",
                                StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
        ddb.put_item(TableName="s", Item={"pk": {"S": "a"}, "state": {"S": "queued"}})
        ddb.update_item(TableName="s", Key={"pk": {"S": "a"}}, UpdateExpression="SET #s = :s",
                        ExpressionAttributeNames={"#s": "state"}, ExpressionAttributeValues={":s": {"S": "running"}})
        from moto.dynamodb.models import dynamodb_backends

        shard = dynamodb_backends["123456789012"]["us-east-1"].get_table("s").stream_shard
        assert desc["TableDescription"]["LatestStreamArn"] and shard is not None
        modify = [r.to_json() for r in shard.items if r.to_json()["eventName"] == "MODIFY"]
        assert modify[0]["dynamodb"]["OldImage"]["state"] == {"S": "queued"}
        assert modify[0]["dynamodb"]["NewImage"]["state"] == {"S": "running"}


def _attribute_values(rng: Any, depth: int = 0) -> dict[str, Any]:
    """One attribute value in wire form, any DynamoDB type, nested up to four levels."""
    kinds = ["S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS"] + (["L", "M"] if depth < 4 else [])
    kind = rng.choice(kinds)
    text = lambda: "".join(rng.choice("aé€😀b ") for _ in range(rng.randrange(0, 12)))  # noqa: E731
    number = lambda: rng.choice(["0", "-1", "3.25", "1e10", "123456789012345678901234567890"])  # noqa: E731
    blob = lambda: bytes(rng.randrange(256) for _ in range(rng.randrange(0, 9)))  # noqa: E731
    if kind == "S":
        return {"S": text()}
    if kind == "N":
        return {"N": number()}
    if kind == "B":
        return {"B": blob() if rng.random() < 0.5 else "aGVsbG8="}
    if kind == "BOOL":
        return {"BOOL": rng.random() < 0.5}
    if kind == "NULL":
        return {"NULL": True}
    if kind == "SS":
        return {"SS": list({text() for _ in range(rng.randrange(1, 4))})}
    if kind == "NS":
        return {"NS": list({number() for _ in range(rng.randrange(1, 4))})}
    if kind == "BS":
        return {"BS": list({blob() for _ in range(rng.randrange(1, 4))})}
    if kind == "L":
        return {"L": [_attribute_values(rng, depth + 1) for _ in range(rng.randrange(0, 4))]}
    return {"M": {text() or "k": _attribute_values(rng, depth + 1) for _ in range(rng.randrange(0, 4))}}


def test_values_measure_as_moto_measures_them(aws_env: None) -> None:
    import random

    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    from orchestrator.local import speedups

    speedups.install()
    assert DynamoType.size is motoupdate.dynamo_size
    moto_size = DynamoType.size.__wrapped__
    rng = random.Random(17)
    for _ in range(3000):
        value = DynamoType(_attribute_values(rng))
        assert value.size() == moto_size(value), value
    # A map holding a raw wire value (moto's executors may leave one) is measured through DynamoType(...).
    odd = DynamoType({"SS": [True, "é"]})  # no API call makes this; moto measures a bool element as 1
    assert odd.size() == moto_size(odd) == 3
    mixed = DynamoType({"M": {"a": {"S": "x"}}})
    mixed.value["raw"] = {"L": [{"N": "12"}, {"S": "é"}]}
    assert mixed.size() == moto_size(mixed)
    # A whole item (moto's 405,000-byte check and a query's 1 MB page) sums the same numbers.
    attrs = {f"a{i}": _attribute_values(rng) for i in range(30)}
    item = Item({"S": "k"}, None, {"pk": {"S": "k"}, **attrs})
    assert item.size() == sum(len(k.encode()) + moto_size(v) for k, v in item.attrs.items())
    # What moto raises on a list holding something that is not a DynamoType, it still raises.
    broken = DynamoType({"L": []})
    broken.value.append({"S": "raw"})
    with pytest.raises(AttributeError):
        broken.size()
    with pytest.raises(AttributeError):
        moto_size(broken)


def test_projections_of_top_level_names_answer_as_moto(aws_env: None) -> None:
    import random

    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    from orchestrator.local import speedups

    speedups.install()
    moto_project = Item.project.__wrapped__
    rng = random.Random(23)
    for _ in range(300):
        attrs = {f"a{i}": _attribute_values(rng) for i in range(rng.randrange(1, 12))}
        item = Item(DynamoType({"S": "k"}), DynamoType({"S": "r"}), {"pk": {"S": "k"}, "sk": {"S": "r"}, **attrs})
        names = sorted(attrs)
        for projection in ([[rng.choice(names)]], [[n] for n in rng.sample(names, min(3, len(names)))],
                           [["missing"]], [[names[0]], [names[0]]], [["pk"], ["a0"], ["nope"]],
                           [[names[0], "inner"]], [[f"{names[0]}[0]"]]):  # the last two: moto's own path
            assert _outcome(lambda: item.project(projection)) == _outcome(lambda: moto_project(item, projection)), \
                projection


def _outcome(make: Any) -> tuple[Any, ...]:
    try:
        made = make()
    except Exception as exc:  # noqa: BLE001 - moto's own error, compared
        return ("error", type(exc).__name__, str(exc))
    return ("item", made.to_json(), made.hash_key, made.range_key)

"""The benchmark scripts run on tiny DAGs and print their tables (rows and columns, never timings)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import airflow_compare, aws_calls, imports  # noqa: E402
from bench.awscount import Call, CallRecorder  # noqa: E402
from bench.dags import chain, diamond, fan_map, standard_suite, write_dags  # noqa: E402

TINY = dict(chain_n=5, diamond_w=3, map_n=10)


@pytest.fixture
def aws_env(monkeypatch):
    for k, v in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                 "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}.items():
        monkeypatch.setenv(k, v)


# ------------------------------------------------------------------ DAG generators


def test_generated_dags_are_the_three_shapes_for_both_flavours(tmp_path):
    specs = standard_suite(**TINY)
    assert [(s.dag_id, s.task_instances, s.sfn_transitions) for s in specs] == [
        ("bench_chain_5", 5, 5), ("bench_diamond_3", 5, 6), ("bench_map_10", 12, 13),
    ]
    paths = write_dags(tmp_path / "stratus", specs)
    assert sorted(p.name for p in paths.values()) == ["bench_chain_5.py", "bench_diamond_3.py", "bench_map_10.py"]
    assert "from orchestrator import dag, task" in paths["bench_chain_5"].read_text()
    airflow = write_dags(tmp_path / "airflow", specs, flavor="airflow")
    assert "from airflow.sdk import dag, task" in airflow["bench_map_10"].read_text()
    with pytest.raises(ValueError, match="chain needs at least 1 task, got 0"):
        chain(0)


def test_generated_dags_load_with_the_stratus_authoring_api(tmp_path):
    from orchestrator.plan import loader
    write_dags(tmp_path, [chain(5), diamond(3), fan_map(10)])
    bag = loader.DagBag(str(tmp_path))
    assert bag.import_errors == {}
    assert len(bag.dags["bench_chain_5"].task_dict) == 5
    assert len(bag.dags["bench_diamond_3"].task_dict) == 5
    assert sorted(bag.dags["bench_map_10"].task_dict) == ["make", "total", "work"]


# ------------------------------------------------------------------ the call recorder


def test_recorder_counts_calls_and_dynamodb_request_units(aws_env):
    import boto3
    from moto import mock_aws

    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName="t", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}],
        )
        with CallRecorder() as rec:
            table = boto3.resource("dynamodb", region_name="us-east-1").Table("t")
            table.put_item(Item={"pk": "a", "sk": "b", "x": "y" * 3000})  # ~3 KB: 3 WRU
            ddb.transact_write_items(TransactItems=[
                {"Update": {"TableName": "t", "Key": {"pk": {"S": "a"}, "sk": {"S": "b"}},
                            "UpdateExpression": "SET q = :v", "ExpressionAttributeValues": {":v": {"N": "2"}}}},
                {"Put": {"TableName": "t", "Item": {"pk": {"S": "a"}, "sk": {"S": "c"}}}},
            ])  # 2 x 3 + 2 x 1
            table.get_item(Key={"pk": "a", "sk": "b"}, ConsistentRead=True)  # 1 RRU
            table.get_item(Key={"pk": "a", "sk": "missing"})  # 0.5 RRU
            with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
                table.put_item(Item={"pk": "a", "sk": "c"}, ConditionExpression="attribute_not_exists(pk)")
            rec.mark("task_end", "x")
        calls = rec.api_calls()
    assert [c.name for c in calls] == ["dynamodb:PutItem", "dynamodb:TransactWriteItems", "dynamodb:GetItem",
                                       "dynamodb:GetItem", "dynamodb:PutItem"]
    assert [c.wcu for c in calls] == [3.0, 8.0, 0.0, 0.0, 1.0]
    assert [c.rcu for c in calls] == [0.0, 0.0, 1.0, 0.5, 0.0]
    assert [c.item_writes for c in calls] == [1, 2, 0, 0, 1]
    assert calls[-1].error == "ConditionalCheckFailedException"
    assert rec.summary()["dynamodb:GetItem"] == 2


@pytest.mark.parametrize("patched", [False, True])
def test_cheap_transactions_roll_back_a_cancelled_transaction_like_moto(aws_env, patched):
    import contextlib

    import boto3
    from moto import mock_aws

    from orchestrator.local.speedups.moto_patches import cheap_transactions

    with mock_aws(), (cheap_transactions() if patched else contextlib.nullcontext()):
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName="t", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}],
        )
        ddb.put_item(TableName="t", Item={"pk": {"S": "p"}, "sk": {"S": "a"}, "x": {"N": "1"}})
        ddb.put_item(TableName="t", Item={"pk": {"S": "p"}, "sk": {"S": "b"}, "y": {"N": "1"}})

        def key(sk):
            return {"pk": {"S": "p"}, "sk": {"S": sk}}

        with pytest.raises(ddb.exceptions.TransactionCanceledException):
            ddb.transact_write_items(TransactItems=[
                {"Update": {"TableName": "t", "Key": key("a"), "UpdateExpression": "SET x = :two",
                            "ExpressionAttributeValues": {":two": {"N": "2"}}}},
                {"Put": {"TableName": "t", "Item": {**key("c"), "z": {"N": "1"}}}},
                {"ConditionCheck": {"TableName": "t", "Key": key("b"), "ConditionExpression": "y = :five",
                                    "ExpressionAttributeValues": {":five": {"N": "5"}}}},
            ])
        assert ddb.get_item(TableName="t", Key=key("a"))["Item"]["x"] == {"N": "1"}
        assert "Item" not in ddb.get_item(TableName="t", Key=key("c"))
        ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": "t", "Key": key("a"), "UpdateExpression": "SET x = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}}}},
        ])
        assert ddb.get_item(TableName="t", Key=key("a"))["Item"]["x"] == {"N": "2"}


def test_recorder_refuses_a_second_install():
    with CallRecorder():
        with pytest.raises(RuntimeError, match="a CallRecorder is already installed in this process"):
            CallRecorder().install()


def test_critical_path_is_the_end_side_up_to_the_invoke_then_the_next_invocation_up_to_its_task():
    def call(service, op, t, thread=1):
        return Call(0, service, op, thread, t, t)

    timeline = [
        call("mark", "invocation_start", 0), call("dynamodb", "GetItem", 0.5), call("mark", "task_start", 1),
        call("mark", "task_end", 2), call("dynamodb", "TransactWriteItems", 3), call("logs", "PutLogEvents", 3.5),
        call("lambda", "Invoke", 4),
        call("mark", "invocation_start", 4.5, thread=2),
        call("dynamodb", "GetItem", 5),  # the first worker carries on after the Invoke: off the path
        call("dynamodb", "UpdateItem", 5.5, thread=2), call("mark", "task_start", 6, thread=2),
        call("mark", "task_end", 7, thread=2),
    ]
    assert aws_calls.critical_path_hops(timeline) == [
        ["dynamodb:TransactWriteItems", "lambda:Invoke", "dynamodb:UpdateItem"],
    ]


# ------------------------------------------------------------------ the scripts on a local cloud


@pytest.fixture(scope="module")
def calls_results():
    return aws_calls.measure(standard_suite(**TINY), timeout_s=120)


@pytest.mark.slow
def test_aws_calls_tables_have_a_row_per_dag_and_the_priced_columns(calls_results):
    assert [r.run.state for r in calls_results] == ["success", "success", "success"]
    text = aws_calls.report(calls_results)
    calls_table, cost_table = text.split("### ")[1:3]
    for row in ("| 5-chain", "| 1-3-1 diamond", "| 10-map"):
        assert row in calls_table and row in cost_table
    for column in ("Lambda Invoke", "DDB item writes", "WRU", "RRU", "S3 GET", "SQS", "Stratus total",
                   "SFN Standard + Lambda", "most common sequence"):
        assert column in text
    assert "Issue #8 targets" in text
    assert "sync_dag" not in text  # registering the plan is not part of the run
    chain_calls = calls_results[0]
    assert len(chain_calls.hops) == 4  # 5 tasks, 4 hops
    assert chain_calls.per_task()["invoke"] > 0
    assert len(chain_calls.invocation_ms()) >= 5  # every task ran in a handler invocation
    assert "handler invocations, median" in text


@pytest.mark.slow
def test_local_speed_table_has_a_row_per_dag():
    from bench import local_speed

    report = local_speed.measure(standard_suite(chain_n=3, diamond_w=2, map_n=3), timeout_s=120)
    report.skipped = ["the 10,000-map (--no-large-map)"]
    text = local_speed.speed_table(report)
    for row in ("| 3-chain", "| 1-2-1 diamond", "| 3-map"):
        assert row in text
    for column in ("per task ms", "median gap ms", "peak RSS MB"):
        assert column in text
    assert "Skipped: the 10,000-map (--no-large-map)" in text
    assert [r.succeeded for r in report.runs] == [3, 4, 5]


# ------------------------------------------------------------------ imports and Airflow


def test_imports_table_times_each_handler_module(tmp_path):
    (tmp_path / "worker").mkdir()
    (tmp_path / "worker" / "app.py").write_text("import json\n\ndef handler(event, context):\n    return 1\n")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "app.py").write_text("raise RuntimeError('no table configured')\n")
    results = imports.measure(repeat=1, root=tmp_path)
    text = imports.imports_table(results)
    assert "| functions/worker/app.py" in text
    assert "import failed: RuntimeError: no table configured" in text


def test_airflow_compare_skips_when_airflow_is_absent(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(airflow_compare, "DEFAULT_AIRFLOW_VENV", tmp_path / "none")
    monkeypatch.delenv(airflow_compare.ENV_AIRFLOW_PYTHON, raising=False)
    if airflow_compare.airflow_python() is not None:
        pytest.skip("Airflow is importable by this interpreter")
    assert airflow_compare.main(["--chain", "2"]) == 0
    assert capsys.readouterr().out.strip() == "Airflow not installed: skipped"


def test_comparison_table_prints_ratios_against_the_targets(tmp_path):
    specs = standard_suite(**TINY)
    fake = {
        s.dag_id: airflow_compare.AirflowResult(s.dag_id, "success", test_s=t, median_gap_s=0.1, median_task_s=0.05,
                                                first_task_s=7.0, task_instances=s.task_instances, log=tmp_path)
        for s, t in zip(specs, (20.0, 10.0, 16.0))
    }
    text = airflow_compare.comparison_table(specs, fake, {"bench_chain_5": 1.0, "bench_diamond_3": 2.0,
                                                          "bench_map_10": 4.0}, version="3.3.2")
    assert "| 5-chain" in text and "20.0x" in text and ">= 15x: met" in text
    assert "| 10-map" in text and "4.0x" in text and ">= 8x: NOT met" in text


def test_idle_table_counts_the_sweeps_calls_and_prices_a_month(aws_env, capsys, tmp_path):
    from bench import idle

    dags = tmp_path / "dags"
    write_dags(dags, standard_suite(chain_n=2, diamond_w=2, map_n=2))
    expr, period = idle.sweeper_rate_s(REPO / "template.yaml")
    assert expr.startswith("rate(") and period > 0
    assert idle.main(["--dags", str(dags), "--sweeps", "1"]) == 0
    out = capsys.readouterr().out
    assert "(3 DAGs registered, no run in flight)" in out
    for row in ("| processes running between runs | 0", "| AWS calls per sweep (median)", "| idle cost per month, USD"):
        assert row in out
    # one registry index query and one BatchGetItem of the registry items (the index holds keys and
    # state only), then per DAG: its waiting runs and its active runs
    calls_row = next(line for line in out.splitlines() if line.startswith("| AWS calls per sweep"))
    assert calls_row.split("|")[2].strip() == "8"


def test_whole_process_table_puts_both_processes_side_by_side():
    from bench import whole_process
    from bench.dags import chain, standard_suite

    specs = [chain(1), *standard_suite(chain_n=5, diamond_w=3, map_n=10)]
    fake = {
        s.dag_id: airflow_compare.AirflowResult(s.dag_id, "success", test_s=1.0, median_gap_s=0.1, median_task_s=0.05,
                                                first_task_s=1.0, task_instances=s.task_instances,
                                                log=Path("x"), whole_s=w, whole_cpu_s=w / 2)
        for s, w in zip(specs, (16.0, 30.0, 20.0, 150.0))
    }
    whole = {s.dag_id: whole_process.WholeProcess(s.dag_id, 9.0, [2.0, 1.5, 2.5], [1.0, 1.1, 0.9]) for s in specs}
    text = airflow_compare.whole_process_table(specs, fake, whole, version="3.3.2")
    assert "| 1 task" in text and "8.0x" in text and ">= 8x: met" in text  # 16 / 2.0 (median)
    assert "15.0x" in text and ">= 15x: met" in text  # the chain: 30 / 2.0
    assert "75.0x" in text and ">= 12x: met" in text  # the map
    assert "1-3-1 diamond" in text and "10.0x" in text
    assert "that first run: 9.00 s" in text
    assert "CPU ratio" in text and "8.00" in text and "1.00" in text  # the 1-task DAG: 8 s CPU / 1.0 (median)
    warm = airflow_compare.comparison_table(specs, fake, {s.dag_id: 0.5 for s in specs})
    assert "| 1 task" in warm and warm.splitlines()[4].count(">=") == 0  # no #8 target for the 1-task DAG


def test_instructions_reads_valgrind_and_says_when_it_is_missing(monkeypatch, capsys) -> None:
    from bench import instructions

    summary = "==1== \n==1== I   refs:      3,488,361,041\n"
    assert int(instructions._REFS.search(summary).group(1).replace(",", "")) == 3_488_361_041
    monkeypatch.setattr(instructions.shutil, "which", lambda name: None)
    assert instructions.main([]) == 0
    assert "valgrind is not installed: skipped" in capsys.readouterr().out

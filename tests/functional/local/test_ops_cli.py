"""`stratus tasks test`, `stratus variables ...` and `stratus connections ...` (#16)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from moto import mock_aws

from orchestrator.cli.main import main
from orchestrator.config import Clients

ROOT = Path(__file__).resolve().parents[3]

DAG = textwrap.dedent('''\
    from datetime import datetime
    from orchestrator import dag, task
    from orchestrator.secrets import Variable

    @dag(schedule=None, start_date=datetime(2026, 1, 1), params={"n": 2})
    def ops():
        @task
        def extract(**context) -> list[int]:
            print("region is", Variable.get("region", default="none"))
            return list(range(context["params"]["n"]))

        @task
        def total(rows) -> int:
            return sum(rows or [])

        @task
        def each(x: int) -> int:
            return x * 10

        total(extract())
        each.expand(x=[1, 2, 3])

    ops()
''')


@pytest.fixture
def stack(monkeypatch):
    from orchestrator.local.stack import deploy_stack
    from orchestrator.local.template import translate

    for k, v in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                 "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        translated = translate(ROOT / "template.yaml", staging_bucket="stratus-ops-test")
        deploy_stack(Clients(region_name="us-east-1"), translated, stack_name="ops",
                     staging_bucket="stratus-ops-test", region="us-east-1")
        monkeypatch.setenv("STRATUS_STACK", "ops")
        yield Clients(region_name="us-east-1")
    from orchestrator import secrets

    secrets.set_backend(None)
    secrets.MASKER.clear()


def test_variables_set_get_list_delete(stack, capsys):
    assert main(["variables", "set", "region", "eu-west-1"]) == 0
    assert main(["variables", "set", "api_key", "k-123456", "--secure"]) == 0
    capsys.readouterr()
    assert main(["variables", "get", "region"]) == 0
    assert capsys.readouterr().out == "eu-west-1\n"
    assert stack.client("ssm").get_parameter(Name="/stratus/variables/api_key")["Parameter"]["Type"] == "SecureString"
    assert main(["variables", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed == [{"key": "api_key", "type": "SecureString", "value": "***"},
                      {"key": "region", "type": "String", "value": "eu-west-1"}]
    assert main(["variables", "delete", "region"]) == 0
    capsys.readouterr()
    assert main(["variables", "get", "region"]) == 1
    assert "Variable 'region' does not exist (SSM parameter '/stratus/variables/region')" in capsys.readouterr().err


def test_connections_add_get_list_delete(stack, capsys):
    assert main(["connections", "add", "warehouse", "--conn-uri", "postgres://etl:pa%40ss@db.internal:5432/sales"]) == 0
    assert "Connection 'warehouse' added" in capsys.readouterr().out
    assert main(["connections", "get", "warehouse", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["host"] == "db.internal" and got["login"] == "etl" and got["password"] == "***" and got["port"] == 5432
    from orchestrator.secrets import Connection, SecretsBackend, set_backend

    set_backend(SecretsBackend(stack))
    assert Connection.get("warehouse").password == "pa@ss"  # what a task reads
    assert main(["connections", "list"]) == 0
    assert "warehouse  postgres  db.internal" in capsys.readouterr().out
    assert main(["connections", "delete", "warehouse"]) == 0
    capsys.readouterr()
    assert main(["connections", "get", "warehouse"]) == 1
    assert "Connection 'warehouse' does not exist" in capsys.readouterr().err


def test_tasks_test_runs_one_task_and_records_nothing(stack, tmp_path, capsys):
    (tmp_path / "ops.py").write_text(DAG)
    assert main(["variables", "set", "region", "eu-west-1"]) == 0
    capsys.readouterr()
    assert main(["tasks", "test", "ops", "extract", "--dags", str(tmp_path), "--conf", '{"n": 3}']) == 0
    out = capsys.readouterr().out
    assert "region is eu-west-1" in out and "returned: [0, 1, 2]" in out
    # an upstream XCom without --run-id: found nothing, said so
    assert main(["tasks", "test", "ops", "total", "--dags", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "returned: 0" in captured.out and "pass --run-id RUN" in captured.err
    # nothing recorded: no run, no task instance
    items = stack.client("dynamodb").scan(TableName=_table(stack))["Items"]
    assert not [i for i in items if i["pk"]["S"].startswith("RUN#")]


def test_tasks_test_names_what_is_missing(stack, tmp_path, capsys):
    (tmp_path / "ops.py").write_text(DAG)
    assert main(["tasks", "test", "ops", "totl", "--dags", str(tmp_path)]) == 1
    assert "DAG 'ops' has no task 'totl' (tasks: each, extract, total). Did you mean 'total'?" in capsys.readouterr().err
    assert main(["tasks", "test", "ops", "each", "--dags", str(tmp_path)]) == 1
    assert "Task 'each' of DAG 'ops' is mapped: pass --map-index N" in capsys.readouterr().err


def _table(clients: Clients) -> str:
    outputs = clients.client("cloudformation").describe_stacks(StackName="ops")["Stacks"][0]["Outputs"]
    return next(o["OutputValue"] for o in outputs if "Table" in o["OutputKey"])


def test_a_dags_own_connections_and_variables_with_dag(stack, capsys, monkeypatch):
    """Per-DAG isolation: `--dag D` writes D's own prefix, which D's tasks read (Variables: before the global one)."""
    from orchestrator.secrets import Connection, SecretsBackend, Variable, set_backend
    from orchestrator.secrets.backend import dag_scope

    assert main(["connections", "add", "db", "--conn-uri", "postgres://own@own.host/x", "--dag", "sales"]) == 0
    assert main(["connections", "add", "db", "--conn-uri", "postgres://all@global.host/x"]) == 0
    assert main(["variables", "set", "colour", "blue", "--dag", "sales"]) == 0
    assert main(["variables", "set", "colour", "red"]) == 0
    assert main(["variables", "set", "only_global", "yes"]) == 0
    capsys.readouterr()
    assert stack.client("secretsmanager").get_secret_value(SecretId="stratus/dags/sales/db")["SecretString"]
    assert stack.client("ssm").get_parameter(Name="/stratus/dags/sales/colour")["Parameter"]["Value"] == "blue"
    set_backend(SecretsBackend(stack))
    monkeypatch.setenv("STRATUS_ISOLATION", "dag")
    with dag_scope("sales"):  # what an isolated worker sets around a try of DAG sales
        assert Connection.get("db").host == "own.host"
        assert Variable.get("colour") == "blue" and Variable.get("only_global") == "yes"
    with dag_scope("other"):
        assert Variable.get("colour") == "red"
    assert Connection.get("db").host == "global.host"  # outside a DAG's task: the global prefix
    assert main(["connections", "list", "--dag", "sales"]) == 0
    listed = capsys.readouterr().out
    assert "db       postgres  own.host" in listed and "global.host" not in listed

"""DAG-level template features and @dag function arguments as params."""

from __future__ import annotations

from datetime import datetime

import pytest

from orchestrator import DAG, Param, dag, task
from orchestrator.authoring.params import DagParam
from orchestrator.errors import DagDefinitionError, ParamValidationError
from orchestrator.plan.compiler import compile_dag


class FakeTI:
    def __init__(self, outputs=None):
        self.outputs = outputs or {}
        self.try_number = 1

    def xcom_pull(self, task_ids, key="return_value"):
        return self.outputs[task_ids]


@task
def echo(value):
    return value


def test_airflow_date_filters():
    with DAG("f") as d:
        echo("{{ logical_date | ds }} {{ logical_date | ds_nodash }} {{ logical_date | ts_nodash }}")
    ctx = {"ti": FakeTI(), "logical_date": datetime(2026, 3, 4, 5, 6, 7)}
    assert d.task_dict["echo"].run(ctx) == "2026-03-04 20260304 20260304T050607"


def test_shell_quote_filter_makes_conf_one_shell_word():
    """Issue #15: templating conf into a shell command is the author's job; shell_quote does it safely."""
    import subprocess

    with DAG("f") as d:
        echo("printf '%s|' {{ params.x | shell_quote }}")
    hostile = "a'; touch /tmp/pwned_stratus; echo '$(id)"
    command = d.task_dict["echo"].run({"ti": FakeTI(), "params": {"x": hostile}})
    assert command == "printf '%s|' 'a'\"'\"'; touch /tmp/pwned_stratus; echo '\"'\"'$(id)'"
    assert subprocess.run(["sh", "-c", command], capture_output=True, text=True).stdout == hostile + "|"


def test_user_defined_macros_and_filters():
    with DAG("f", user_defined_macros={"env": "prod"}, user_defined_filters={"shout": str.upper}) as d:
        echo("{{ env | shout }}")
    assert d.task_dict["echo"].run({"ti": FakeTI()}) == "PROD"


def test_native_rendering():
    with DAG("native", render_template_as_native_obj=True) as d:
        echo("{{ [1, 2] + [n] }}")
    assert d.task_dict["echo"].run({"ti": FakeTI(), "n": 3}) == [1, 2, 3]


def test_dag_function_arguments_become_params():
    @dag(schedule=None, start_date=datetime(2026, 1, 1))
    def with_args(limit: int = 10, label=Param("x", type="string")):
        echo(limit)
        echo(label)

    d = with_args()
    assert d.params["limit"].value == 10
    assert d.params["label"].schema == {"type": "string"}
    first = d.task_dict["echo"]
    assert isinstance(first.op_args[0], DagParam)
    assert first.run({"ti": FakeTI(), "params": {"limit": 99}}) == 99
    assert first.run({"ti": FakeTI(), "params": {}}) == 10
    plan = compile_dag(d)
    assert plan.params["limit"].default == 10
    assert plan.step("echo").op_args == [{"$repr": "DagParam('limit')"}]


def test_dag_call_values_override_defaults():
    @dag
    def called(limit=1):
        echo(limit)

    assert called(limit=5).params["limit"].value == 5


def test_dag_function_missing_argument():
    @dag
    def needs(x):
        echo(x)

    with pytest.raises(DagDefinitionError, match=r"DAG 'needs' .*missing a required argument: 'x'.*give the argument a default"):
        needs()


def test_dag_param_without_value():
    with pytest.raises(ParamValidationError, match="Param 'p' has no value in this run"):
        DagParam("p").resolve({"params": {}})


def test_expand_over_dict_literal():
    with DAG("m") as d:
        echo.expand(value={"a": 1, "b": 2})
    assert compile_dag(d).step("echo").mapping.expand == {"value": {"a": 1, "b": 2}}

from __future__ import annotations

import inspect
from datetime import timedelta

import pytest

from orchestrator import DAG, TriggerRule, XComArg, task
from orchestrator.authoring.decorators import (
    _BranchPythonDecoratedOperator,
    _PythonDecoratedOperator,
    _ShortCircuitDecoratedOperator,
)
from orchestrator.errors import DagDefinitionError


@task
def extract() -> dict:
    return {"rows": [1, 2]}


@task
def load(rows, ti=None):
    return rows


@task
def add(a, b=1):
    return a + b


def test_call_records_a_node_and_returns_an_xcomarg():
    with DAG("tf") as d:
        out = extract()
    assert isinstance(out, XComArg)
    assert out.operator is d.task_dict["extract"]
    assert isinstance(out.operator, _PythonDecoratedOperator)
    assert out.key is None


def test_passing_an_output_sets_the_dependency():
    with DAG("tf") as d:
        load(extract())
    assert d.task_dict["load"].upstream_task_ids == {"extract"}
    assert d.task_dict["extract"].downstream_task_ids == {"load"}


def test_output_key_reference():
    with DAG("tf") as d:
        ref = extract()["rows"]
        load(ref)
    assert ref.key == "rows"
    assert d.task_dict["load"].op_args[0].key == "rows"


def test_nested_index_is_rejected():
    with DAG("tf"):
        with pytest.raises(DagDefinitionError, match="only one level of indexing"):
            extract()["a"]["b"]


def test_multiple_outputs_inferred_from_dict_annotation():
    with DAG("tf") as d:
        extract()
        load([1])
    assert d.task_dict["extract"].multiple_outputs is True
    assert d.task_dict["load"].multiple_outputs is False


def test_duplicate_calls_get_airflow_suffixes():
    with DAG("tf") as d:
        add(1)
        add(2)
        add(3)
    assert list(d.task_dict) == ["add", "add__1", "add__2"]


def test_missing_argument_names_task_and_argument():
    with DAG("tf"):
        with pytest.raises(DagDefinitionError, match=r"Task 'add' in DAG 'tf' \(.*test_authoring_taskflow.py:\d+\): "
                                                      r"missing a required argument: 'a'"):
            add()


def test_unexpected_argument_is_an_error():
    with DAG("tf"):
        with pytest.raises(DagDefinitionError, match=r"Task 'add' .* got an unexpected keyword argument 'c'"):
            add(1, c=2)


def test_context_parameters_need_no_argument():
    with DAG("tf") as d:
        load(rows=[1])
    assert d.task_dict["load"].op_kwargs == {"rows": [1]}


def test_error_line_is_the_call_line():
    with DAG("tf"):
        line = inspect.currentframe().f_lineno + 2
        with pytest.raises(DagDefinitionError, match=rf"test_authoring_taskflow.py:{line}\)"):
            add()


def test_task_with_arguments_and_override():
    @task(task_id="custom", retries=2, retry_delay=timedelta(seconds=3), trigger_rule="all_done",
          execution_timeout=60, lambda_memory=1024, lambda_timeout=120, lambda_function="BigWorker")
    def f():
        pass

    with DAG("tf") as d:
        f()
        f.override(task_id="other", retries=0)()
    op = d.task_dict["custom"]
    assert (op.retries, op.retry_delay, op.trigger_rule) == (2, timedelta(seconds=3), TriggerRule.ALL_DONE)
    assert op.execution_timeout == timedelta(seconds=60)
    assert (op.lambda_memory, op.lambda_timeout, op.lambda_function) == (1024, 120, "BigWorker")
    assert d.task_dict["other"].retries == 0


def test_task_python_branch_and_short_circuit_kinds():
    @task.python
    def p():
        pass

    @task.branch
    def b():
        return "p"

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def s():
        return False

    with DAG("tf") as d:
        p(), b(), s()
    assert isinstance(d.task_dict["b"], _BranchPythonDecoratedOperator)
    assert d.task_dict["b"]._step_kind == "branch"
    assert isinstance(d.task_dict["s"], _ShortCircuitDecoratedOperator)
    assert d.task_dict["s"].ignore_downstream_trigger_rules is False
    assert d.task_dict["p"]._step_kind == "task"


def test_function_stays_callable_for_unit_tests():
    assert add.function(2, 3) == 5
    assert add.__name__ == "add"


def test_unknown_task_argument_is_reported():
    @task(retriez=1)
    def f():
        pass

    with DAG("tf"):
        with pytest.raises(DagDefinitionError, match=r"unexpected argument\(s\): retriez"):
            f()


def test_bad_trigger_rule_suggests_the_nearest():
    @task(trigger_rule="all_sucess")
    def f():
        pass

    with DAG("tf"):
        with pytest.raises(DagDefinitionError, match=r"trigger_rule 'all_sucess' is not a trigger rule. "
                                                      r"Did you mean 'all_success'\?"):
            f()


def test_iterating_an_output_explains_expand():
    with DAG("tf"):
        out = extract()
        with pytest.raises(TypeError, match=r"Map over it with .expand"):
            list(out)


def test_docstring_becomes_task_doc():
    @task
    def documented():
        """Does things."""

    with DAG("tf") as d:
        documented()
    assert d.task_dict["documented"].doc_md == "Does things."


def test_xcomarg_dependencies_with_shift():
    with DAG("tf") as d:
        a = extract()
        b = add(1)
        a >> b
    assert d.task_dict["add"].upstream_task_ids == {"extract"}


def test_task_decorator_rejects_positional_non_callable():
    with pytest.raises(DagDefinitionError, match="pass options by keyword"):
        task("an_id")

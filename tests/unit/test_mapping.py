from __future__ import annotations

import pytest

from orchestrator import DAG, PythonOperator, task
from orchestrator.errors import DagDefinitionError


@task
def numbers() -> list[int]:
    return [1, 2, 3]


@task
def config() -> dict:
    return {"items": [1, 2], "factor": 3}


@task
def scale(n, factor=1):
    return n * factor


def test_expand_over_literal_list():
    with DAG("m") as d:
        out = scale.expand(n=[1, 2, 3])
    op = d.task_dict["scale"]
    assert op.is_mapped and out.operator is op
    assert op.expand_input.kind == "expand"
    assert op.expand_input.value == {"n": [1, 2, 3]}
    assert op.upstream_task_ids == set()


def test_expand_over_upstream_output_and_key():
    with DAG("m") as d:
        scale.expand(n=numbers())
        cfg = config()
        scale.partial(factor=cfg["factor"]).expand(n=cfg["items"])
    assert d.task_dict["scale"].upstream_task_ids == {"numbers"}
    second = d.task_dict["scale__1"]
    assert second.upstream_task_ids == {"config"}
    assert second.op_kwargs["factor"].key == "factor"
    assert second.expand_input.value["n"].key == "items"


def test_expand_over_non_list_literal_names_task_and_argument():
    with DAG("m"):
        with pytest.raises(DagDefinitionError, match=r"Task 'scale' in DAG 'm' \(.*test_mapping.py:\d+\): cannot "
                                                      r"expand over argument 'n' = 5 \(int\).*\.partial\(n=\.\.\.\)"):
            scale.expand(n=5)


def test_expand_needs_an_argument():
    with DAG("m"):
        with pytest.raises(DagDefinitionError, match="expand\\(\\) needs at least one argument"):
            scale.expand()


def test_expand_checks_the_signature():
    with DAG("m"):
        with pytest.raises(DagDefinitionError, match="unexpected keyword argument 'm'"):
            scale.expand(n=[1], m=[1])


def test_partial_and_expand_same_name():
    with DAG("m"):
        with pytest.raises(DagDefinitionError, match=r"\['n'\] given to both partial\(\) and expand\(\)"):
            scale.partial(n=1).expand(n=[1])


def test_expand_kwargs_literal_and_reference():
    with DAG("m") as d:
        scale.expand_kwargs([{"n": 1}, {"n": 2, "factor": 3}])
        scale.expand_kwargs(numbers())
    assert d.task_dict["scale"].expand_input.kind == "expand_kwargs"
    assert d.task_dict["scale__1"].upstream_task_ids == {"numbers"}


def test_expand_kwargs_rejects_non_dicts():
    with DAG("m"):
        with pytest.raises(DagDefinitionError, match=r"expand_kwargs\(\) takes a list of dicts"):
            scale.expand_kwargs([1, 2])


def test_expand_kwargs_checks_keys():
    with DAG("m"):
        with pytest.raises(DagDefinitionError, match="unexpected keyword argument 'zz'"):
            scale.expand_kwargs([{"n": 1, "zz": 2}])


def test_classic_operator_partial_expand():
    def f(x, y):
        return x + y

    with DAG("m") as d:
        src = PythonOperator(task_id="src", python_callable=lambda: [{"x": 1}])
        op = PythonOperator.partial(task_id="add", python_callable=f, op_kwargs={"y": 1}).expand(
            op_args=[[1], [2]]
        )
        op2 = PythonOperator.partial(task_id="add2", python_callable=f).expand_kwargs(src.output)
    assert op.is_mapped and op._partial_kwargs == {"task_id": "add", "python_callable": f, "op_kwargs": {"y": 1}}
    assert op.expand_input.value == {"op_args": [[1], [2]]}
    assert d.task_dict["add2"].upstream_task_ids == {"src"}
    assert op2.expand_input.kind == "expand_kwargs"


def test_classic_partial_needs_task_id_and_known_names():
    with pytest.raises(DagDefinitionError, match=r"PythonOperator.partial\(\) needs task_id"):
        PythonOperator.partial(python_callable=print)
    with DAG("m"):
        with pytest.raises(DagDefinitionError, match="PythonOperator has no argument 'nope' to map over"):
            PythonOperator.partial(task_id="t", python_callable=print).expand(nope=[1])
        with pytest.raises(DagDefinitionError, match=r"cannot expand over argument 'op_args' = 'x'"):
            PythonOperator.partial(task_id="t2", python_callable=print).expand(op_args="x")

from __future__ import annotations

from datetime import timedelta

import pytest

from orchestrator import DAG, EmptyOperator, TaskGroup, task, task_group
from orchestrator.errors import DagDefinitionError


@task
def work():
    return 1


def test_ids_are_prefixed_and_nested():
    with DAG("g") as d:
        with TaskGroup("outer") as outer:
            EmptyOperator(task_id="a")
            with TaskGroup("inner"):
                EmptyOperator(task_id="b")
                work()
    assert list(d.task_dict) == ["outer.a", "outer.inner.b", "outer.inner.work"]
    assert d.task_dict["outer.inner.b"].task_group.group_id == "outer.inner"
    assert d.task_dict["outer.a"].task_group is outer
    assert d.task_dict["outer.a"].label == "a"


def test_prefix_group_id_false():
    with DAG("g") as d:
        with TaskGroup("grp", prefix_group_id=False):
            EmptyOperator(task_id="plain")
    assert list(d.task_dict) == ["plain"]


def test_dependencies_on_groups_use_roots_and_leaves():
    with DAG("g") as d:
        start = EmptyOperator(task_id="start")
        end = EmptyOperator(task_id="end")
        with TaskGroup("grp") as grp:
            a = EmptyOperator(task_id="a")
            b = EmptyOperator(task_id="b")
            c = EmptyOperator(task_id="c")
            a >> c
            b >> c
        start >> grp >> end
    assert d.task_dict["grp.a"].upstream_task_ids == {"start"}
    assert d.task_dict["grp.b"].upstream_task_ids == {"start"}
    assert d.task_dict["grp.c"].upstream_task_ids == {"grp.a", "grp.b"}
    assert d.task_dict["end"].upstream_task_ids == {"grp.c"}
    assert {t.task_id for t in grp.roots} == {"grp.a", "grp.b"}
    assert [t.task_id for t in grp.leaves] == ["grp.c"]


def test_task_group_decorator_suffixes_and_returns_group_or_value():
    @task_group
    def section():
        EmptyOperator(task_id="x")

    @task_group(group_id="valued")
    def valued():
        return work()

    with DAG("g") as d:
        g1 = section()
        g2 = section()
        out = valued()
    assert isinstance(g1, TaskGroup) and g1.group_id == "section"
    assert g2.group_id == "section__1"
    assert "section__1.x" in d.task_dict
    assert out.operator.task_id == "valued.work"


def test_duplicate_group_id_is_an_error():
    with DAG("g"):
        TaskGroup("grp")
        with pytest.raises(DagDefinitionError, match="group_id 'grp' is already used in DAG 'g'"):
            TaskGroup("grp")


def test_group_outside_dag_is_an_error():
    with pytest.raises(DagDefinitionError, match="must be created inside a DAG"):
        TaskGroup("lonely")


def test_group_default_args_override_dag_default_args():
    with DAG("g", default_args={"retries": 1, "retry_delay": timedelta(seconds=9)}):
        with TaskGroup("grp", default_args={"retries": 5}):
            op = EmptyOperator(task_id="t")
    assert op.retries == 5
    assert op.retry_delay == timedelta(seconds=9)


def test_task_id_cannot_equal_a_group_id():
    with DAG("g"):
        TaskGroup("name")
        with pytest.raises(DagDefinitionError, match="already the id of a task group"):
            EmptyOperator(task_id="name")


def test_a_mapped_task_group_maps_every_task_in_it_and_its_inputs_run_before_its_roots():
    from orchestrator.authoring.mapped_group import MappedArgument

    seen = {}

    @task_group
    def per_item(x, label):
        seen.update(x=x, label=label)
        work()

    with DAG("g") as dag:
        start = EmptyOperator(task_id="start")
        group = per_item.partial(label="L").expand(x=start.output)
    assert isinstance(seen["x"], MappedArgument) and seen["label"] == "L"
    op = dag.task_dict["per_item.work"]
    assert op.mapped_group is group and op.is_mapped and op.expand_input is None
    assert op.upstream_task_ids == {"start"}  # Airflow: what the group maps over is upstream of its roots


def test_a_mapped_task_inside_a_mapped_task_group_is_refused_clearly():
    from orchestrator.authoring.unserved import UnservedFeatureError

    @task
    def each(v):
        return v

    @task_group
    def per_item(x):
        each.expand(v=[1, 2])

    with DAG("g"):
        with pytest.raises(UnservedFeatureError, match="a mapped task .* inside a mapped task group is not supported"):
            per_item.expand(x=[1, 2])

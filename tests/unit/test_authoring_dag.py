from __future__ import annotations

import inspect
from datetime import datetime, timedelta

import pytest

from orchestrator import DAG, EmptyOperator, Param, PythonOperator, dag, task
from orchestrator.authoring import _stack
from orchestrator.errors import DagDefinitionError

THIS_FILE = __file__


def test_context_manager_collects_tasks_and_pops_the_stack():
    with DAG("ctx") as d:
        a = EmptyOperator(task_id="a")
        assert _stack.current_dag() is d
    assert _stack.current_dag() is None
    assert d.task_dict == {"a": a}
    assert a.dag is d


def test_nested_dags_use_the_innermost():
    with DAG("outer") as outer:
        with DAG("inner") as inner:
            EmptyOperator(task_id="x")
        EmptyOperator(task_id="y")
    assert list(inner.task_dict) == ["x"]
    assert list(outer.task_dict) == ["y"]


def test_dag_decorator_defaults_id_doc_and_fileloc():
    @dag(schedule="@daily", start_date=datetime(2026, 1, 1), tags=["b", "a"])
    def my_pipeline():
        """Pipeline docs."""
        EmptyOperator(task_id="only")

    line = inspect.getsourcelines(my_pipeline)[1]
    d = my_pipeline()
    assert d.dag_id == "my_pipeline"
    assert d.doc_md == "Pipeline docs."
    assert d.fileloc == THIS_FILE
    assert d.lineno == line
    assert d.tags == ["a", "b"]
    assert d.schedule == "@daily"
    assert list(d.task_dict) == ["only"]


def test_dag_decorator_with_explicit_id_and_bare_form():
    @dag("explicit_id")
    def f():
        pass

    @dag
    def bare():
        pass

    assert f().dag_id == "explicit_id"
    assert bare().dag_id == "bare"


def test_airflow3_defaults():
    d = DAG("defaults")
    assert d.catchup is False
    assert d.schedule is None
    assert d.max_active_runs == 16
    assert d.max_active_tasks == 16
    assert d.params == {}
    assert d.dagrun_timeout is None


def test_dag_records_every_setting():
    cb = print
    d = DAG(
        "all",
        description="desc",
        schedule=timedelta(hours=1),
        start_date=datetime(2026, 1, 1),
        end_date=datetime(2026, 2, 1),
        catchup=True,
        max_active_runs=2,
        max_active_tasks=3,
        dagrun_timeout=timedelta(minutes=30),
        doc_md="# doc",
        on_success_callback=cb,
        on_failure_callback=cb,
        is_paused_upon_creation=True,
    )
    assert (d.catchup, d.max_active_runs, d.max_active_tasks) == (True, 2, 3)
    assert d.dagrun_timeout == timedelta(minutes=30)
    assert d.callbacks == ["on_failure_callback", "on_success_callback"]
    assert d.is_paused_upon_creation is True


def test_dag_fileloc_is_the_creating_line():
    d = DAG("here"); line = inspect.currentframe().f_lineno  # noqa: E702
    assert (d.fileloc, d.lineno) == (THIS_FILE, line)


def test_params_wrap_plain_values():
    d = DAG("p", params={"n": 3, "name": Param("x", type="string")})
    assert isinstance(d.params["n"], Param) and d.params["n"].value == 3
    assert d.params["name"].schema == {"type": "string"}


def test_default_args_apply_to_tasks_unless_overridden():
    with DAG("da", default_args={"retries": 3, "retry_delay": timedelta(seconds=7), "owner": "me",
                                 "not_an_arg": 1}):
        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b", retries=0)

        @task
        def c():
            pass

        c_op = c().operator
    assert (a.retries, a.retry_delay, a.owner) == (3, timedelta(seconds=7), "me")
    assert b.retries == 0
    assert c_op.retries == 3


def test_default_args_start_date_fallback():
    d = DAG("sd", default_args={"start_date": datetime(2026, 3, 1)})
    assert d.start_date == datetime(2026, 3, 1)


def test_invalid_dag_id():
    with pytest.raises(DagDefinitionError, match=r"dag_id 'bad#id' may only contain letters"):
        DAG("bad#id")


def test_explicit_duplicate_task_id_is_an_error_naming_both_lines():
    with DAG("dups"):
        EmptyOperator(task_id="same")
        with pytest.raises(DagDefinitionError, match=r"Task id 'same' has already been added to the DAG 'dups' "
                                                      r"\(first at .*test_authoring_dag.py:\d+, again at"):
            EmptyOperator(task_id="same")


def test_task_outside_dag_is_adopted_when_linked():
    with DAG("adopt") as d:
        inside = EmptyOperator(task_id="inside")
    outside = EmptyOperator(task_id="outside")
    inside >> outside
    assert d.task_dict["outside"] is outside
    assert outside.upstream_task_ids == {"inside"}


def test_linking_two_loose_tasks_is_an_error():
    a = EmptyOperator(task_id="a")
    b = EmptyOperator(task_id="b")
    with pytest.raises(DagDefinitionError, match="neither belongs to a DAG"):
        a >> b


def test_cross_dag_dependency_is_an_error():
    with DAG("one"):
        a = EmptyOperator(task_id="a")
    with DAG("two"):
        b = EmptyOperator(task_id="b")
    with pytest.raises(DagDefinitionError, match="dependencies must stay inside one DAG"):
        a >> b


def test_get_task_and_roots_leaves():
    with DAG("g") as d:
        a = EmptyOperator(task_id="a")
        b = PythonOperator(task_id="b", python_callable=print)
        a >> b
    assert d.get_task("b") is b
    assert d.roots == [a] and d.leaves == [b]
    with pytest.raises(KeyError, match="DAG 'g' has no task 'zz'"):
        d.get_task("zz")


def test_removed_airflow2_arguments_explained():
    with pytest.raises(DagDefinitionError, match=r"DAG 'old' .*schedule_interval was removed in Airflow 3; use schedule="):
        DAG("old", schedule_interval="@daily")
    with pytest.raises(DagDefinitionError, match=r"unexpected argument\(s\) colour"):
        DAG("odd", colour="red")


def test_explicit_dag_argument_without_context_manager():
    from orchestrator import TaskGroup

    d = DAG("explicit")
    a = EmptyOperator(task_id="a", dag=d)
    group = TaskGroup("grp", dag=d)
    b = EmptyOperator(task_id="b", dag=d, task_group=group)
    a >> b
    assert list(d.task_dict) == ["a", "grp.b"]
    assert b.upstream_task_ids == {"a"}


def test_dag_param_method_sets_default():
    d = DAG("pm")
    ref = d.param("limit", 5)
    assert d.params["limit"].value == 5
    assert ref.resolve({"params": {"limit": 7}}) == 7
    assert ref.resolve({"params": {}}) == 5


def test_edge_labels_link_what_is_on_either_side():
    from orchestrator import DAG, EmptyOperator, Label

    with DAG("labels", schedule=None) as d:
        a, b, c, e = (EmptyOperator(task_id=t) for t in "abce")
        [a, b] >> Label("both") >> c
        e << Label("back") << c
    assert d.task_dict["c"].upstream_task_ids == {"a", "b"}
    assert d.task_dict["e"].upstream_task_ids == {"c"}
    assert repr(Label("x")) == "Label('x')"

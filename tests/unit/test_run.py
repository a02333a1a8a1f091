"""BaseOperator.run(context, expanded_kwargs): the worker's one call."""

from __future__ import annotations

import pytest

from orchestrator import (
    DAG,
    AirflowSkipException,
    BaseOperator,
    PythonOperator,
    get_current_context,
    task,
)
from orchestrator.authoring.exceptions import NoTaskContextError, TemplateRenderError
from orchestrator.errors import TaskExecutionError


class FakeTI:
    """Just enough of a task instance: xcom_pull over a dict of outputs."""

    def __init__(self, outputs=None, try_number=1):
        self.outputs = outputs or {}
        self.try_number = try_number
        self.pulls = []

    def xcom_pull(self, task_ids, key="return_value"):
        self.pulls.append((task_ids, key))
        return self.outputs[task_ids]


def ctx(outputs=None, **extra):
    return {"ti": FakeTI(outputs), "ds": "2026-01-02", "params": {"n": 3}, **extra}


class Greeter(BaseOperator):
    template_fields = ("greeting", "payload")

    def __init__(self, *, greeting, payload=None, **kwargs):
        super().__init__(**kwargs)
        self.greeting = greeting
        self.payload = payload

    def execute(self, context):
        return {"greeting": self.greeting, "payload": self.payload, "ctx_ds": get_current_context()["ds"]}


def test_taskflow_resolves_xcom_and_key():
    @task
    def up() -> dict:
        return {}

    @task
    def down(a, b, c="{{ ds }}"):
        return (a, b, c)

    with DAG("r") as d:
        u = up()
        down(u, u["k"])
    c = ctx({"up": {"k": 7}})
    assert d.task_dict["down"].run(c) == ({"k": 7}, 7, "{{ ds }}")
    assert c["ti"].pulls == [("up", "return_value"), ("up", "return_value")]


def test_taskflow_templated_arguments_are_rendered():
    @task
    def show(text):
        return text

    with DAG("r") as d:
        show("day={{ ds }} n={{ params.n }}")
    assert d.task_dict["show"].run(ctx()) == "day=2026-01-02 n=3"


def test_upstream_values_are_not_rendered_as_templates():
    @task
    def show(text):
        return text

    with DAG("r") as d:
        src = PythonOperator(task_id="src", python_callable=lambda: None)
        show(src.output)
    assert d.task_dict["show"].run(ctx({"src": "{{ ds }}"})) == "{{ ds }}"


def test_context_injected_by_name_and_by_kwargs():
    @task
    def named(ti=None, ds=None):
        return (ti.try_number, ds)

    @task
    def everything(x, **context):
        return (x, sorted(context))

    with DAG("r") as d:
        named()
        everything(1)
    assert d.task_dict["named"].run(ctx()) == (1, "2026-01-02")
    assert d.task_dict["everything"].run(ctx()) == (1, ["ds", "params", "ti"])


def test_mapped_taskflow_merges_expanded_over_partial():
    @task
    def mul(n, factor):
        return n * factor

    with DAG("r") as d:
        mul.partial(factor=10).expand(n=[1, 2])
    op = d.task_dict["mul"]
    assert op.run(ctx(), expanded_kwargs={"n": 4}) == 40
    assert op.op_kwargs == {"factor": 10}  # the DAG's operator is untouched


def test_mapped_values_are_not_rendered():
    @task
    def echo(v):
        return v

    with DAG("r") as d:
        echo.expand(v=["{{ ds }}"])
    assert d.task_dict["echo"].run(ctx(), expanded_kwargs={"v": "{{ ds }}"}) == "{{ ds }}"


def test_mapped_classic_operator_is_recreated_with_expanded_kwargs():
    def add(x, y):
        return x + y

    with DAG("r") as d:
        PythonOperator.partial(task_id="add", python_callable=add, op_kwargs={"y": 100}).expand(op_args=[[1], [2]])
        Greeter.partial(task_id="greet", payload="{{ ds }}").expand(greeting=["hi {{ params.n }}", "yo"])
    assert d.task_dict["add"].run(ctx(), expanded_kwargs={"op_args": [2]}) == 102
    out = d.task_dict["greet"].run(ctx(), expanded_kwargs={"greeting": "hey"})
    assert out == {"greeting": "hey", "payload": "2026-01-02", "ctx_ds": "2026-01-02"}
    assert d.task_dict["greet"].task_id == "greet"
    assert list(d.task_dict) == ["add", "greet"]  # nothing registered at run time


def test_custom_operator_renders_and_resolves_template_fields():
    with DAG("r") as d:
        src = PythonOperator(task_id="src", python_callable=lambda: None)
        g = Greeter(task_id="g", greeting="hello {{ ds }}", payload={"rows": src.output, "tag": "{{ params.n }}"})
    out = g.run(ctx({"src": [1, 2]}))
    assert out == {"greeting": "hello 2026-01-02", "payload": {"rows": [1, 2], "tag": "3"}, "ctx_ds": "2026-01-02"}
    assert g.greeting == "hello {{ ds }}"  # the DAG's operator keeps its template
    assert d.task_dict["g"] is g


def test_undefined_template_variable_names_task_and_field():
    with DAG("r"):
        g = Greeter(task_id="g", greeting="{{ nope }}")
    with pytest.raises(TemplateRenderError, match=r"Task 'g': could not render template field 'greeting'.*'nope' is undefined"):
        g.run(ctx())


def test_sandbox_blocks_unsafe_attribute_access():
    with DAG("r"):
        g = Greeter(task_id="g", greeting="{{ ds.__class__.__mro__ }}")
    with pytest.raises(TemplateRenderError, match="unsafe"):
        g.run(ctx())


def test_missing_output_key_is_a_clear_error():
    @task
    def up():
        return [1]

    @task
    def down(v):
        return v

    with DAG("r") as d:
        down(up()["total"])
    with pytest.raises(TaskExecutionError, match=r"Task 'up' returned list, which has no key 'total'"):
        d.task_dict["down"].run(ctx({"up": [1]}))


def test_current_context_is_set_only_during_execute():
    @task
    def peek():
        return get_current_context()["ds"]

    with DAG("r") as d:
        peek()
    assert d.task_dict["peek"].run(ctx()) == "2026-01-02"
    with pytest.raises(NoTaskContextError, match="outside a running task"):
        get_current_context()


def test_skip_exception_propagates():
    @task
    def skipper():
        raise AirflowSkipException("nothing to do")

    with DAG("r") as d:
        skipper()
    with pytest.raises(AirflowSkipException, match="nothing to do"):
        d.task_dict["skipper"].run(ctx())


def test_branch_returns_raw_value():
    @task.branch
    def pick(params=None):
        return ["a", "b"] if params["n"] > 2 else None

    with DAG("r") as d:
        pick()
    assert d.task_dict["pick"].run(ctx()) == ["a", "b"]


def test_python_operator_templates_dict_in_context():
    def f(templates_dict=None):
        return templates_dict

    with DAG("r") as d:
        PythonOperator(task_id="p", python_callable=f, templates_dict={"day": "{{ ds }}"})
    assert d.task_dict["p"].run(ctx()) == {"day": "2026-01-02"}


def test_pre_and_post_execute_hooks_run():
    calls = []

    class Hooked(BaseOperator):
        def pre_execute(self, context):
            calls.append("pre")

        def execute(self, context):
            calls.append("exec")
            return 1

        def post_execute(self, context, result=None):
            calls.append(("post", result))

    with DAG("r"):
        op = Hooked(task_id="h")
    assert op.run(ctx()) == 1
    assert calls == ["pre", "exec", ("post", 1)]

"""Validation messages: every problem, each naming DAG, file:line and task, saying what to do."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from orchestrator import DAG, CronTriggerTimetable, EmptyOperator, Param, task
from orchestrator.errors import PlanValidationError
from orchestrator.plan.compiler import compile_dag
from orchestrator.plan.model import Mapping, Schedule, Step, StepPlan
from orchestrator.plan.validate import find_cycles, graph_problems, validate_plan

F = r"[^()]*test_validate\.py:\d+"


def make_dag(dag_id="v", **overrides):
    kwargs = {"schedule": None, "start_date": datetime(2026, 1, 1)}
    kwargs.update(overrides)
    return DAG(dag_id, **kwargs)


def problems_of(d):
    with pytest.raises(PlanValidationError) as info:
        compile_dag(d)
    return info.value.problems


def test_cycle_is_printed():
    with make_dag() as d:
        a, b, c = (EmptyOperator(task_id=x) for x in "abc")
        a >> b >> c >> a
    with pytest.raises(PlanValidationError, match=rf"Task 'a' in DAG 'v' \({F}\): is part of a cycle: a >> b >> c >> a\. "
                                                  "Remove one of these dependencies"):
        compile_dag(d)


def test_self_loop():
    with make_dag() as d:
        a = EmptyOperator(task_id="a")
        a >> a
    assert "cycle: a >> a" in problems_of(d)[0]


def test_unknown_upstream_suggests_nearest():
    with make_dag() as d:
        EmptyOperator(task_id="extract")
        load = EmptyOperator(task_id="load")
        load.upstream_task_ids.add("extrac")
    with pytest.raises(PlanValidationError, match=rf"Task 'load' in DAG 'v' \({F}\): depends on 'extrac', which does "
                                                  r"not exist\. Did you mean 'extract'\?"):
        compile_dag(d)


def test_invalid_cron():
    d = make_dag(schedule="0 25 * * *")
    with pytest.raises(PlanValidationError, match=rf"DAG 'v' \({F}\): cron '0 25 \* \* \*' is not valid"):
        compile_dag(d)


def test_unknown_timezone():
    d = make_dag(schedule=CronTriggerTimetable("0 6 * * *", timezone="Europe/Atlantis"))
    with pytest.raises(PlanValidationError, match=rf"DAG 'v' \({F}\): time zone 'Europe/Atlantis' is unknown"):
        compile_dag(d)


def test_scheduled_dag_without_start_date():
    d = make_dag(schedule="@daily", start_date=None)
    with pytest.raises(PlanValidationError, match=rf"DAG 'v' \({F}\): has schedule '@daily' but no start_date; "
                                                  r"add start_date=datetime\(2026, 1, 1\)"):
        compile_dag(d)


def test_unscheduled_and_asset_dags_need_no_start_date():
    from orchestrator import Asset

    compile_dag(make_dag(start_date=None))
    compile_dag(make_dag("a", schedule=[Asset("s3://stratus-landing/x/")], start_date=None))


def test_execution_timeout_above_lambda_limit_says_what_to_do():
    with make_dag() as d:
        EmptyOperator(task_id="long", execution_timeout=timedelta(hours=1))
    with pytest.raises(PlanValidationError, match=rf"Task 'long' in DAG 'v' \({F}\): execution_timeout is 3600 s, "
                                                  r"above AWS Lambda's 900 s limit for one task: split the work.*ECS/AWS Batch"):
        compile_dag(d)


def test_lambda_settings_checked():
    with make_dag() as d:
        EmptyOperator(task_id="t1", lambda_timeout=1200)
        EmptyOperator(task_id="t2", lambda_memory=64)
        EmptyOperator(task_id="t3", lambda_timeout=60, execution_timeout=120)
    found = problems_of(d)
    assert any("Task 't1'" in p and "lambda_timeout is 1200 s, above AWS Lambda's 900 s maximum" in p for p in found)
    assert any("Task 't2'" in p and "lambda_memory is 64 MB; AWS Lambda allows 128 to 10240 MB" in p for p in found)
    assert any("Task 't3'" in p and "Lambda would stop the task first" in p for p in found)


def test_invalid_param_default():
    d = make_dag(params={"n": Param("abc", type="integer")})
    with pytest.raises(PlanValidationError, match=rf"Param 'n' of DAG 'v' \({F}\): default 'abc' is invalid: "
                                                  r"'abc' is not of type 'integer'\. Fix the default or the schema\."):
        compile_dag(d)


def test_invalid_param_schema():
    d = make_dag(params={"n": Param(1, type="int")})
    assert "the schema is invalid" in problems_of(d)[0]


def test_expand_over_non_list_found_by_validation_too():
    @task
    def f(x):
        return x

    with make_dag() as d:
        f.expand(x=[1])
    d.task_dict["f"].expand_input.value["x"] = 5  # e.g. mutated after definition
    assert "cannot expand over argument 'x' = 5 (int)" in problems_of(d)[0]


def test_all_problems_are_collected():
    with make_dag(schedule="@daily", start_date=None, params={"n": Param("x", type="integer")}) as d:
        a = EmptyOperator(task_id="a", execution_timeout=1000)
        b = EmptyOperator(task_id="b")
        a >> b >> a
    assert len(problems_of(d)) == 4


def test_bad_limits_and_dates():
    d = make_dag(max_active_runs=0, end_date=datetime(2025, 1, 1), start_date=datetime(2026, 1, 1))
    found = problems_of(d)
    assert any("max_active_runs must be a positive integer" in p for p in found)
    assert any("end_date 2025-01-01 00:00:00 is before start_date" in p for p in found)


def test_find_cycles_is_linear_on_a_long_chain():
    n = 50_000
    upstream = {f"t{i}": [f"t{i - 1}"] if i else [] for i in range(n)}
    assert find_cycles(upstream) == []
    upstream["t0"] = [f"t{n - 1}"]
    (cycle,) = find_cycles(upstream)
    assert cycle[0] == cycle[-1] and len(cycle) == n + 1


def test_graph_problems_unknown_without_suggestion():
    out = graph_problems({"a": ["zzzz"]}, lambda t: f"Task '{t}'")
    assert out == ["Task 'a': depends on 'zzzz', which does not exist. Define that task or remove the dependency."]


def test_depends_on_past_compiles_and_waiting_before_skipping_is_reported():
    with make_dag(default_args={"depends_on_past": True, "wait_for_downstream": True}) as d:
        EmptyOperator(task_id="t")
    step = compile_dag(d).steps[0]
    assert step.past is not None and step.past.wait_for_downstream and not step.past.ignore_first
    with make_dag("late", default_args={"depends_on_past": True, "wait_for_past_depends_before_skipping": True}) as late:
        EmptyOperator(task_id="t")
    with pytest.raises(PlanValidationError, match=rf"Task 't' in DAG 'late' \({F}\): wait_for_past_depends_before_skipping"
                                                  r"=True is not supported"):
        compile_dag(late)
    with make_dag("ok", default_args={"depends_on_past": False}) as ok:
        EmptyOperator(task_id="t")
    assert compile_dag(ok).steps[0].past is None


def _step(tid, up=(), down=(), **kw):
    return Step(task_id=tid, operator="EmptyOperator", module="x.py", upstream=list(up), downstream=list(down), **kw)


def test_validate_plan_from_json():
    plan = StepPlan(
        dag_id="j",
        fileloc="x.py",
        schedule=Schedule(kind="none"),
        steps=[
            _step("a", down=["b"]),
            _step("b", up=["a"]),
            _step("b"),
            _step("m", up=["ghost"], mapping=Mapping(kind="expand", expand={"x": {"$xcom": "a", "key": None}}, sources=["a"]),
                  outlets=["airflow://nope"]),
        ],
    )
    found = validate_plan(plan)
    assert "Task 'b' in DAG 'j' (x.py): the task id is used twice; give each task a unique task_id." in found
    assert any("depends on 'ghost', which does not exist" in p for p in found)
    assert any("maps over 'a', which is not upstream of it" in p for p in found)
    assert any("uses the scheme 'airflow', which Airflow reserves" in p for p in found)

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task, Param, Variable, TaskGroup
from airflow.providers.standard.operators.python import PythonOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.utils.trigger_rule import TriggerRule


def use(k, v, **_):
    return f"{k}:{v}"


@dag(schedule=None, start_date=datetime(2026, 1, 1), render_template_as_native_obj=True,
     default_args={"execution_timeout": timedelta(minutes=5), "retries": 1, "retry_delay": timedelta(0),
                   "retry_exponential_backoff": True, "max_retry_delay": timedelta(seconds=1)})
def s19_native_retries(batch: int = 5, label: str = "L"):
    @task(multiple_outputs=True)
    def src():
        return {"k": "key", "v": [1, 2]}

    s = src()
    PythonOperator(task_id="classic_xcomarg", python_callable=use, op_kwargs={"k": s["k"], "v": s["v"]})

    @task
    def native(a, b, c):
        return {"a_type": type(a).__name__, "b_type": type(b).__name__, "c": c}

    native("{{ params.batch * 2 }}", "{{ [1, 2] }}", label)

    @task
    def var_defaults():
        return [Variable.get("sweep_nope", default="d3"), Variable.get("sweep_nope", default_var="d2")]

    var_defaults()

    @task
    def flaky_map(x: int, **context):
        if x == 2 and context["ti"].try_number == 1:
            raise RuntimeError("once")
        return x

    @task
    def total(v):
        return sum(v)

    total(flaky_map.expand(x=[1, 2, 3]))

    with TaskGroup("g", default_args={"retries": 0}) as g:
        @task
        def fails_in_group():
            raise RuntimeError("no retry in group")

        fails_in_group()

    EmptyOperator(task_id="on_fail", trigger_rule=TriggerRule.ONE_FAILED) << g
    EmptyOperator(task_id="all_done_empty", trigger_rule="all_done") << g


s19_native_retries()

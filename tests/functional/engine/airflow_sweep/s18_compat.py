"""Airflow 3 names Stratus serves since the sweep: chain_linear, timezone, states, parsing context,
template files (template_ext, template_searchpath), jinja_environment_kwargs, do_xcom_push=False."""
from __future__ import annotations

from airflow.sdk import DAG, chain_linear, get_parsing_context, task, timezone
from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.utils.state import TaskInstanceState

current = get_parsing_context()

with DAG(
    dag_id="s18_compat",
    schedule="@daily",
    start_date=timezone.datetime(2026, 1, 1),
    template_searchpath=["sql"],
    jinja_environment_kwargs={"trim_blocks": True},
    params={"table": "sales"},
    access_control={"Viewer": {"can_read"}},
    max_consecutive_failed_dag_runs=3,
):
    a = EmptyOperator(task_id="a")
    b1 = EmptyOperator(task_id="b1")
    b2 = EmptyOperator(task_id="b2")

    @task
    def c1(ti=None):
        return {"state_enum": str(TaskInstanceState.RUNNING), "parsing": [current.dag_id, current.task_id]}

    @task(do_xcom_push=False)
    def c2():
        return "not kept"

    count = BashOperator(task_id="count", bash_command="count.sh")
    loop = BashOperator(task_id="loop",
                        bash_command="{% for i in range(2) %}\necho {{ i }}\n{% endfor %}\necho done-{{ ds_nodash }}")

    inc = BashOperator(task_id="inc", bash_command="{% include 'part.inc' %}")

    chain_linear(a, [b1, b2], [c1(), c2()], count)
    count >> [loop, inc]

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task
from airflow.exceptions import AirflowSkipException
from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.utils.trigger_rule import TriggerRule


def mult(x, factor=1, **kwargs):
    return x * factor


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))
def s14_map_classic():
    m = PythonOperator.partial(task_id="mult", python_callable=mult).expand(
        op_kwargs=[{"x": 1, "factor": 3}, {"x": 2}, {"x": 3, "factor": 2}])
    b = BashOperator.partial(task_id="bash_m").expand(bash_command=["echo one", "echo two"])

    @task
    def gather(vals):
        return list(vals)

    @task(map_index_template="{{ item }}")
    def check(item: int):
        if item == 2:
            raise AirflowSkipException("skip two")
        if item == 3:
            raise ValueError("three is bad")
        return item

    @task
    def after_check(vals):
        return list(vals)

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def summary(vals):
        return [v for v in vals]

    @task(trigger_rule=TriggerRule.NONE_FAILED)
    def nf(vals):
        return list(vals)

    gather(m.output)
    gather.override(task_id="gather_b")(b.output)
    c = check.expand(item=[1, 2, 3])
    after_check(c)
    summary(c)
    nf(c)


s14_map_classic()

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task, TaskGroup, Param
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.utils.trigger_rule import TriggerRule


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
     params={"mode": Param("fast", type="string", enum=["fast", "slow", "both", "none"])})
def s02_branching():
    @task.branch
    def choose(params=None):
        mode = params["mode"]
        if mode == "both":
            return ["paths.fast", "paths.slow"]
        if mode == "none":
            return None
        return f"paths.{mode}"

    with TaskGroup("paths") as paths:
        fast = EmptyOperator(task_id="fast")

        @task(task_id="slow")
        def slow():
            return "slow-done"

        s = slow()

    @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    def join(**context):
        ti = context["ti"]
        return ti.xcom_pull(task_ids="paths.slow")

    after_fast = EmptyOperator(task_id="after_fast")
    end = EmptyOperator(task_id="end", trigger_rule="all_done")

    c = choose()
    c >> [fast, s]
    fast >> after_fast
    j = join()
    [after_fast, s] >> j >> end


s02_branching()

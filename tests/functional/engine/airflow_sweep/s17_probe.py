from __future__ import annotations

import pendulum
from airflow.sdk import dag, task, task_group, TaskGroup, chain
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.python import BranchPythonOperator

KEYS = ["conn", "dag", "dag_run", "data_interval_end", "data_interval_start", "ds", "ds_nodash",
        "expanded_ti_count", "inlets", "logical_date", "macros", "map_index_template", "outlet_events",
        "outlets", "params", "prev_data_interval_start_success", "prev_data_interval_end_success",
        "prev_start_date_success", "prev_end_date_success", "run_id", "start_date", "task", "task_instance",
        "task_instance_key_str", "task_reschedule_count", "templates_dict", "ti", "triggering_asset_events",
        "ts", "ts_nodash", "ts_nodash_with_tz", "var", "test_mode"]


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), params={"p": "P"})
def s17_probe():
    @task
    def ctx_keys(**context):
        ti = context["ti"]
        dr = context["dag_run"]
        return {"missing": [k for k in KEYS if k not in context],
                "ti": [ti.dag_id, ti.task_id, ti.run_id, ti.map_index, ti.try_number, ti.max_tries],
                "dr": [dr.dag_id, dr.run_id, dr.run_type, str(dr.logical_date), dict(dr.conf or {})],
                "ts": context["ts"], "ts_nodash": context["ts_nodash"], "key": context.get("task_instance_key_str"),
                "dag": context["dag"].dag_id, "task": context["task"].task_id}

    @task.branch
    def to_group():
        return "grp"

    with TaskGroup("grp") as grp:
        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b")
        a >> b

    other = EmptyOperator(task_id="other")
    join = EmptyOperator(task_id="join", trigger_rule="none_failed_min_one_success")
    to_group() >> [grp, other]
    [grp, other] >> join

    @task
    def twice(x):
        return x * 2

    t1 = twice(1)
    t2 = twice(t1)
    t3 = twice(t2)

    @task_group
    def tg(v):
        @task
        def inner(v):
            return v + 1
        return inner(v)

    g1 = tg(1)
    g2 = tg(g1)

    with TaskGroup("mapgrp"):
        @task
        def items():
            return [1, 2]

        @task
        def sq(x):
            return x * x

        sq.expand(x=items())

    script = BashOperator(task_id="script", bash_command="scripts/hello.sh")
    bad_branch = BranchPythonOperator(task_id="bad_branch", python_callable=lambda: "not_a_task")
    bb_down = EmptyOperator(task_id="bb_down")
    bad_branch >> bb_down
    chain(ctx_keys(), t1)


s17_probe()

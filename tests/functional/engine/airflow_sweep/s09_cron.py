from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task
from airflow.providers.standard.operators.bash import BashOperator

with DAG(
    dag_id="s09_cron",
    schedule="0 6 * * 1-5",
    start_date=pendulum.datetime(2026, 3, 1, tz="UTC"),
    catchup=True,
    max_active_runs=2,
    tags=["cron"],
) as dag:

    @task
    def window(data_interval_start=None, data_interval_end=None, logical_date=None, ds=None, ds_nodash=None,
               **context):
        return {"start": data_interval_start.isoformat(), "end": data_interval_end.isoformat(),
                "ld": logical_date.isoformat(), "ds": ds, "ds_nodash": ds_nodash,
                "run_type": context["dag_run"].run_type, "prev": context.get("prev_ds")}

    echo = BashOperator(task_id="echo", bash_command="echo {{ ds }} {{ macros.ds_add(ds, 1) }}")
    window() >> echo

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param, task
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import PythonOperator, ShortCircuitOperator


def dag_failed(context):
    print("DAG FAILED", context["dag_run"].run_id)


def check(threshold, **context):
    return int(threshold) > 5


def compute(params, **context):
    return {"n": params["n"], "names": params["names"], "flag": params["flag"], "ratio": params["ratio"]}


with DAG(
    "s12_params_callbacks",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    dagrun_timeout=timedelta(minutes=10),
    on_failure_callback=dag_failed,
    params={
        "n": Param(10, type="integer", minimum=0, description="how many"),
        "names": Param(["a"], type="array"),
        "flag": Param(False, type="boolean"),
        "ratio": Param(0.5, type="number"),
        "when": Param("2026-01-01", type="string", format="date"),
        "opt": Param(None, type=["null", "string"]),
    },
    default_args={"retries": 1, "retry_delay": timedelta(seconds=1)},
) as dag:
    gate = ShortCircuitOperator(task_id="gate", python_callable=check, op_kwargs={"threshold": "{{ params.n }}"})
    c = PythonOperator(task_id="compute", python_callable=compute)
    end = EmptyOperator(task_id="end")
    gate >> c >> end

    @task
    def opt_echo(params=None):
        return params["opt"]

    opt_echo()

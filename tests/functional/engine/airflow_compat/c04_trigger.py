"""TriggerDagRunOperator to a DAG of the same folder, waited for, under `stratus run`."""
from __future__ import annotations

import pendulum
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import dag, task

START = pendulum.datetime(2026, 1, 1, tz="UTC")


@dag(schedule=None, start_date=START, catchup=False)
def c04_controller():
    @task
    def prepare():
        return {"batch": 7}

    trigger = TriggerDagRunOperator(task_id="trigger", trigger_dag_id="c04_target", conf={"batch": 7},
                                    wait_for_completion=True, poke_interval=1)
    prepare() >> trigger


@dag(schedule=None, start_date=START, catchup=False)
def c04_target():
    @task
    def work(dag_run=None):
        return dag_run.conf["batch"] * 2

    work()


c04_controller()
c04_target()

"""ExternalTaskSensor / ExternalTaskMarker as Airflow 3 users write them (standard provider paths)."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.sensors.external_task import ExternalTaskMarker, ExternalTaskSensor
from airflow.sdk import dag, task


@dag(schedule=None, start_date=datetime(2026, 1, 1))
def ext_upstream():
    @task
    def produce() -> int:
        return 42

    @task
    def broken() -> None:
        raise RuntimeError("upstream broke")

    marker = ExternalTaskMarker(task_id="tell_downstream", external_dag_id="ext_downstream",
                                external_task_id="wait_for_produce")
    produce() >> marker
    broken()


@dag(schedule=None, start_date=datetime(2026, 1, 1))
def ext_downstream():
    wait = ExternalTaskSensor(task_id="wait_for_produce", external_dag_id="ext_upstream", external_task_id="produce",
                              poke_interval=30, mode="reschedule", timeout=3600)
    wait_run = ExternalTaskSensor(task_id="wait_for_run", external_dag_id="ext_upstream", poke_interval=30,
                                  allowed_states=["success"], failed_states=["failed"], timeout=3600)
    wait_broken = ExternalTaskSensor(task_id="wait_for_broken", external_dag_id="ext_upstream",
                                     external_task_id="broken", failed_states=["failed"], poke_interval=30,
                                     timeout=3600, soft_fail=True)
    consume = EmptyOperator(task_id="consume")
    wait >> consume
    wait_run >> EmptyOperator(task_id="after_run")
    wait_broken >> EmptyOperator(task_id="after_broken")


ext_upstream()
ext_downstream()

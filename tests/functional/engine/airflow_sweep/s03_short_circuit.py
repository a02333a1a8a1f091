from __future__ import annotations

from datetime import datetime

from airflow.decorators import dag, task
from airflow.operators.empty import EmptyOperator
from airflow.utils.trigger_rule import TriggerRule


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def s03_short_circuit():
    @task.short_circuit
    def gate_closed():
        return []

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def soft_gate():
        return 0

    @task.short_circuit
    def gate_open():
        return {"go": True}

    @task
    def after_closed():
        return 1

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def cleanup_hard():
        return "hard"

    @task
    def after_soft():
        return 2

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def cleanup_soft():
        return "soft"

    @task
    def after_open(v):
        return v

    a = after_closed()
    gate_closed() >> a >> cleanup_hard()
    b = after_soft()
    soft_gate() >> b >> cleanup_soft()
    g = gate_open()
    after_open(g) >> EmptyOperator(task_id="open_end")


s03_short_circuit()

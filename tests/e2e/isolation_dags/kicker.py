"""Starts a run of `target` and waits for it (TriggerDagRunOperator, asked of the trigger function)."""

from datetime import datetime

from orchestrator import TriggerDagRunOperator, dag


@dag(schedule=None, start_date=datetime(2026, 1, 1))
def kicker():
    TriggerDagRunOperator(task_id="kick", trigger_dag_id="target", trigger_run_id="from_kicker",
                          conf={"n": 2}, wait_for_completion=True, poke_interval=0.05)


kicker()

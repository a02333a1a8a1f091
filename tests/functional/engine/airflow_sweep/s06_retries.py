from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task
from airflow.exceptions import AirflowFailException
from airflow.utils.trigger_rule import TriggerRule

CALLS = []


def note_failure(context):
    print("FAILED", context["ti"].task_id, context.get("exception"))


@dag(schedule=None, start_date=datetime(2026, 1, 1),
     default_args={"retries": 2, "retry_delay": timedelta(seconds=0), "on_failure_callback": note_failure})
def s06_retries():
    @task
    def flaky(**context):
        ti = context["ti"]
        if ti.try_number < 2:
            raise ValueError("first try fails")
        return ti.try_number

    @task(retries=0)
    def boom():
        raise RuntimeError("always")

    @task
    def fail_fast():
        raise AirflowFailException("no retry please")

    @task(execution_timeout=timedelta(seconds=1), retries=0)
    def slow():
        import time
        time.sleep(5)

    @task
    def after_boom():
        return "never"

    @task(trigger_rule=TriggerRule.ONE_FAILED)
    def alert():
        return "alerted"

    @task(trigger_rule=TriggerRule.ALL_FAILED)
    def all_failed():
        return "all failed"

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def finally_():
        return "finally"

    @task(trigger_rule="none_failed")
    def nf():
        return "nf"

    f = flaky()
    b = boom()
    ff = fail_fast()
    s = slow()
    after_boom_t = after_boom()
    b >> after_boom_t >> nf()
    [f, b] >> alert()
    [b, ff, s] >> all_failed()
    [f, b, ff, s, after_boom_t] >> finally_()


s06_retries()

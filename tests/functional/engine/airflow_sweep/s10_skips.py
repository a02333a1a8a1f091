from __future__ import annotations

import pendulum
from airflow.sdk import dag, task
from airflow.exceptions import AirflowSkipException
from airflow.utils.trigger_rule import TriggerRule


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))
def s10_skips():
    @task
    def maybe():
        raise AirflowSkipException("nothing to do today")

    @task
    def ok():
        return 1

    @task
    def needs_all():
        return "x"

    @task(trigger_rule=TriggerRule.NONE_FAILED)
    def none_failed():
        return "nf"

    @task(trigger_rule=TriggerRule.NONE_SKIPPED)
    def none_skipped():
        return "ns"

    @task(trigger_rule=TriggerRule.ALL_SKIPPED)
    def all_skipped():
        return "as"

    @task(trigger_rule=TriggerRule.ONE_SUCCESS)
    def one_success():
        return "os"

    @task(trigger_rule=TriggerRule.ALWAYS)
    def always():
        return "al"

    @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    def nfmos():
        return "nfmos"

    @task
    def downstream_of_skipped():
        return "dos"

    m = maybe()
    o = ok()
    [m, o] >> needs_all()
    [m, o] >> none_failed()
    [m, o] >> none_skipped()
    m >> all_skipped()
    [m, o] >> one_success()
    m >> always()
    [m, o] >> nfmos()
    n = needs_all.override(task_id="chain_a")()
    m >> n >> downstream_of_skipped()


s10_skips()

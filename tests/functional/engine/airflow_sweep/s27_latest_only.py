from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.latest_only import LatestOnlyOperator

with DAG("s27_latest_only", schedule="@daily", start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=True):
    latest = LatestOnlyOperator(task_id="latest_only")

    @task
    def notify():
        return "sent"

    @task
    def load():
        return "loaded"

    done = EmptyOperator(task_id="done", trigger_rule="none_failed")
    n = notify()
    latest >> n >> done
    load() >> done

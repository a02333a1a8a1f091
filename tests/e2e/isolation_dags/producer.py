"""Emits an asset event: the consumer DAG is scheduled on it (asked of the trigger function)."""

from datetime import datetime

from orchestrator import Asset, dag, task

LAKE = Asset("s3://iso-lake/out/")


@dag(schedule=None, start_date=datetime(2026, 1, 1), tags=["isolation"])
def producer():
    @task(outlets=[LAKE])
    def publish(**context) -> int:
        context["outlet_events"][LAKE].extra = {"rows": 3}
        return 3

    publish()


producer()

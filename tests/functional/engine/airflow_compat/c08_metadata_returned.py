"""Metadata returned by a task (not yielded): the task's return value, as in Airflow 3.3."""
from __future__ import annotations

import pendulum
from airflow.sdk import Asset, Metadata, dag, task

START = pendulum.datetime(2026, 1, 1, tz="UTC")
ROWS = Asset("s3://consuming_1_task/returned/rows.csv")
MORE = Asset("s3://consuming_1_task/returned/more.csv")


@dag(schedule=None, start_date=START, catchup=False)
def c08_returns_metadata():
    @task(outlets=[ROWS])
    def one():
        return Metadata(ROWS, {"rows": 5})

    @task(outlets=[ROWS, MORE])
    def several():
        return [Metadata(ROWS, {"rows": 6}), Metadata(MORE, {"rows": 7})]

    @task
    def check(m, ms):
        # what a downstream task pulls: the Metadata objects themselves
        return [type(m).__name__, m.asset.uri, m.extra["rows"], [x.extra["rows"] for x in ms]]

    first, both = one(), several()
    first >> both
    check(first, both)


@dag(schedule=[MORE], start_date=START, catchup=False)
def c08_more_consumer():
    @task
    def extras(triggering_asset_events=None):
        return [[e.source_task_id, "rows" in e.extra] for e in triggering_asset_events[MORE]]

    extras()


c08_returns_metadata()
c08_more_consumer()

"""AssetOrTimeSchedule: a DAG that runs on its cron schedule and whenever its assets are updated."""
from __future__ import annotations

import pendulum
from airflow.sdk import Asset, AssetOrTimeSchedule, CronTriggerTimetable, dag, task

START = pendulum.datetime(2026, 1, 1, tz="UTC")
FEED = Asset("s3://consuming_1_task/feed")


@dag(schedule=None, start_date=START, catchup=False)
def c07_feeder():
    @task(outlets=[FEED])
    def feed():
        return "fed"

    feed()


@dag(schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 1 * * 3", timezone="UTC"), assets=[FEED]),
     start_date=START, catchup=False)
def c07_either_way():
    @task
    def how(dag_run=None, triggering_asset_events=None):
        return [dag_run.run_type, sorted(str(k) for k in triggering_asset_events)]

    how()


c07_feeder()
c07_either_way()

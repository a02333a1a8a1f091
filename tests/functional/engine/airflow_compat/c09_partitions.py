"""Asset partitions (Airflow 3.2+): partitioned runs and events, PartitionedAssetTimetable and its key mappers."""
from __future__ import annotations

import pendulum
from airflow.sdk import (
    DAG,
    AllowedKeyMapper,
    Asset,
    CronPartitionTimetable,
    FanOutMapper,
    FixedKeyMapper,
    PartitionedAssetTimetable,
    PartitionedAtRuntime,
    RollupMapper,
    SegmentWindow,
    StartOfDayMapper,
    StartOfWeekMapper,
    WeekWindow,
    task,
)

START = pendulum.datetime(2026, 1, 1, tz="UTC")
HOURLY = Asset(uri="s3://consuming_1_task/partitions/hourly.csv", name="hourly_stats")
REGIONAL = Asset(uri="s3://consuming_1_task/partitions/regional.csv", name="regional_sales")
WEEKLY = Asset(uri="s3://consuming_1_task/partitions/weekly.bin", name="weekly_model")

with DAG("c09_hourly", schedule=CronPartitionTimetable("0 * * * *", timezone="UTC", run_offset=-1),
         start_date=START, catchup=False):

    @task(outlets=[HOURLY])
    def ingest(dag_run=None, partition_key=None):
        return [dag_run.partition_key, partition_key]

    ingest()

with DAG("c09_daily", schedule=PartitionedAssetTimetable(assets=HOURLY, default_partition_mapper=StartOfDayMapper()),
         start_date=START, catchup=False):

    @task
    def summarise(dag_run=None, triggering_asset_events=None):
        [event] = triggering_asset_events[HOURLY]
        return [dag_run.partition_key, dag_run.partition_date.isoformat(), event.partition_key]

    summarise()

with DAG("c09_plain", schedule=[HOURLY], start_date=START, catchup=False):
    # not partition-aware: a partitioned event does not start it

    @task
    def plain():
        return "ran"

    plain()

with DAG("c09_regions", schedule=PartitionedAtRuntime(), start_date=START, catchup=False):

    @task(outlets=[REGIONAL])
    def ingest_regions(outlet_events=None):
        outlet_events[REGIONAL].add_partitions(["us", "eu", "apac"])

    ingest_regions()

with DAG("c09_allowed", schedule=PartitionedAssetTimetable(
        assets=REGIONAL, default_partition_mapper=AllowedKeyMapper(["us", "eu"])), start_date=START, catchup=False):

    @task
    def per_region(dag_run=None):
        return dag_run.partition_key

    per_region()

with DAG("c09_all_regions", schedule=PartitionedAssetTimetable(
        assets=REGIONAL, default_partition_mapper=RollupMapper(
            upstream_mapper=FixedKeyMapper("all_regions"), window=SegmentWindow(["us", "eu", "apac"]))),
         start_date=START, catchup=False):

    @task
    def rollup(dag_run=None, triggering_asset_events=None):
        return [dag_run.partition_key, sorted(e.partition_key for e in triggering_asset_events[REGIONAL])]

    rollup()

with DAG("c09_weekly", schedule=PartitionedAtRuntime(), start_date=START, catchup=False):

    @task(outlets=[WEEKLY])
    def train(outlet_events=None):
        outlet_events[WEEKLY].add_partitions("2026-03-11T00:00:00")

    train()

with DAG("c09_daily_inference", schedule=PartitionedAssetTimetable(
        assets=WEEKLY, default_partition_mapper=FanOutMapper(upstream_mapper=StartOfWeekMapper(), window=WeekWindow())),
         start_date=START, catchup=False):

    @task
    def infer(dag_run=None):
        return dag_run.partition_key

    infer()

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, dag, task
from airflow.datasets import Dataset

raw = Asset("s3://stratus-landing/sweep/raw/")
clean = Dataset("s3://stratus-landing/sweep/clean/")


@dag(schedule="@hourly", start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def s07_producer():
    @task(outlets=[raw])
    def write_raw():
        return "raw"

    @task(outlets=[clean])
    def write_clean(x):
        return x + "-clean"

    write_clean(write_raw())


@dag(schedule=[raw, clean], start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))
def s07_consumer():
    @task
    def read(**context):
        events = context["triggering_asset_events"]
        return sorted(str(k) for k in events)

    read()


@dag(schedule=(raw | clean), start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))
def s07_either():
    @task
    def read_either():
        return "either"

    read_either()


s07_producer()
s07_consumer()
s07_either()

"""AssetAlias resolved at run time, Metadata yielded by a task, @asset and @asset.multi."""
from __future__ import annotations

import pendulum
from airflow.sdk import Asset, AssetAlias, Metadata, asset, dag, task

START = pendulum.datetime(2026, 1, 1, tz="UTC")
daily = AssetAlias("daily-raw")
REPORT = Asset("s3://consuming_1_task/report.csv")


@dag(schedule=None, start_date=START, catchup=False)
def c06_alias_producer():
    @task(outlets=[daily])
    def write(outlet_events=None, ds=None):
        # which object the run wrote is known only now: the alias says so
        outlet_events[daily].add(Asset(f"s3://consuming_1_task/raw/{ds}.csv"), extra={"rows": 4})

    @task(outlets=[REPORT])
    def report():
        yield Metadata(REPORT, {"rows": 7})
        return "reported"

    write() >> report()


@dag(schedule=[daily], start_date=START, catchup=False)
def c06_alias_consumer():
    @task
    def read(triggering_asset_events=None):
        return {uri: [[e.extra["rows"], e.source_aliases] for e in events]
                for uri, events in triggering_asset_events.items()}

    read()


@dag(schedule=[REPORT], start_date=START, catchup=False)
def c06_report_consumer():
    @task
    def rows(triggering_asset_events=None):
        return triggering_asset_events[REPORT][-1].extra["rows"]

    rows()


@asset(schedule=None, uri="s3://consuming_1_task/quotes")
def quotes(self, context):
    context["outlet_events"][self].extra = {"n": 2}
    return [1, 2]


@asset(schedule=quotes)
def summary(self, context, quotes):
    [event] = context["triggering_asset_events"][quotes]
    return {"n": event.extra["n"], "me": self.name, "inlet": quotes.uri}


m1 = Asset("s3://consuming_1_task/m1")
m2 = Asset("s3://consuming_1_task/m2")


@asset.multi(schedule=None, outlets=[m1, m2])
def both_parts():
    return "both"


@dag(schedule=[m1, m2], start_date=START, catchup=False)
def c06_multi_consumer():
    @task
    def seen(triggering_asset_events=None):
        return sorted(str(k) for k in triggering_asset_events)

    seen()


c06_alias_producer()
c06_alias_consumer()
c06_report_consumer()
c06_multi_consumer()

"""Airflow 3's asset objects: AssetEvent in triggering_asset_events and inlet_events, the asset state store."""
from __future__ import annotations

import pendulum
from airflow.sdk import Asset, dag, task

START = pendulum.datetime(2026, 1, 1, tz="UTC")
ORDERS = Asset(name="orders/daily", uri="s3://consuming_1_task/orders/daily")


@dag(schedule=None, start_date=START, catchup=False)
def c03_producer():
    @task(inlets=[ORDERS], outlets=[ORDERS])
    def load(outlet_events=None, asset_state_store=None):
        state = asset_state_store[ORDERS]
        runs = state.get("total_runs", default=0) + 1
        state.set("total_runs", runs)
        outlet_events[ORDERS].extra = {"rows": 3, "run": runs}
        return runs

    load()


@dag(schedule=[ORDERS], start_date=START, catchup=False)
def c03_consumer():
    @task(inlets=[ORDERS])
    def consume(triggering_asset_events=None, inlet_events=None, asset_state_store=None):
        [event] = triggering_asset_events[ORDERS]
        history = inlet_events[ORDERS]
        return {
            "rows": event.extra["rows"],
            "source": [event.source_dag_id, event.source_task_id, event.source_map_index],
            "asset": event.asset.uri,
            "timestamp_is_a_datetime": hasattr(event.timestamp, "add"),
            "latest_run": history[-1].extra["run"],
            "events": len(history),
            "total_runs": asset_state_store[ORDERS].get("total_runs"),
            "keys": [k.uri for k in triggering_asset_events],
        }

    consume()


@dag(schedule=None, start_date=START, catchup=False)
def c03_task_state():
    @task(retries=1, retry_delay=0)
    def resumable(task_state_store=None, ti=None):
        job = task_state_store.get("job_id")
        if job is None:
            task_state_store.set("job_id", "job-42")  # kept for the retry, as in Airflow 3.3
            raise RuntimeError("the worker died after submitting the job")
        return {"job": job, "try": ti.try_number}

    @task
    def per_instance(x, task_state_store=None):
        before = task_state_store.get("seen", default="nothing")
        task_state_store.set("seen", x)
        return [before, task_state_store.get("seen")]

    resumable() >> per_instance.expand(x=[1, 2])


c03_producer()
c03_consumer()
c03_task_state()

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))
def s16_map_edges():
    @task
    def as_dict() -> dict:
        return {"a": 1, "b": 2}

    @task
    def pair(kv):
        k, v = kv
        return f"{k}={v}"

    @task
    def lit(kv):
        return list(kv)

    @task
    def maybe_none(x: int):
        return None if x == 1 else x

    @task
    def collect(vals):
        return list(vals)

    pair.expand(kv=as_dict())
    lit.expand(kv={"x": 1, "y": 2})
    collect(maybe_none.expand(x=[0, 1, 2]))


s16_map_edges()

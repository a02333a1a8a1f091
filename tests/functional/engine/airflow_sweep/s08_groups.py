from __future__ import annotations

import pendulum
from airflow.sdk import dag, task, task_group, TaskGroup
from airflow.providers.standard.operators.empty import EmptyOperator


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))
def s08_groups():
    @task
    def seed() -> int:
        return 5

    @task_group
    def process(n: int):
        @task
        def inc(x: int) -> int:
            return x + 1

        @task
        def square(x: int) -> int:
            return x * x

        return square(inc(n))

    @task_group(group_id="outer")
    def outer(v):
        @task_group(group_id="inner")
        def inner(w):
            @task
            def neg(x):
                return -x
            return neg(w)

        @task
        def wrap(x):
            return {"v": x}

        return wrap(inner(v))

    @task
    def final(a, b, ti=None):
        return {"a": a, "b": b, "ids": sorted(ti.xcom_pull(task_ids=["process.square", "outer.inner.neg"]))}

    with TaskGroup(group_id="side", prefix_group_id=True) as side:
        e1 = EmptyOperator(task_id="e1")
        e2 = EmptyOperator(task_id="e2")
        e1 >> e2

    s = seed()
    p = process(s)
    o = outer(p)
    f = final(p, o)
    s >> side >> f


s08_groups()

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))
def s04_mapping():
    @task
    def files() -> list[str]:
        return ["a.csv", "b.csv", "c.csv"]

    @task
    def size(name: str, factor: int) -> int:
        return len(name) * factor

    @task
    def double(n: int) -> int:
        return n * 2

    @task
    def total(values) -> int:
        return sum(values)

    @task
    def configs() -> list[dict]:
        return [{"x": 1, "y": 2}, {"x": 10, "y": 20}]

    @task
    def add(x: int, y: int, **context) -> dict:
        return {"sum": x + y, "map_index": context["ti"].map_index}

    @task
    def nothing() -> list[int]:
        return []

    @task
    def per_item(i: int) -> int:
        return i

    @task
    def after_empty(vals) -> str:
        return "ran"

    @task
    def cross(a: int, b: str) -> str:
        return f"{a}{b}"

    sizes = size.partial(factor=10).expand(name=files())
    doubled = double.expand(n=sizes)
    total(doubled)
    added = add.expand_kwargs(configs())

    @task
    def sums(results) -> list:
        return [r["sum"] for r in results] + [r["map_index"] for r in results]

    sums(added)
    after_empty(per_item.expand(i=nothing()))
    cross.expand(a=[1, 2], b=["x", "y"])


s04_mapping()

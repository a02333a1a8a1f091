"""A 1,000-way map: the fan-out scale check (each mapped instance is trivial).

One task returns 1,000 items, `work` is mapped over them (1,000 task instances, each a
Lambda invocation on AWS), `reduce_all` waits for all of them.
"""

from __future__ import annotations

from datetime import datetime

from orchestrator import dag, task


@dag(schedule=None, start_date=datetime(2026, 1, 1), tags=["example", "mapping", "scale"], max_active_tasks=64)
def map_1000():
    """Fan out to 1,000 mapped task instances and reduce."""

    @task
    def make_items() -> list[int]:
        return list(range(1000))

    @task
    def work(item: int) -> int:
        return item % 7

    @task
    def reduce_all(values: list[int]) -> dict:
        return {"count": len(values), "sum": sum(values)}

    reduce_all(work.expand(item=make_items()))


map_1000()

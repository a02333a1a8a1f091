"""Dynamic task mapping: fan out over a list made at run time, then fan back in.

`square.expand(n=numbers())` creates one mapped task instance per item returned by
`numbers`; `total` receives the list of all their outputs. `scale` shows `.partial()`
(a constant for every instance) next to `.expand()`.
"""

from __future__ import annotations

from datetime import datetime

from orchestrator import dag, task


@dag(schedule=None, start_date=datetime(2026, 1, 1), tags=["example", "mapping"])
def fanout_map():
    """Square each number (one Lambda invocation each) and add them up."""

    @task
    def numbers() -> list[int]:
        return [1, 2, 3, 4, 5]

    @task
    def square(n: int) -> int:
        return n * n

    @task
    def scale(n: int, factor: int) -> int:
        return n * factor

    @task
    def total(values: list[int]) -> int:
        result = sum(values)
        print(f"sum of {len(values)} values: {result}")
        return result

    squares = square.expand(n=numbers())
    total(scale.partial(factor=10).expand(n=squares))


fanout_map()

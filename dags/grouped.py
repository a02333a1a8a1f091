"""Task groups: ids are prefixed with the group id, and `>>` on a group links its ends.

`extract` and `report` are groups (`@task_group` and `with TaskGroup(...)`); their tasks are
`extract.pull_a`, `report.summary`, ... `start >> extract_group >> report >> end` makes the
group's first tasks wait for `start` and `end` wait for the group's last tasks.
"""

from __future__ import annotations

from datetime import datetime

from orchestrator import EmptyOperator, TaskGroup, dag, task, task_group


@dag(schedule=None, start_date=datetime(2026, 1, 1), tags=["example", "groups"])
def grouped():
    """Two parallel extracts in a group, then a reporting group."""

    start = EmptyOperator(task_id="start")
    end = EmptyOperator(task_id="end")

    @task
    def pull(source: str) -> int:
        return len(source)

    @task
    def combine(a: int, b: int) -> int:
        return a + b

    @task_group
    def extract():
        """Pull both sources and combine them."""
        return combine(pull.override(task_id="pull_a")("alpha"), pull.override(task_id="pull_b")("beta"))

    combined = extract()

    with TaskGroup("report") as report:

        @task
        def summary(total: int) -> str:
            return f"total={total}"

        @task
        def notify() -> None:
            print("report ready")

        summary(combined) >> notify()

    start >> combined
    report >> end


grouped()

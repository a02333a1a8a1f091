"""Task groups: ids are prefixed with the group id, and `>>` on a group links its ends.

`extract` is a `with TaskGroup(...)` block and `report` an `@task_group` function; their
tasks are `extract.pull_a`, `report.summary`, ... `start >> extract` makes the group's first
tasks wait for `start`; `report(...) >> end` makes `end` wait for the group's last task.
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

    @task
    def summary(total: int) -> str:
        return f"total={total}"

    @task
    def notify(text: str) -> None:
        print(f"report ready: {text}")

    with TaskGroup("extract") as extract:
        combined = combine(pull.override(task_id="pull_a")("alpha"), pull.override(task_id="pull_b")("beta"))

    @task_group
    def report(total):
        """Summarise and notify."""
        notify(summary(total))

    start >> extract
    report(combined) >> end


grouped()

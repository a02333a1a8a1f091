"""Branching: `@task.branch` picks which path runs; the other path is skipped.

The join uses `none_failed_min_one_success`, the trigger rule that lets a task run after a
branch (one upstream succeeded, the other was skipped). Trigger with conf
`{"amount": 5000}` to take the other path.
"""

from __future__ import annotations

from datetime import datetime

from orchestrator import EmptyOperator, Param, TriggerRule, dag, task


@dag(
    schedule=None,
    start_date=datetime(2026, 1, 1),
    tags=["example", "branching"],
    params={"amount": Param(120, type="integer", minimum=0, description="order amount in EUR")},
)
def branching():
    """Route small and large orders differently."""

    @task.branch
    def route(params=None) -> str:
        return "large_order" if params["amount"] >= 1000 else "small_order"

    @task
    def small_order(params=None) -> str:
        return f"auto-approved {params['amount']}"

    @task
    def large_order(params=None) -> str:
        return f"sent {params['amount']} for review"

    done = EmptyOperator(task_id="done", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    route() >> [small_order(), large_order()] >> done


branching()

"""Retries: a task that fails on its first try and succeeds on the second.

`retries=1` allows one more try after a failure, `retry_delay` waits between tries;
`context["ti"].try_number` tells the task which try it is (1, 2, ...).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from orchestrator import dag, get_current_context, task


@dag(schedule=None, start_date=datetime(2026, 1, 1), tags=["example", "retries"])
def flaky_retry():
    """Fail once, then succeed on retry."""

    @task(retries=1, retry_delay=timedelta(seconds=1))
    def flaky() -> str:
        ti = get_current_context()["ti"]
        if ti.try_number < 2:
            raise RuntimeError(f"transient failure on try {ti.try_number}; the retry will succeed")
        return f"succeeded on try {ti.try_number}"

    @task
    def after(message: str) -> None:
        print(message)

    after(flaky())


flaky_retry()

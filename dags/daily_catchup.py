"""A scheduled DAG with catch-up: one run per day since `start_date`.

`start_date` is midnight UTC three days ago (so the example always has a few days to
catch up; a real DAG uses a fixed date). With `catchup=True`, deploying it creates the runs for the days already past (oldest
first, at most `max_active_runs` at a time); each run sees its own `ds` (the data
interval start date) through templating and the context.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from orchestrator import PythonOperator, dag, task

START = (datetime.now(timezone.utc) - timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)


def _announce(day: str) -> str:
    print(f"processing partition {day}")
    return day


@dag(schedule="@daily", start_date=START, catchup=True, max_active_runs=2, tags=["example", "schedule"])
def daily_catchup():
    """Process one daily partition per run."""

    announce = PythonOperator(task_id="announce", python_callable=_announce, op_kwargs={"day": "{{ ds }}"})

    @task
    def count_rows(day: str, ds=None) -> dict:
        return {"day": day, "ds": ds, "rows": 42}

    announce >> count_rows(announce.output)


daily_catchup()

"""Started by `kicker`."""

from datetime import datetime

from orchestrator import dag, task


@dag(schedule=None, start_date=datetime(2026, 1, 1))
def target():
    @task
    def double(**context) -> int:
        return 2 * int(context["dag_run"].conf.get("n", 0))

    double()


target()

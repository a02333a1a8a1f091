"""Setup and teardown tasks as Airflow 3 users write them (``airflow.sdk``).

Each DAG's expected task states (Airflow 3.3) are in tests/e2e/test_setup_teardown.py.
``MARKS`` records which task bodies ran, so a clear's re-runs can be counted.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import TaskGroup, TriggerRule, dag, setup, task, teardown
from airflow.sdk.exceptions import AirflowSkipException

MARKS = Path(__file__).parent / "marks.txt"
START = datetime(2026, 1, 1)


def mark(name: str) -> None:
    with MARKS.open("a") as fh:
        fh.write(name + "\n")


def cluster_tasks():
    # Made per DAG: Airflow 3.3 refuses a @teardown function called in a second DAG ("Trigger
    # rule not configurable for teardown tasks": the first call stored its trigger rule).
    @setup
    def create_cluster() -> str:
        mark("create_cluster")
        return "cluster-1"

    @teardown
    def delete_cluster(cluster: str) -> None:
        mark("delete_cluster")

    return create_cluster, delete_cluster


@dag(schedule=None, start_date=START)
def st_work_fails():
    # The work fails; the teardown still runs (its setup succeeded); the run fails (the work is
    # the run's leaf: a teardown does not count).
    @task
    def run_query(cluster: str) -> None:
        mark("run_query")
        if not (MARKS.parent / "fixed").exists():
            raise RuntimeError("query failed")

    create_cluster, delete_cluster = cluster_tasks()
    cluster = create_cluster()
    run_query(cluster) >> delete_cluster(cluster)


@dag(schedule=None, start_date=START)
def st_teardown_fails():
    # A failing teardown leaves the run successful...
    create = BashOperator(task_id="create", bash_command="echo create").as_setup()
    work = BashOperator(task_id="work", bash_command="echo work")
    delete = BashOperator(task_id="delete", bash_command="exit 1").as_teardown(setups=create)
    create >> work >> delete


@dag(schedule=None, start_date=START)
def st_teardown_fails_the_run():
    # ...unless on_failure_fail_dagrun=True.
    create = BashOperator(task_id="create", bash_command="echo create").as_setup()
    work = BashOperator(task_id="work", bash_command="echo work")
    delete = BashOperator(task_id="delete", bash_command="exit 1").as_teardown(setups=create,
                                                                                 on_failure_fail_dagrun=True)
    create >> work >> delete


@dag(schedule=None, start_date=START)
def st_setup_fails():
    # The setup fails: the work is upstream_failed, and so is the teardown (no setup succeeded);
    # `report` (all_done, two steps below the setup) is upstream_failed too: Airflow's setup
    # constraint, its indirect setup failed although its trigger rule alone would run it.
    @setup
    @task
    def create() -> None:
        raise RuntimeError("no capacity")

    @task
    def load() -> None:
        mark("load")

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def report() -> None:
        mark("report")

    @teardown
    @task
    def delete() -> None:
        mark("delete")

    c = create()
    d = delete()
    c >> load() >> report() >> d
    c >> d  # a teardown's setups are the setups right upstream of it


@dag(schedule=None, start_date=START)
def st_setup_skipped():
    # The setup skips: the work is skipped, the teardown too (all its setups skipped); success.
    @task
    def create() -> None:
        raise AirflowSkipException("nothing to set up today")

    @task
    def load() -> None:
        mark("load")

    @task
    def delete() -> None:
        mark("delete")

    c = create().as_setup()
    c >> load() >> delete().as_teardown(setups=c)


@dag(schedule=None, start_date=START)
def st_scope():
    # `with teardown.as_teardown(setups=setup):` puts the tasks made inside between them; a task
    # group with a teardown inside: `group >> after` waits for the work, not for the teardown.
    @task
    def extract() -> int:
        mark("extract")
        return 1

    @task
    def transform(x: int) -> int:
        mark("transform")
        return x + 1

    @task
    def after() -> None:
        mark("after")

    create_cluster, delete_cluster = cluster_tasks()
    with delete_cluster("c").as_teardown(setups=create_cluster()):
        transform(extract())

    with TaskGroup("g") as g:
        s = BashOperator(task_id="s", bash_command="echo s").as_setup()
        w = BashOperator(task_id="w", bash_command="echo w")
        t = BashOperator(task_id="t", bash_command="exit 3").as_teardown(setups=s)
        s >> w >> t
    g >> after()


st_work_fails()
st_teardown_fails()
st_teardown_fails_the_run()
st_setup_fails()
st_setup_skipped()
st_scope()

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.decorators import dag, task
from airflow.operators.empty import EmptyOperator
from airflow.utils.edgemodifier import Label

CALLED = []


def ok_cb(context):
    print("SUCCESS CB", context["ti"].task_id)


@dag(schedule=timedelta(hours=6), catchup=False, description="misc",
     default_args={"start_date": datetime(2026, 1, 1), "owner": "me", "pool": "default_pool",
                   "priority_weight": 5, "queue": "q", "email_on_retry": False, "depends_on_past": False},
     doc_md="# misc", max_active_tasks=4)
def s15_misc():
    @task.python
    def one():
        return 1

    @task(do_xcom_push=False)
    def silent():
        return "hidden"

    @task(task_id="renamed", retries=1, doc_md="renamed task")
    def original(v):
        return v + 1

    @task
    def puller(ti=None):
        return {"silent": ti.xcom_pull(task_ids="silent"), "renamed": ti.xcom_pull(task_ids="renamed")}

    e = EmptyOperator(task_id="e", on_success_callback=ok_cb)
    o = one()
    r = original.override(retries=2)(o)
    o >> Label("then") >> silent() >> e >> puller()
    r >> e


s15_misc()

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task, Param, get_current_context
from airflow.providers.standard.operators.python import PythonOperator


def _report(ds, run_tag, limit, **kwargs):
    return f"{ds}|{run_tag}|{limit}"


@dag(
    dag_id="s01_etl_context",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"limit": Param(3, type="integer", minimum=1, maximum=10),
            "region": Param("eu", enum=["eu", "us"])},
    tags=["sweep"],
)
def etl_context():
    @task(multiple_outputs=True)
    def extract(**context):
        p = context["params"]
        return {"rows": list(range(p["limit"])), "region": p["region"], "ds": context["ds"]}

    @task
    def transform(rows: list[int], region: str) -> dict:
        ctx = get_current_context()
        ctx["ti"].xcom_push(key="row_count", value=len(rows))
        return {"total": sum(rows), "region": region, "run_id_set": bool(ctx["run_id"])}

    @task
    def load(summary: dict, ti=None, dag_run=None):
        count = ti.xcom_pull(task_ids="transform", key="row_count")
        whole = ti.xcom_pull(task_ids="extract")
        return {"count": count, "total": summary["total"], "extract_keys": sorted(whole),
                "conf": dict(dag_run.conf or {})}

    e = extract()
    s = transform(e["rows"], e["region"])
    done = load(s)
    report = PythonOperator(
        task_id="report",
        python_callable=_report,
        op_kwargs={"run_tag": "{{ params.region }}-{{ ds_nodash }}", "limit": "{{ params.limit }}"},
    )
    done >> report


etl_context()

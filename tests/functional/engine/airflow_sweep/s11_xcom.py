from __future__ import annotations

import pendulum
from airflow.sdk import dag, task, get_current_context
from airflow.providers.standard.operators.python import PythonOperator


def templ(value, ids, **kwargs):
    return {"value": value, "ids": ids}


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), render_template_as_native_obj=False)
def s11_xcom():
    @task
    def numbers():
        ti = get_current_context()["ti"]
        ti.xcom_push(key="meta", value={"source": "api", "n": 3})
        return [1, 2, 3]

    @task
    def mapped(x: int, **context):
        context["ti"].xcom_push(key="sq", value=x * x)
        return x + 100

    @task(multiple_outputs=True)
    def split():
        return {"left": [1, 2], "right": "r"}

    @task
    def gather(vals, left, right, ti=None):
        return {
            "vals": list(vals),
            "sq": list(ti.xcom_pull(task_ids="mapped", key="sq")),
            "one": ti.xcom_pull(task_ids="mapped", map_indexes=1),
            "meta": ti.xcom_pull(task_ids="numbers", key="meta"),
            "left": left,
            "right": right,
            "missing": ti.xcom_pull(task_ids="numbers", key="nope", default="dflt"),
            "split_left": ti.xcom_pull(task_ids="split", key="left"),
        }

    n = numbers()
    m = mapped.expand(x=n)
    sp = split()
    g = gather(m, sp["left"], sp["right"])
    t = PythonOperator(
        task_id="templated",
        python_callable=templ,
        op_kwargs={"value": "{{ ti.xcom_pull(task_ids='numbers', key='meta')['source'] }}",
                   "ids": "{{ task.task_id }}/{{ dag.dag_id }}/{{ run_id is not none }}"},
    )
    g >> t


s11_xcom()

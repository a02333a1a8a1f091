from __future__ import annotations

import pendulum
from airflow.sdk import dag, task, Param
from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.python import PythonOperator


def show(a, b, templates_dict=None, **kwargs):
    return {"a": a, "b": b, "td": templates_dict}


@dag(schedule="@daily", start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False,
     params={"who": Param("world", type="string")}, user_defined_macros={"env_name": "prod"})
def s13_templates():
    @task
    def first():
        return "v1"

    @task
    def taskflow_literal(when: str, who: str, prev: str):
        return {"when": when, "who": who, "prev": prev}

    bash = BashOperator(
        task_id="bash",
        bash_command="echo $GREETING {{ ts_nodash }} {{ data_interval_end | ds }} {{ env_name }}",
        env={"GREETING": "hi-{{ params.who }}-{{ dag_run.conf.get('extra', 'none') }}"},
    )
    py = PythonOperator(
        task_id="py",
        python_callable=show,
        op_args=["{{ ds }}", "{{ ti.xcom_pull(task_ids='first') }}"],
        templates_dict={"y": "{{ macros.ds_add(ds, -1) }}", "try": "{{ task_instance.try_number }}",
                        "dflt": "{{ var.value.get('sweep_missing', 'dflt') }}"},
    )
    f = first()
    f >> [bash, py]
    f >> taskflow_literal("{{ ds }}", "{{ params.who }}", "{{ macros.ds_add(ds, -1) }}")


s13_templates()

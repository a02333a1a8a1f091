from __future__ import annotations

from datetime import datetime, timedelta

from airflow import DAG
from airflow.models.baseoperator import chain, cross_downstream
from airflow.operators.empty import EmptyOperator
from airflow.operators.python import BranchPythonOperator, PythonOperator


def push(ti, **kwargs):
    ti.xcom_push(key="batch", value={"id": 7})
    return "pushed"


def consume(prefix, batch_id, **kwargs):
    return f"{prefix}:{batch_id}"


def pick(**kwargs):
    return "left"


def pull_many(ti, **kwargs):
    return ti.xcom_pull(task_ids=["producer", "consumer"])


with DAG(
    dag_id="s05_classic",
    start_date=datetime(2026, 1, 1),
    schedule="30 2 * * *",
    catchup=False,
    default_args={"owner": "data", "retries": 0, "retry_delay": timedelta(minutes=1)},
    params={"prefix": "p"},
) as dag:
    start = EmptyOperator(task_id="start")
    producer = PythonOperator(task_id="producer", python_callable=push)
    consumer = PythonOperator(
        task_id="consumer",
        python_callable=consume,
        op_kwargs={"prefix": "{{ params.prefix }}",
                   "batch_id": "{{ ti.xcom_pull(task_ids='producer', key='batch')['id'] }}"},
    )
    branch = BranchPythonOperator(task_id="branch", python_callable=pick)
    left = EmptyOperator(task_id="left")
    right = EmptyOperator(task_id="right")
    a1 = EmptyOperator(task_id="a1")
    a2 = EmptyOperator(task_id="a2")
    b1 = EmptyOperator(task_id="b1", trigger_rule="none_failed")
    b2 = EmptyOperator(task_id="b2", trigger_rule="all_success")
    many = PythonOperator(task_id="many", python_callable=pull_many)

    chain(start, producer, consumer, branch, [left, right])
    cross_downstream([left, right], [a1, a2])
    chain([a1, a2], [b1, b2])
    consumer >> many

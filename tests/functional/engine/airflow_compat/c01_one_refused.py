"""One DAG uses what Stratus does not serve (a provider's operator, @task.virtualenv); the other two run."""
from __future__ import annotations

import pendulum
from airflow.providers.amazon.aws.operators.s3 import S3CreateObjectOperator
from airflow.sdk import DAG, dag, task

START = pendulum.datetime(2026, 1, 1, tz="UTC")


@dag(schedule=None, start_date=START, catchup=False)
def c01_first():
    @task
    def extract():
        return [1, 2, 3]

    @task
    def total(rows):
        return sum(rows)

    total(extract())


@dag(schedule=None, start_date=START, catchup=False)
def c01_refused():
    @task
    def prepare():
        return "payload"

    put = S3CreateObjectOperator(task_id="put", s3_bucket="lake", s3_key="x.txt", data="{{ ti.xcom_pull('prepare') }}")

    @task.virtualenv(requirements=["pandas==2.2.0"])
    def crunch():
        import pandas  # noqa: F401

    prepare() >> put >> crunch()


with DAG("c01_second", schedule=None, start_date=START, catchup=False):
    @task
    def hello():
        return "hello"

    @task
    def shout(word):
        return word.upper()

    shout(hello())

c01_first()
c01_refused()

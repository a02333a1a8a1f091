from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task
from airflow.providers.standard.operators.bash import BashOperator


@dag(schedule=None, start_date=datetime(2026, 1, 1))
def s22_map():
    @task
    def files():
        return ["a.csv", "b.txt", "c.csv"]

    @task
    def show(name: str, suffix: str = "") -> str:
        return name + suffix

    @task
    def lengths(values):
        return list(values)

    upper = files().map(lambda f: f.upper())
    show.partial(suffix="!").expand(name=upper.map(lambda f: f.replace(".", "_")))
    lengths(files().map(len))
    BashOperator.partial(task_id="echo").expand(bash_command=files().map(lambda f: f"echo {f}"))


s22_map()

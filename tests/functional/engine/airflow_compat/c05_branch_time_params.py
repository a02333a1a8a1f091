"""BranchDateTimeOperator, BranchDayOfWeekOperator with WeekDay, and task-level params."""
from __future__ import annotations

import datetime

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.datetime import BranchDateTimeOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.weekday import BranchDayOfWeekOperator
from airflow.providers.standard.utils.weekday import WeekDay
from airflow.sdk import Param, dag, task

START = pendulum.datetime(2026, 1, 1, tz="UTC")


@dag(schedule=None, start_date=START, catchup=False)
def c05_branch_time():
    in_window = BranchDateTimeOperator(
        task_id="in_window", follow_task_ids_if_true=["early"], follow_task_ids_if_false=["later"],
        target_lower=datetime.time(0, 0), target_upper=datetime.time(6, 0), use_task_logical_date=True)
    in_window >> [EmptyOperator(task_id="early"), EmptyOperator(task_id="later")]

    weekday = BranchDayOfWeekOperator(
        task_id="weekday", follow_task_ids_if_true="midweek", follow_task_ids_if_false="other_day",
        week_day={WeekDay.WEDNESDAY, "Thursday"}, use_task_logical_date=True)
    weekday >> [EmptyOperator(task_id="midweek"), EmptyOperator(task_id="other_day")]


@dag(schedule=None, start_date=START, catchup=False, params={"region": "eu", "limit": 5})
def c05_task_params():
    @task(params={"limit": Param(10, type="integer", maximum=20), "mode": "fast"})
    def own(params=None):
        return dict(params)

    @task
    def dag_only(params=None):
        return dict(params)

    templated = BashOperator(task_id="templated", bash_command="echo {{ params.mode }}-{{ params.limit }}",
                             params={"mode": "slow"})

    own() >> dag_only() >> templated


c05_branch_time()
c05_task_params()

"""Provider-style imports, an example-style asset URI, a Param with int and None keys, Bash and branch XComs."""
from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import Context, TriggerRule, timezone
from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import Asset, Param, dag, task

START = pendulum.datetime(2026, 1, 1, tz="UTC")
produced = Asset("s3://consuming_1_task/dataset_consumes_1.txt")


@dag(schedule=None, start_date=START, catchup=False,
     params={"choice": Param(1, type=["null", "integer"], enum=[1, 2, None],
                             values_display={1: "One", 2: "Two", None: "Nothing"})})
def c02_small_names():
    @task(outlets=[produced])
    def produce(**context: Context):
        return {"choice": context["params"]["choice"], "utc": timezone.utcnow().tzinfo is not None}

    quiet = BashOperator(task_id="quiet", bash_command="true")
    loud = BashOperator(task_id="loud", bash_command="echo first; echo last")

    @task.branch
    def pick(params=None):
        return "left" if params["choice"] == 1 else ["left", "right"]

    left = EmptyOperator(task_id="left")
    right = EmptyOperator(task_id="right")
    join = EmptyOperator(task_id="join", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)

    produce() >> [quiet, loud] >> pick() >> [left, right] >> join


@dag(schedule=[produced], start_date=START, catchup=False)
def c02_consumer():
    @task
    def consume(triggering_asset_events=None):
        return [e.source_task_id for e in triggering_asset_events[produced]]

    consume()


c02_small_names()
c02_consumer()

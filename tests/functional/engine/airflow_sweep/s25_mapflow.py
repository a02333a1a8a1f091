from datetime import datetime
from airflow.sdk import dag, task, TaskGroup
from airflow.exceptions import AirflowSkipException
from airflow.utils.trigger_rule import TriggerRule


@dag(schedule=None, start_date=datetime(2026, 1, 1))
def s25_mapflow():
    with TaskGroup("g"):
        @task.branch
        def pick():
            return "g.a"

        @task
        def a():
            return [1, 2]

        @task
        def b():
            return [3]

        p = pick()
        av, bv = a(), b()
        p >> [av, bv]

    @task
    def dbl(x):
        return x * 2

    @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    def red(v):
        return list(v)

    red(dbl.expand(x=av))
    skipped_map = dbl.override(task_id="dbl_b").expand(x=bv)
    red.override(task_id="red_b")(skipped_map)

    @task
    def part(x):
        if x == 2:
            raise AirflowSkipException()
        return x

    red.override(task_id="red_part")(part.expand(x=[1, 2, 3]))

    @task
    def boom():
        raise ValueError("x")

    @task
    def after(x):
        return x

    bm = boom()
    m = after.expand(x=bm)
    red.override(task_id="red_fail", trigger_rule="all_done")(m)


s25_mapflow()

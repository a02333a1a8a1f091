"""Mapped task groups, written as an Airflow 3 user writes them.

Expected states: tests/e2e/test_mapped_groups.py (checked with Airflow 3.3.2's dag.test()).
"""

from __future__ import annotations

import pendulum

from airflow.sdk import dag, get_current_context, task, task_group
from airflow.sdk.bases.operator import BaseOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.bash import BashOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")


@dag(schedule=None, start_date=START, catchup=False)
def mg_basic():
    """Airflow's documented example: each index runs double then plus_one; the sum sees all."""

    @task
    def double(x):
        return 2 * x

    @task
    def plus_one(y):
        return y + 1

    @task
    def total(values):
        if sorted(values) != [3, 5, 7]:
            raise ValueError(f"got {values}")
        return sum(values)

    @task_group
    def tg(x):
        return plus_one(double(x))

    total(tg.expand(x=[1, 2, 3]))


mg_basic()


@dag(schedule=None, start_date=START, catchup=False)
def mg_fail_index():
    """double[1] fails: plus_one[1] is upstream_failed, the others run; total waits and fails upstream."""

    @task
    def double(x):
        if x == 2:
            raise ValueError("two is not allowed")
        return 2 * x

    @task
    def plus_one(y):
        return y + 1

    @task(trigger_rule="all_done")
    def cleanup(y):
        return y

    @task
    def total(values):
        return sum(values)

    @task_group
    def tg(x):
        d = double(x)
        p = plus_one(d)
        c = cleanup(d)
        p >> c
        return p

    total(tg.expand(x=[1, 2, 3]))


mg_fail_index()


@dag(schedule=None, start_date=START, catchup=False)
def mg_upstream_list():
    """The group maps over an upstream task's list, with a partial argument and an operator inside."""

    @task
    def make_files():
        return ["a.csv", "b.csv"]

    @task
    def load(name, prefix):
        return f"{prefix}/{name}"

    @task
    def check(path, name):
        assert path.endswith(name), (path, name)
        return len(path)

    @task_group
    def per_file(name, prefix):
        done = EmptyOperator(task_id="done")
        echo = BashOperator(task_id="echo", bash_command="echo {{ ti.map_index }}")
        path = load(name, prefix)
        check(path, name) >> echo >> done

    start = EmptyOperator(task_id="start")
    end = EmptyOperator(task_id="end")
    start >> per_file.partial(prefix="s3://b").expand(name=make_files()) >> end


mg_upstream_list()


@dag(schedule=None, start_date=START, catchup=False)
def mg_expand_kwargs():
    @task
    def add(a, b):
        return a + b

    @task
    def square(v):
        return v * v

    @task_group
    def calc(a, b):
        return square(add(a, b))

    @task
    def collect(values):
        assert list(values) == [9, 49], values

    collect(calc.expand_kwargs([{"a": 1, "b": 2}, {"a": 3, "b": 4}]))


mg_expand_kwargs()


@dag(schedule=None, start_date=START, catchup=False)
def mg_empty():
    """A group mapped over nothing: every task in it is skipped, and so is what follows."""

    @task
    def nothing():
        return []

    @task
    def one(x):
        return x

    @task
    def two(x):
        return x

    @task
    def after(values):
        return values

    @task_group
    def g(x):
        return two(one(x))

    after(g.expand(x=nothing()))


mg_empty()



@dag(schedule=None, start_date=START, catchup=False)
def mg_pull():
    """An argument is the same index's value, an explicit xcom_pull every instance's; an operator
    inside the group; the group maps over an output's .map()."""

    @task
    def nums():
        return [1, 2, 3]

    @task
    def first(n):
        return n * 100

    @task
    def second(v):
        ti = get_current_context()["ti"]
        # Every instance's value that exists by now: each index of a mapped group goes on as its own
        # upstream finishes, so other indexes' `first` may still be running (Airflow's too, bar
        # dag.test()'s one-at-a-time order): this index's own value is always among them.
        every = [x for x in ti.xcom_pull(task_ids="grp.first") if x is not None]
        mine = ti.xcom_pull(task_ids="grp.first", map_indexes=ti.map_index)
        if v not in every or not set(every) <= {100, 200, 300} or mine != v or v != (ti.map_index + 1) * 100:
            raise ValueError(f"pulled {every!r}, {mine!r}, got {v!r}")
        return v

    @task(trigger_rule="all_done")
    def tidy():
        return "tidy"

    @task_group
    def grp(n):
        s = second(first(n))
        echo = BashOperator(task_id="echo", bash_command="echo value {{ ti.map_index }}")
        s >> echo >> tidy()
        return s

    @task
    def summary(values):
        assert sorted(values) == [100, 200, 300], values

    summary(grp.expand(n=nums().map(lambda v: v)))


mg_pull()


@dag(schedule=None, start_date=START, catchup=False)
def mg_fast_rules():
    """Fast trigger rules in a mapped group: decided over every instance first (Airflow 3.3)."""

    @task
    def work(x):
        if x == 2:
            raise ValueError("two")
        return x

    @task(trigger_rule="one_failed")
    def alarm():
        return "alarm"

    @task(trigger_rule="none_failed_min_one_success")
    def join():
        return "join"

    @task(trigger_rule="one_success")
    def any_ok():
        return "ok"

    @task_group
    def g(x):
        work(x) >> [alarm(), join(), any_ok()]

    g.expand(x=[1, 2, 3])

    @task_group
    def calm(x):
        work.override(task_id="fine")(x) >> alarm.override(task_id="quiet")()

    calm.expand(x=[1, 3])


mg_fast_rules()


@dag(schedule=None, start_date=START, catchup=False)
def mg_fast_runtime():
    """The same rules in groups sized at run time: decided over every instance first (one instance
    at map index -1 when that says skipped or upstream_failed)."""
    @task
    def nums():
        return [1, 2, 3]

    @task
    def work(x):
        if x == 2:
            raise ValueError("two")
        return x

    @task
    def plus_one(y):
        return y + 1

    @task(trigger_rule="one_failed")
    def alarm():
        return "alarm"

    @task(trigger_rule="none_failed_min_one_success")
    def join():
        return "join"

    @task(trigger_rule="one_success")
    def any_ok():
        return "ok"

    @task_group
    def g(x):
        w = work(x)
        plus_one(w)
        w >> [alarm(), join(), any_ok()]

    g.expand(x=nums())

    @task
    def odd():
        return [1, 3]

    @task_group
    def calm(x):
        work.override(task_id="fine")(x) >> alarm.override(task_id="quiet")()

    calm.expand(x=odd())


mg_fast_runtime()

"""XComArg.zip and XComArg.concat, written as an Airflow 3 user writes them.

Expected states: tests/e2e/test_mapped_groups.py (checked with Airflow 3.3.2's dag.test()).
"""

from __future__ import annotations

import pendulum

from airflow.sdk import dag, task

START = pendulum.datetime(2026, 1, 1, tz="UTC")


@dag(schedule=None, start_date=START, catchup=False)
def xz_zip():
    @task
    def letters():
        return ["a", "b", "c"]

    @task
    def numbers():
        return [1, 2]

    @task
    def pair(item):
        letter, number = item
        return f"{letter}{number}"

    @task
    def joined(values):
        assert list(values) == ["a1", "b2"], values

    @task
    def longest(item):
        return f"{item[0]}{item[1]}"

    @task
    def check_longest(values):
        assert list(values) == ["a1", "b2", "c0"], values

    @task
    def whole(pairs):
        assert [tuple(p) for p in pairs] == [("a", 1), ("b", 2)], pairs

    l, n = letters(), numbers()
    joined(pair.expand(item=l.zip(n)))
    check_longest(longest.expand(item=l.zip(n, fillvalue=0)))
    whole(l.zip(n))


xz_zip()


@dag(schedule=None, start_date=START, catchup=False)
def xz_concat():
    @task
    def first():
        return [1, 2]

    @task
    def second():
        return [3]

    @task
    def more(x):
        return x * 10

    @task
    def show(v):
        return v

    @task
    def check(values):
        assert list(values) == [1, 2, 3, 10, 20], values

    @task
    def check_mapped(values):
        assert list(values) == ["1!", "2!", "3!"], values

    f = first()
    tens = more.expand(x=f)
    check(show.expand(v=f.concat(second(), tens)))
    check_mapped(show.override(task_id="bang").expand(v=f.concat(second()).map(lambda v: f"{v}!")))


xz_concat()

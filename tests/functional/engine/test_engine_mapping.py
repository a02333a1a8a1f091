from __future__ import annotations

import pytest


def test_map_zero_items_skips_the_mapped_task_as_one_instance(h):
    h.write("m0", """
    @dag(schedule=None, start_date=datetime(2026, 1, 1))
    def m0():
        @task
        def items():
            return []
        @task
        def work(x):
            return x
        @task
        def total(xs):
            return sum(xs)
        total(work.expand(x=items()))
    m0()
    """)
    run = h.run("m0")
    assert h.states("m0", run["run_id"]) == {"items": "success", "work": "skipped", "total": "skipped"}
    assert run["state"] == "success"


def test_map_one_item_and_literal_cross_product(h):
    h.write("m1", """
    @dag(schedule=None, start_date=datetime(2026, 1, 1))
    def m1():
        @task
        def one():
            return [10]
        @task
        def add(x, y):
            return x + y
        @task
        def pair(a, b):
            return f"{a}{b}"
        @task
        def collect(xs, ps):
            return {"xs": xs, "ps": ps}
        collect(add.partial(y=1).expand(x=one()), pair.expand(a=["x", "y"], b=[1, 2, 3]))
    m1()
    """)
    run = h.run("m1")
    out = h.store.get_xcom("m1", run["run_id"], "collect")
    assert out["xs"] == [11]
    # Cross product in map-index order: the last argument varies fastest.
    assert sorted(out["ps"]) == sorted(["x1", "x2", "x3", "y1", "y2", "y3"]) and len(out["ps"]) == 6
    assert run["state"] == "success" and run["map_count#pair"] == 6


def test_map_over_map_and_reducer_order_and_expand_kwargs(h):
    h.write("mm", """
    @dag(schedule=None, start_date=datetime(2026, 1, 1))
    def mm():
        @task
        def nums():
            return [3, 1, 2]
        @task
        def square(x):
            return x * x
        @task
        def plus_one(y):
            return y + 1
        @task
        def kw():
            return [{"a": 1, "b": 2}, {"a": 5, "b": 5}]
        @task
        def mul(a, b):
            return a * b
        @task
        def reduce(values, products):
            return {"values": values, "products": products}
        reduce(plus_one.expand(y=square.expand(x=nums())), mul.expand_kwargs(kw()))
    mm()
    """)
    run = h.run("mm")
    assert h.store.get_xcom("mm", run["run_id"], "reduce") == {"values": [10, 2, 5], "products": [2, 25]}
    assert run["state"] == "success"


def test_mapped_instance_failure_fails_downstream(h):
    h.write("mf", """
    @dag(schedule=None, start_date=datetime(2026, 1, 1))
    def mf():
        @task
        def work(x):
            if x == 2:
                raise ValueError("two")
            return x
        @task
        def total(xs):
            return sum(xs)
        total(work.expand(x=[1, 2, 3]))
    mf()
    """)
    run = h.run("mf")
    st = h.states("mf", run["run_id"])
    assert st == {"work[0]": "success", "work[1]": "failed", "work[2]": "success", "total": "upstream_failed"}
    assert run["state"] == "failed"


def test_mapping_over_a_non_list_fails_the_mapped_task(h):
    h.write("mbad", """
    @dag(schedule=None, start_date=datetime(2026, 1, 1))
    def mbad():
        @task
        def items():
            return 5
        @task
        def work(x):
            return x
        work.expand(x=items())
    mbad()
    """)
    run = h.run("mbad")
    ti = h.store.get_ti("mbad", run["run_id"], "work")
    assert ti["state"] == "failed" and "maps over the output of 'items', which is int" in ti["note"]
    assert run["state"] == "failed"


def test_max_active_tasks_limits_concurrency_and_drains(h):
    h.write("mat", """
    @dag(schedule=None, start_date=datetime(2026, 1, 1), max_active_tasks=3)
    def mat():
        @task
        def work(x):
            return x
        @task
        def total(xs):
            return sum(xs)
        total(work.expand(x=list(range(10))))
    mat()
    """)
    run = h.start("mat")
    assert len(h.dispatcher.tasks) == 3  # 7 instances wait in the 3 lanes, not created yet
    states = h.states("mat", run["run_id"])
    assert sorted(states) == ["work[0]", "work[1]", "work[2]"]
    peak = 0
    while h.dispatcher.tasks:
        h.engine.handle_task(h.dispatcher.tasks.popleft())
        active = [v for v in h.states("mat", run["run_id"]).values() if v in ("queued", "running")]
        peak = max(peak, len(active))
    run = h.store.get_run("mat", run["run_id"])
    assert peak == 3
    assert run["state"] == "success" and h.store.get_xcom("mat", run["run_id"], "total") == 45
    assert run["active_tasks"] == 0 and run.get("sched_waiting", 0) == 0


def test_one_success_below_a_mapped_task_fires_at_the_first_success(h):
    h.write("early", """
    @dag(schedule=None, start_date=datetime(2026, 1, 1))
    def early():
        @task
        def work(x):
            if x == 2:
                raise ValueError("two")
            return x
        @task(trigger_rule="one_success")
        def first_done():
            return "go"
        work.expand(x=[1, 2, 3]) >> first_done()
    early()
    """)
    run = h.run("early")
    st = h.states("early", run["run_id"])
    assert st == {"work[0]": "success", "work[1]": "failed", "work[2]": "success", "first_done": "success"}
    fd = h.store.get_ti("early", run["run_id"], "first_done")
    last = h.store.get_ti("early", run["run_id"], "work", 2)
    assert fd["queued_at"] < last["end_date"]  # queued before the mapped task finished
    assert run["state"] == "success"  # the leaf first_done succeeded (work is not a leaf)

"""Mapped task groups in the engine (engine.groupmap): instance i of a follower is decided from
instance i of its upstreams in the group, exactly once, whatever the order, duplication or
concurrency of the deliveries, and a decision lost with its worker is made by reconcile."""

from __future__ import annotations

import random
import threading
from collections import deque

import pytest

from chaos.world import moto_serialised
from orchestrator.engine import groupmap

GROUP = """
from orchestrator import task_group

@dag(schedule=None, start_date=datetime(2026, 1, 1), max_active_tasks=2)
def gm():
    @task
    def a(x):
        if x == 3:
            raise ValueError("three")
        return x
    @task
    def b(x):
        return x * 10
    @task
    def join(p, q):
        return p + q
    @task(trigger_rule="all_done")
    def after(v):
        return v
    @task
    def total(vs):
        return sorted(vs)
    @task_group
    def g(x):
        j = join(a(x), b(x))
        after(j)
        return j
    total(g.expand(x=list(range(8))))
gm()
"""

N = 8
EXPECTED = {
    **{f"g.a[{i}]": "failed" if i == 3 else "success" for i in range(N)},
    **{f"g.b[{i}]": "success" for i in range(N)},
    **{f"g.join[{i}]": "upstream_failed" if i == 3 else "success" for i in range(N)},
    **{f"g.after[{i}]": "success" for i in range(N)},
    "total": "upstream_failed",
}


def _check(h, run_id):
    run = h.store.get_run("gm", run_id)
    assert h.states("gm", run_id) == EXPECTED
    assert run["state"] == "failed"  # total, a leaf, is upstream_failed
    for t in ("g.a", "g.b", "g.join", "g.after"):
        assert int(run[f"m#{t}#done"]) == N and int(run[f"map_count#{t}"]) == N
    assert int(run["tasks_done"]) == int(run["tasks_total"]) == 5
    assert int(run.get("active_tasks", 0)) == 0
    # Each instance ran (or was decided) once: no second try, no duplicate creation.
    for ti in h.store.list_tis("gm", run_id):
        assert int(ti.get("try_number", 0)) <= 1 or ti.get("history"), ti
    # Inside the group the same index, after it every index that has a value.
    assert [h.store.get_xcom("gm", run_id, "g.join", i) for i in (0, 5)] == [0, 55]
    assert h.store.get_xcom("gm", run_id, "g.after", 3) is None  # join[3] pushed nothing


def test_per_index_rules_in_order(h):
    h.write("gm", GROUP)
    run = h.run("gm")
    _check(h, run["run_id"])
    plan = h.plan("gm")
    assert [s.task_id for s in plan.steps if s.map_group == "g"] == ["g.a", "g.b", "g.join", "g.after"]
    assert not groupmap.is_follower(plan, plan.step("g.a")) and groupmap.is_follower(plan, plan.step("g.join"))


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_shuffled_and_duplicated_deliveries_give_the_same_run(h, seed):
    h.write("gm", GROUP)
    run = h.start("gm")
    rng = random.Random(seed)
    steps = 0
    while h.dispatcher.tasks:
        steps += 1
        assert steps < 10_000
        tasks = h.dispatcher.tasks
        tasks.rotate(-rng.randrange(len(tasks)))
        msg = tasks.popleft()
        h.engine.handle_task(msg)
        if rng.random() < 0.5:
            h.engine.handle_task(msg)  # at-least-once delivery
    _check(h, run["run_id"])


def test_concurrent_deliveries_from_several_threads(h):
    h.write("gm", GROUP)
    run = h.start("gm")
    lock = threading.Lock()
    errors: list[BaseException] = []
    queue: deque = h.dispatcher.tasks

    def worker():
        idle = 0
        while idle < 200:
            with lock:
                msg = queue.popleft() if queue else None
            if msg is None:
                idle += 1
                threading.Event().wait(0.005)
                continue
            idle = 0
            try:
                h.engine.handle_task(msg)
                h.engine.handle_task(msg)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    with moto_serialised():  # moto's backends are not thread-safe; the races between calls stay real
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors
    _check(h, run["run_id"])


def test_a_decision_lost_with_its_worker_is_made_by_reconcile(h, monkeypatch):
    h.write("gm", GROUP)
    run = h.start("gm")
    real, lost = groupmap.settle, []

    def flaky(engine, plan, run_, step, map_index, state):
        if step.task_id == "g.b" and map_index == 5 and not lost:
            lost.append(map_index)  # the worker died right after b[5]'s terminal write
            return
        real(engine, plan, run_, step, map_index, state)

    monkeypatch.setattr(groupmap, "settle", flaky)
    h.drain()
    assert lost == [5]
    stuck = h.store.get_run("gm", run["run_id"])
    assert stuck["state"] == "running" and "g.join[5]" not in h.states("gm", run["run_id"])
    monkeypatch.setattr(groupmap, "settle", real)
    h.engine.reconcile("gm", run["run_id"])
    h.drain()
    _check(h, run["run_id"])


def test_clearing_a_task_of_the_group_decides_its_instances_again_per_map_index(h):
    h.write("gm", GROUP)
    run = h.run("gm")
    rid = run["run_id"]
    cleared = h.engine.clear("gm", rid, ["g.join"], downstream=True)
    assert ("g.join", 5) in cleared and ("total", -1) in cleared
    h.drain()
    _check(h, rid)
    tis = {(t["task_id"], int(t["map_index"])): t for t in h.store.list_tis("gm", rid)}
    assert int(tis[("g.join", 5)]["try_number"]) == 2  # ran again
    assert tis[("g.join", 3)]["state"] == "upstream_failed"  # decided again from a[3], b[3]


def test_clearing_the_whole_group_runs_it_again(h):
    h.write("gm", GROUP)
    run = h.run("gm")
    rid = run["run_id"]
    h.engine.clear("gm", rid, ["g.a", "g.b"], downstream=True)
    h.drain()
    assert h.states("gm", rid) == EXPECTED
    assert h.store.get_run("gm", rid)["state"] == "failed"


FAST = """
from orchestrator import task_group

@dag(schedule=None, start_date=datetime(2026, 1, 1), max_active_tasks=2)
def gf():
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
    @task
    def after_alarm():
        return 1
    @task
    def items(n):
        return list(range(1, n + 1))
    @task_group
    def g(x):
        w = work(x)
        w >> [join(), any_ok()]
        w >> alarm() >> after_alarm()
    g.expand(x=items(5))  # sized at run time: Airflow decides the fast rules over every instance first
    @task_group
    def calm(x):
        work.override(task_id="fine")(x) >> alarm.override(task_id="quiet")() >> after_alarm.override(task_id="next")()
    calm.expand(x=items.override(task_id="odd")(1))
gf()
"""

# Airflow 3.3's rule (TriggerRuleDep, "fast-triggered"): first decided over every upstream instance;
# ready -> per map index, else one instance (-1) in that state (tests/e2e/test_mapped_groups.py).
FAST_EXPECTED = {
    **{f"g.work[{i}]": "failed" if i == 1 else "success" for i in range(5)},
    **{f"g.alarm[{i}]": "success" if i == 1 else "skipped" for i in range(5)},
    **{f"g.after_alarm[{i}]": "success" if i == 1 else "skipped" for i in range(5)},
    "g.join": "upstream_failed",
    **{f"g.any_ok[{i}]": "upstream_failed" if i == 1 else "success" for i in range(5)},
    "items": "success", "odd": "success", "calm.fine[0]": "success", "calm.quiet": "skipped", "calm.next": "skipped",
}


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_fast_rules_are_decided_over_every_instance_first_whatever_the_order(h, seed):
    h.write("gf", FAST)
    run = h.start("gf")
    rng = random.Random(seed)
    while h.dispatcher.tasks:
        tasks = h.dispatcher.tasks
        tasks.rotate(-rng.randrange(len(tasks)))
        msg = tasks.popleft()
        h.engine.handle_task(msg)
        if rng.random() < 0.4:
            h.engine.handle_task(msg)
    final = h.store.get_run("gf", run["run_id"])
    assert h.states("gf", run["run_id"]) == FAST_EXPECTED
    assert final["state"] == "failed" and int(final["tasks_done"]) == int(final["tasks_total"])
    assert int(final.get("active_tasks", 0)) == 0

"""Costs by construction: AWS calls per task are a constant, independent of DAG width.

Each run's calls are counted with a botocore ``before-call`` hook on the clients the engine
uses. The per-task increment between two sizes must be the same as between two other sizes
(linear, no rescans), and the happy path makes exactly one worker invocation per task and no
conductor message.
"""

from __future__ import annotations

import pytest
from builders import mapped, step_chain

def _chain(n):
    return f"chain_{n}", step_chain(f"chain_{n}", n, task_id="s{i}", max_active_tasks=1000)


def _map(name, n, limit):
    return f"{name}_{n}", mapped(f"{name}_{n}", n, max_active_tasks=limit)


def _count(h, counter, built):
    dag_id, source = built
    h.write(dag_id, source)
    h.plan(dag_id)
    counter.reset()
    before = len(h.dispatcher.invoked)
    run = h.run(dag_id)
    assert run["state"] == "success", h.states(dag_id, run["run_id"])
    return counter.total, len(h.dispatcher.invoked) - before, run


def test_calls_per_task_on_a_chain_are_constant(h, counter):
    totals = {n: _count(h, counter, _chain(n)) for n in (3, 6, 12)}
    for n, (_, invokes, _) in totals.items():
        assert invokes == n  # one worker invocation per task
    per_task = (totals[6][0] - totals[3][0]) / 3
    assert per_task == (totals[12][0] - totals[6][0]) / 6
    # claim (UpdateItem), then one TransactWriteItems: the terminal write and the next task queued
    # (the run item's counters join it every CARRY_LIMIT tasks); the run comes in the message.
    assert per_task == 2, counter.by_operation()
    assert not h.dispatcher.retry_delays  # no conductor work on the happy path


@pytest.mark.slow
def test_calls_per_mapped_instance_are_constant_up_to_1000(h, counter):
    t10, inv10, _ = _count(h, counter, _map("map", 10, 1000))
    t20, inv20, _ = _count(h, counter, _map("map", 20, 1000))
    t1000, inv1000, run = _count(h, counter, _map("map", 1000, 1000))
    assert (inv10, inv20, inv1000) == (12, 22, 1002)
    # One call that is not per instance: `total` got 1,000 values (about 5 KB of JSON), so its
    # try's rendered template fields (op_args, cut to 4,096 characters) are above the item's
    # 4 KB inline bound and go to S3 (orchestrator.store.rendered). With 10 or 20 they stay inline.
    assert counter.by_operation().get("s3:PutObject") == 1, counter.by_operation()
    per_instance = (t20 - t10) / 10
    assert per_instance == (t1000 - 1 - t20) / 980, (t10, t20, t1000)
    # slot transaction at queueing, claim, terminal transaction and the GetItem that checks m#done
    # after it (the run comes in the message; the list it maps over is read once per process)
    assert per_instance == 4, counter.by_operation()
    assert h.store.get_xcom("map_1000", run["run_id"], "total") == [1000, 999000]
    assert not h.dispatcher.retry_delays


def test_calls_per_mapped_instance_in_lanes_are_two(h, counter):
    # max_active_tasks=2: two lanes. Only the lane ends cost more, and there are two at any size.
    t40, inv40, _ = _count(h, counter, _map("lanes", 40, 2))
    t80, inv80, run = _count(h, counter, _map("lanes", 80, 2))
    assert (inv40, inv80) == (42, 82)
    # claim, and the transaction that ends the instance and queues the next of its lane (the
    # lane's counts join it every tenth instance). Nothing is parked or promoted, and the list it
    # maps over was read once, by the first instance this process ran.
    assert (t80 - t40) / 40 == 2, counter.by_operation()
    assert h.store.get_xcom("lanes_80", run["run_id"], "total") == [80, 6320]
    assert run["m#work#done"] == 80 and run["m#work#success"] == 80
    assert not h.dispatcher.retry_delays

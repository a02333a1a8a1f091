"""Chunked, resumable expansion of big maps (engine.expansion), on moto with the queueing harness.

``STRATUS_EXPAND_CHUNK=20`` makes a 70-way map take four chunks: the completer of ``make``
creates the first, the conductor (expand messages) the rest; the sweeper resumes a relay
whose message was lost or whose executor died mid-chunk.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from orchestrator.engine import expansion
from orchestrator.engine.messages import ExpandMessage
from orchestrator.store import Update
from orchestrator.store import dynamo
from builders import mapped

# Two more root tasks that hold run slots while `make` finishes.
HOLDERS = """
    @task
    def hold_a():
        return 1
    @task
    def hold_b():
        return 2
    hold_a()
    hold_b()"""


CHUNK, N = 20, 70


class Killed(Exception):
    """Stands for the runtime being killed (timeout) in the middle of an invocation."""


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setenv("STRATUS_EXPAND_CHUNK", str(CHUNK))


def _write(h, dag_id: str, n: int = N, limit: int = 1000, more: str = "") -> None:
    h.write(dag_id, mapped(dag_id, n, items_task="make", items='[f"v{{i}}" for i in range({n})]', work="x.upper()",
                           total="xs", more=more, max_active_tasks=limit))


def _later(seconds: int = expansion.GRACE_S + 1) -> datetime:
    return datetime.now(timezone.utc) + timedelta(seconds=seconds)


def _expected(n: int = N) -> list[str]:
    return [f"V{i}" for i in range(n)]


def _kill_queue_at(h, index: int):
    """Make Engine.queue die once when it reaches ``work[index]`` (the invocation is killed)."""
    real = h.engine.queue
    fired = []

    def queue(plan, run_id, step, map_index, **kwargs):
        if step.task_id == "work" and map_index == index and not fired:
            fired.append(index)
            raise Killed(f"killed while queueing work[{index}]")
        return real(plan, run_id, step, map_index, **kwargs)

    h.engine.queue = queue
    return fired


def test_a_map_bigger_than_a_chunk_is_created_by_a_relay_and_reduced_in_order(h):
    _write(h, "relay")
    run = h.run("relay")
    assert run["state"] == "success", h.states("relay", run["run_id"])
    assert h.store.get_xcom("relay", run["run_id"], "total") == _expected()
    assert [m.start for m in h.dispatcher.expand_sent] == [20, 40, 60]
    assert run["map_count#work"] == N and run["map_queued#work"] == N
    work = [m for m in h.dispatcher.invoked if m.task_id == "work"]
    assert sorted(m.map_index for m in work) == list(range(N))  # each instance invoked once


def test_a_map_of_one_chunk_sends_no_expand_message(h):
    _write(h, "one_chunk", n=CHUNK)
    run = h.run("one_chunk")
    assert run["state"] == "success" and run["map_queued#work"] == CHUNK
    assert h.dispatcher.expand_sent == []


def test_duplicate_expand_and_task_deliveries_create_each_instance_once(h):
    _write(h, "dupes")
    run = h.run("dupes", duplicate=True)
    assert run["state"] == "success"
    assert h.store.get_xcom("dupes", run["run_id"], "total") == _expected()
    # Each chunk's second executor finds the marker moved and passes nothing on.
    assert [m.start for m in h.dispatcher.expand_sent] == [20, 40, 60]
    work = [m for m in h.dispatcher.invoked if m.task_id == "work"]
    assert sorted(m.map_index for m in work) == list(range(N))
    assert {int(t["try_number"]) for t in h.store.list_tis("dupes", run["run_id"], "work")} == {1}


def test_a_stale_or_replayed_expand_message_is_a_noop(h):
    _write(h, "stale")
    run = h.run("stale")
    replay = ExpandMessage(dag_id="stale", run_id=run["run_id"], task_id="work",
                           plan_hash=run["plan_hash"], start=40)
    before = len(h.dispatcher.invoked)
    assert h.conductor.handle(replay) == {"expand": "noop"}
    assert len(h.dispatcher.invoked) == before


def test_lost_expand_message_is_resumed_by_the_sweeper_after_the_grace_period(h):
    _write(h, "lost")
    run = h.start("lost")
    # Run the worker path only: the first chunk is created and its hand-on is lost.
    while h.dispatcher.tasks:
        h.engine.handle_task(h.dispatcher.tasks.popleft())
    assert [m.start for m in h.dispatcher.expansions] == [CHUNK]
    h.dispatcher.expansions.clear()
    h.drain()
    stuck = h.store.get_run("lost", run["run_id"])
    assert stuck["state"] == "running" and stuck["map_queued#work"] == CHUNK
    assert len(h.store.list_tis("lost", run["run_id"], "work")) == CHUNK

    assert h.conductor.sweep()["expansions_resumed"] == 0  # within the grace period: maybe in flight
    stats = h.conductor.sweep(now=_later())
    assert stats["expansions_resumed"] == 1 and stats["reconciled"] == 0
    assert h.conductor.sweep(now=_later())["expansions_resumed"] == 0  # resent once per stall
    h.drain()
    run = h.store.get_run("lost", run["run_id"])
    assert run["state"] == "success"
    assert h.store.get_xcom("lost", run["run_id"], "total") == _expected()


def test_a_conductor_killed_mid_chunk_is_resumed_by_the_sweeper(h):
    _write(h, "midchunk")
    run = h.start("midchunk")
    fired = _kill_queue_at(h, 50)
    with pytest.raises(Killed, match=r"work\[50\]"):
        h.drain()
    assert fired == [50]
    stuck = h.store.get_run("midchunk", run["run_id"])
    assert stuck["map_queued#work"] == 40  # the marker only moves after a whole chunk
    assert len(h.store.list_tis("midchunk", run["run_id"], "work")) == 50
    h.drain()  # the instances created so far run; nothing moves the relay
    assert h.store.get_run("midchunk", run["run_id"])["state"] == "running"

    assert h.conductor.sweep(now=_later())["expansions_resumed"] == 1
    h.drain()
    run = h.store.get_run("midchunk", run["run_id"])
    assert run["state"] == "success"
    assert h.store.get_xcom("midchunk", run["run_id"], "total") == _expected()
    work = [m for m in h.dispatcher.invoked if m.task_id == "work"]
    assert sorted(m.map_index for m in work) == list(range(N))  # 40..49 were not invoked again


def test_a_worker_killed_in_the_first_chunk_is_resumed_by_the_sweeper(h):
    _write(h, "firstchunk")
    run = h.start("firstchunk")
    _kill_queue_at(h, 10)
    with pytest.raises(Killed):
        h.drain()
    stuck = h.store.get_run("firstchunk", run["run_id"])
    assert stuck["map_count#work"] == N and stuck["map_queued#work"] == 0
    h.drain()
    assert h.conductor.sweep(now=_later())["expansions_resumed"] == 1
    h.drain()
    run = h.store.get_run("firstchunk", run["run_id"])
    assert run["state"] == "success"
    assert h.store.get_xcom("firstchunk", run["run_id"], "total") == _expected()


def test_an_expand_record_with_little_time_left_creates_one_instance_and_passes_on(h):
    _write(h, "budget", n=CHUNK + 10)
    run = h.start("budget")
    while h.dispatcher.tasks:
        h.engine.handle_task(h.dispatcher.tasks.popleft())
    msg = h.dispatcher.expansions.popleft()
    assert msg.start == CHUNK
    record = {"messageId": "m1", "body": msg.model_dump_json()}
    out = h.conductor.handle_event({"Records": [record]}, remaining_ms=lambda: 1000)
    assert out == {"batchItemFailures": []}
    assert h.store.get_run("budget", run["run_id"])["map_queued#work"] == CHUNK + 1
    assert [m.start for m in h.dispatcher.expansions] == [CHUNK + 1]
    assert json.loads(h.dispatcher.expansions[0].model_dump_json())["kind"] == "expand"
    h.drain()
    run = h.store.get_run("budget", run["run_id"])
    assert run["state"] == "success" and h.store.get_xcom("budget", run["run_id"], "total") == _expected(CHUNK + 10)


def test_max_active_tasks_bounds_a_chunked_map(h):
    _write(h, "bounded", limit=3)
    run = h.start("bounded")
    peak = 0
    while h.dispatcher.tasks or h.dispatcher.expansions:
        if h.dispatcher.tasks:
            h.engine.handle_task(h.dispatcher.tasks.popleft())
        else:
            h.conductor.handle(h.dispatcher.expansions.popleft())
        active = int(h.store.get_run("bounded", run["run_id"]).get("active_tasks", 0) or 0)
        peak = max(peak, active)
        assert len(h.dispatcher.tasks) <= 3
    run = h.store.get_run("bounded", run["run_id"])
    assert run["state"] == "success" and peak == 3
    assert h.store.get_xcom("bounded", run["run_id"], "total") == _expected()
    assert run["active_tasks"] == 0 and run.get("sched_waiting", 0) == 0


def test_only_the_lane_heads_are_created_and_each_instance_creates_the_next_of_its_lane(h, counter):
    _write(h, "lanes", limit=3)
    run = h.start("lanes")
    counter.reset()
    h.engine.handle_task(h.dispatcher.tasks.popleft())  # make: finishes and creates the three lane heads
    ops = counter.by_operation()
    states = h.states("lanes", run["run_id"])
    assert sorted(k for k in states if k.startswith("work[")) == ["work[0]", "work[1]", "work[2]"]
    assert set(states[f"work[{i}]"] for i in range(3)) == {"queued"}
    # make's terminal write and three slot transactions; nothing is parked
    assert ops["dynamodb:TransactWriteItems"] == 4, ops
    msg = h.dispatcher.tasks.popleft()
    assert (msg.task_id, msg.map_index) == ("work", 0)
    h.engine.handle_task(msg)  # work[0] ends and queues work[3] in the same transaction
    assert h.states("lanes", run["run_id"])["work[3]"] == "queued"
    assert [(m.task_id, m.map_index) for m in h.dispatcher.tasks][-1] == ("work", 3)
    assert int(h.store.get_run("lanes", run["run_id"])["active_tasks"]) == 3  # the slot passed on
    h.drain()
    run = h.store.get_run("lanes", run["run_id"])
    assert run["state"] == "success" and h.store.get_xcom("lanes", run["run_id"], "total") == _expected()
    assert run["active_tasks"] == 0 and run.get("sched_waiting", 0) == 0
    assert run["m#work#done"] == N and run["m#work#success"] == N


def test_lane_heads_beyond_the_free_slots_are_parked_in_one_batch(h, counter):
    _write(h, "full", n=10, limit=4, more=HOLDERS)
    run = h.start("full")
    make = next(m for m in h.dispatcher.tasks if m.task_id == "make")
    h.dispatcher.tasks.remove(make)
    counter.reset()
    h.engine.handle_task(make)  # hold_a and hold_b hold two slots: two heads take the others, two are parked
    states = h.states("full", run["run_id"])
    heads = {k: v for k, v in states.items() if k.startswith("work[")}
    assert sorted(heads.values()) == ["queued", "queued", "scheduled", "scheduled"], heads
    assert counter.by_operation()["dynamodb:TransactWriteItems"] == 4  # terminal, two slots, one parking
    h.drain()
    run = h.store.get_run("full", run["run_id"])
    assert run["state"] == "success" and h.store.get_xcom("full", run["run_id"], "total") == _expected(10)
    assert run["active_tasks"] == 0 and run["sched_waiting"] == 0


def test_duplicate_deliveries_into_a_full_run_park_each_instance_once(h):
    _write(h, "dupes_full", limit=3)
    run = h.run("dupes_full", duplicate=True)
    assert run["state"] == "success"
    assert h.store.get_xcom("dupes_full", run["run_id"], "total") == _expected()
    assert {int(t["try_number"]) for t in h.store.list_tis("dupes_full", run["run_id"], "work")} == {1}
    assert run["active_tasks"] == 0 and run.get("sched_waiting", 0) == 0


def test_clear_of_a_chunked_map_expands_it_again(h):
    _write(h, "again", n=45)
    run = h.run("again")
    assert run["state"] == "success"
    cleared = h.engine.clear("again", run["run_id"], ["work"], downstream=True)
    assert len(cleared) == 46
    h.drain()
    run = h.store.get_run("again", run["run_id"])
    assert run["state"] == "success" and run["map_queued#work"] == 45
    assert h.store.get_xcom("again", run["run_id"], "total") == _expected(45)
    assert {int(t["try_number"]) for t in h.store.list_tis("again", run["run_id"], "work")} == {2}


@pytest.mark.parametrize("legacy", [False, True], ids=["marker", "no-marker"])
def test_reconcile_queues_an_instance_lost_below_the_marker(h, legacy):
    _write(h, "holes", n=CHUNK)
    run = h.start("holes")
    rid = run["run_id"]
    h.engine.handle_task(h.dispatcher.tasks.popleft())  # make: creates the 20 instances
    h.dispatcher.tasks.pop()  # work[19]'s message, and its item: lost
    h.clients.client("dynamodb").delete_item(TableName=h.resources.table, Key={
        "pk": {"S": dynamo.run_pk("holes", rid)}, "sk": {"S": dynamo.ti_sk("work", CHUNK - 1)}})
    if legacy:  # a run item written by an engine that expanded maps whole, without the marker
        h.store.update_run("holes", rid, Update(remove=["map_queued#work", "map_at#work"]))
    h.drain()
    assert h.store.get_run("holes", rid)["state"] == "running"
    h.engine.reconcile("holes", rid)
    h.drain()
    run = h.store.get_run("holes", rid)
    assert run["state"] == "success" and h.store.get_xcom("holes", rid, "total") == _expected(CHUNK)
    assert h.dispatcher.expand_sent == []


def test_a_bad_chunk_setting_falls_back_to_the_default(monkeypatch):
    monkeypatch.setenv("STRATUS_EXPAND_CHUNK", "lots")
    assert expansion.chunk_size() == expansion.DEFAULT_CHUNK
    monkeypatch.setenv("STRATUS_EXPAND_CHUNK", "0")
    assert expansion.chunk_size() == expansion.DEFAULT_CHUNK
    monkeypatch.delenv("STRATUS_EXPAND_CHUNK")
    assert expansion.chunk_size() == 1000

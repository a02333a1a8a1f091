"""The hop from one task's end to the next one's start: fewest sequential calls and writes.

A chain step's terminal write queues the next task in the same transaction and its count rides
on the next instance (``carry``) instead of a run-item write; the worker builds the context
from the run snapshot in its message instead of reading the run item; a stored plan version
is not written again at every run start. Duplicates, reconciles and clears stay exact.
"""

from __future__ import annotations

import json
import traceback

from orchestrator.engine.engine import CARRY_LIMIT
from orchestrator.engine.messages import SNAPSHOT_MAX_BYTES, RunSnapshot, TaskMessage
from orchestrator.store import RunStore
from builders import step_chain

CONTEXT = """
@dag(schedule=None, start_date=datetime(2026, 1, 1), params={"who": Param("nobody", type="string")})
def ctx():
    @task
    def first(**context):
        return {"conf": context["dag_run"].conf, "who": context["params"]["who"], "ds": context["ds"],
                "run_type": context["dag_run"].run_type}
    @task
    def second(seen, **context):
        return {**seen, "again": context["dag_run"].conf == seen["conf"]}
    second(first())
ctx()
"""


def _chain(h, name: str, n: int) -> None:
    h.write(name, step_chain(name, n))


def _step_one(h) -> TaskMessage:
    msg = h.dispatcher.tasks.popleft()
    h.engine.handle_task(msg)
    return msg


def test_a_chain_queues_the_next_task_in_its_terminal_transaction_and_counts_through_carry(h, counter):
    n = 2 * CARRY_LIMIT + 3
    _chain(h, "carried", n)
    run = h.start("carried")
    rid = run["run_id"]
    for i in range(CARRY_LIMIT - 1):
        _step_one(h)
        nxt = h.store.get_ti("carried", rid, f"s{i + 1:02d}")
        assert nxt["state"] == "queued" and int(nxt["carry"]) == i + 1
        assert h.store.get_run("carried", rid)["tasks_done"] == 0  # no run-item write yet
    counter.reset()
    _step_one(h)  # the CARRY_LIMIT-th step writes the run item in the same transaction
    assert counter.by_operation() == {"dynamodb:UpdateItem": 1, "dynamodb:TransactWriteItems": 1}
    assert h.store.get_run("carried", rid)["tasks_done"] == CARRY_LIMIT
    assert "carry" not in h.store.get_ti("carried", rid, f"s{CARRY_LIMIT:02d}")
    assert "carry" not in h.store.get_ti("carried", rid, f"s{CARRY_LIMIT - 1:02d}")  # settled when it ended
    h.drain()
    run = h.store.get_run("carried", rid)
    assert run["state"] == "success" and run["tasks_done"] == n
    assert h.store.get_xcom("carried", rid, f"s{n - 1:02d}") == n - 1


def test_duplicate_deliveries_of_chain_steps_are_no_ops(h):
    _chain(h, "dupchain", 14)
    run = h.run("dupchain", duplicate=True)
    assert run["state"] == "success" and run["tasks_done"] == 14
    assert len([ti for ti in h.store.list_tis("dupchain", run["run_id"]) if int(ti["try_number"]) != 1]) == 0


def test_reconcile_mid_chain_does_not_count_a_carried_step_twice(h):
    _chain(h, "recount", 6)
    run = h.start("recount")
    rid = run["run_id"]
    _step_one(h)
    _step_one(h)  # s02 is queued carrying s00 and s01
    assert int(h.store.get_ti("recount", rid, "s02")["carry"]) == 2
    after = h.engine.reconcile("recount", rid)
    assert after["tasks_done"] == 0  # s00 and s01 are counted by s02's terminal write
    h.drain()
    run = h.store.get_run("recount", rid)
    assert run["state"] == "success" and run["tasks_done"] == 6


def test_a_failed_chain_step_settles_its_carry_and_fails_the_run(h):
    h.write("breaks", """
    @dag(schedule=None, start_date=datetime(2026, 1, 1))
    def breaks():
        @task
        def a():
            return 1
        @task
        def b(x):
            return x
        @task
        def c(x):
            raise AirflowFailException("no")
        @task
        def d(x):
            return x
        d(c(b(a())))
    breaks()
    """)
    run = h.run("breaks")
    assert h.states("breaks", run["run_id"]) == {"a": "success", "b": "success", "c": "failed",
                                                 "d": "upstream_failed"}
    assert run["state"] == "failed" and run["tasks_done"] == 4 and run["leaf_failed"] == 1


def test_clearing_a_finished_chain_reruns_it_through_the_two_step_path(h):
    _chain(h, "again", 4)
    run = h.run("again")
    assert run["state"] == "success"
    cleared = h.engine.clear("again", run["run_id"], ["s01"], downstream=True)
    assert sorted(t for t, _ in cleared) == ["s01", "s02", "s03"]
    h.drain()
    run = h.store.get_run("again", run["run_id"])
    assert run["state"] == "success" and run["tasks_done"] == 4
    tis = {ti["task_id"]: ti for ti in h.store.list_tis("again", run["run_id"])}
    assert [int(tis[t]["try_number"]) for t in ("s00", "s01", "s02", "s03")] == [1, 2, 2, 2]
    assert all("carry" not in ti for ti in tis.values())


def _run_reads_by_the_worker(h, monkeypatch) -> list[str]:
    real, seen = h.store.get_run, []

    def get_run(dag_id, run_id):
        caller = traceback.extract_stack()[-2].name
        if caller == "run_try":  # the worker's own read (not the engine's after the task)
            seen.append(caller)
        return real(dag_id, run_id)

    monkeypatch.setattr(h.store, "get_run", get_run)
    return seen


def test_the_worker_builds_the_context_from_the_snapshot_without_reading_the_run(h, monkeypatch):
    h.write("ctx", CONTEXT)
    conf = {"who": "ada", "day": "2026-03-01"}
    run = h.start("ctx", conf=conf)
    msg = h.dispatcher.tasks[0]
    assert msg.run is not None and msg.run.conf == conf and msg.run.params["who"] == "ada"
    reads = _run_reads_by_the_worker(h, monkeypatch)
    h.drain()
    assert reads == []
    out = h.store.get_xcom("ctx", run["run_id"], "second")
    assert out == {"conf": conf, "who": "ada", "ds": run["logical_date"][:10], "run_type": "manual", "again": True}


def test_a_large_conf_is_left_out_of_the_message_and_the_worker_reads_the_run(h, monkeypatch):
    h.write("ctx", CONTEXT)
    conf = {"who": "bob", "blob": "x" * (SNAPSHOT_MAX_BYTES + 10)}
    run = h.start("ctx", conf=conf)
    msg = h.dispatcher.tasks[0]
    assert msg.run is None and len(msg.model_dump_json()) < 1000
    reads = _run_reads_by_the_worker(h, monkeypatch)
    h.drain()
    assert reads == ["run_try", "run_try"]
    assert h.store.get_xcom("ctx", run["run_id"], "second")["conf"] == conf


def test_a_snapshot_past_the_run_deadline_makes_the_worker_read_the_run(h):
    _chain(h, "late", 2)
    run = h.start("late")
    msg = h.dispatcher.tasks.popleft()
    h.store.finish_run("late", run["run_id"], "failed", run["start_date"])  # as a dagrun_timeout does
    stale = msg.model_copy(update={"run": msg.run.model_copy(update={"deadline_at": 1})})
    assert h.engine.handle_task(stale) == {"status": "ignored", "run_state": "failed"}
    assert h.store.get_ti("late", run["run_id"], "s00")["state"] == "queued"


def test_run_snapshot_round_trips_and_refuses_what_is_not_a_run():
    run = {"run_id": "r", "run_type": "scheduled", "conf": {"a": [1, 2.5, None]}, "params": {"p": "v"},
           "logical_date": "2026-01-01T06:00:00+00:00", "deadline_at": 99, "map_count#w": 3, "map_lens#w": [3]}
    snap = RunSnapshot.of(run, "w")
    msg = TaskMessage(dag_id="d", run_id="r", task_id="w", map_index=2, plan_hash="h", run=snap)
    back = TaskMessage.model_validate(json.loads(msg.model_dump_json()))
    as_run = back.run.as_run(back)
    assert as_run["state"] == "running" and as_run["conf"] == run["conf"] and as_run["map_lens#w"] == [3]
    assert as_run["map_count#w"] == 3 and as_run["run_type"] == "scheduled" and as_run["deadline_at"] == 99
    assert back.bare().run is None and "run" not in json.loads(back.bare().model_dump_json(exclude_none=True))
    assert RunSnapshot.of({"conf": "not a dict"}, "w") is None


def test_starting_runs_of_a_stored_plan_version_writes_no_plan(h, counter):
    _chain(h, "planned", 2)
    plan = h.plan("planned")  # put_plan: S3 object, registry item, PLAN# item
    counter.reset()
    h.engine.start_run("planned", plan=plan, run_id="one")
    ops = counter.by_operation()
    assert "s3:PutObject" not in ops and "dynamodb:PutItem" not in ops
    fresh = RunStore(h.clients, h.resources)  # another process: one read finds the PLAN# item
    counter.reset()
    assert fresh.ensure_plan(plan).hash == plan.hash
    assert counter.by_operation() == {"dynamodb:GetItem": 1}


def _conflicting(h, monkeypatch, reasons: list[str], times: int) -> list[str]:
    """Make the next ``times`` transactions with the run item fail as DynamoDB cancels them
    (a TransactionCanceledException carrying ``reasons``, one per item, nothing written)."""
    from botocore.exceptions import ClientError

    ddb, seen = h.store.ddb, []
    real = ddb.transact_write_items
    monkeypatch.setattr(h.store, "sleep", lambda s: None)

    def transact(**kwargs):
        items = kwargs["TransactItems"]
        if len(seen) < times and any(i.get("Update", {}).get("Key", {}).get("sk", {}).get("S") == "RUN"
                                     for i in items):
            seen.append(len(items))
            codes = (reasons + ["None"] * len(items))[:len(items)]
            raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                               "CancellationReasons": [{"Code": c} for c in codes]}, "TransactWriteItems")
        return real(**kwargs)

    monkeypatch.setattr(ddb, "transact_write_items", transact)
    return seen


FAN_IN = """
@dag(schedule=None, start_date=datetime(2026, 1, 1))
def fanin():
    @task
    def a():
        return 1
    @task
    def b():
        return 2
    @task
    def both(x, y):
        return x + y
    both(a(), b())
fanin()
"""


def test_a_terminal_write_cancelled_by_a_transaction_conflict_is_sent_again(h, monkeypatch):
    h.write("fanin", FAN_IN)
    run = h.start("fanin")
    seen = _conflicting(h, monkeypatch, ["None", "TransactionConflict"], times=3)
    h.drain()
    run = h.store.get_run("fanin", run["run_id"])
    assert len(seen) == 3 and run["state"] == "success" and run["tasks_done"] == 3
    assert h.store.get_xcom("fanin", run["run_id"], "both") == 3


def test_a_failed_condition_is_not_sent_again_even_with_a_conflict(h, monkeypatch):
    h.write("fanin", FAN_IN)
    run = h.start("fanin")
    seen = _conflicting(h, monkeypatch, ["ConditionalCheckFailed", "TransactionConflict"], times=1)
    msg = h.dispatcher.tasks.popleft()
    assert h.engine.handle_task(msg) == {"status": "done", "state": "success"}
    assert len(seen) == 1  # one attempt: the try was not ours to end
    assert h.store.get_ti("fanin", run["run_id"], msg.task_id)["state"] == "running"


def test_in_a_throttled_run_the_next_chain_task_takes_over_the_slot(h):
    h.write("slotted", """
    @dag(schedule=None, start_date=datetime(2026, 1, 1), max_active_tasks=2)
    def slotted():
        @task
        def make():
            return [1, 2, 3, 4, 5]
        @task
        def work(x):
            return x * 10
        @task
        def total(xs):
            return sum(xs)
        @task
        def report(n):
            return f"total {n}"
        @task
        def publish(text):
            return text.upper()
        publish(report(total(work.expand(x=make()))))
    slotted()
    """)
    run = h.start("slotted")
    rid = run["run_id"]
    while h.dispatcher.tasks:
        msg = h.dispatcher.tasks.popleft()
        h.engine.handle_task(msg)
        assert int(h.store.get_run("slotted", rid).get("active_tasks", 0) or 0) <= 2
        if msg.task_id == "total":
            assert h.store.get_ti("slotted", rid, "report")["state"] == "queued"
            assert int(h.store.get_run("slotted", rid)["active_tasks"]) == 1  # total's slot went to report
    run = h.store.get_run("slotted", rid)
    assert run["state"] == "success" and run["tasks_done"] == 5 and int(run["active_tasks"]) == 0
    assert h.store.get_xcom("slotted", rid, "publish") == "TOTAL 150"

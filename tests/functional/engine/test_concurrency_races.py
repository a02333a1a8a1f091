"""Races that deliveries one at a time never meet (issue #13), each pinned at its root.

- a duplicate delivery that crashes must not fail the try another invocation owns;
- a transaction cancelled for throttling is sent again, never read as "someone else did it";
- one bad run or DAG does not stop the sweep;
- two deliveries reading the same asset wait state start one run;
- a clear racing a finishing worker does not lose the worker's counts;
- ``make chaos CHAOS_SEED=n`` runs seed n.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from orchestrator.engine.messages import OnFailureRecord
from orchestrator.errors import ConflictError, ThrottledError

REPO = Path(__file__).resolve().parents[3]

SOLO = """
@dag(schedule=None, start_date=datetime(2026, 1, 1), default_args={"retries": 0})
def solo():
    @task
    def work():
        return 41 + 1
    work()
solo()
"""

FOUR = """
@dag(schedule=None, start_date=datetime(2026, 1, 1))
def four():
    @task
    def t0():
        return 0
    @task
    def t1():
        return 1
    @task
    def t2():
        return 2
    @task
    def t3():
        return 3
    t0(); t1(); t2(); t3()
four()
"""


def _record(msg, request_id: str) -> OnFailureRecord:
    return OnFailureRecord.model_validate({
        "version": "1.0", "requestContext": {"requestId": request_id, "condition": "RetriesExhausted",
                                             "approximateInvokeCount": 1},
        "requestPayload": msg.model_dump(mode="json"),
        "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
        "responsePayload": {"errorType": "Runtime.ExitError", "errorMessage": "signal: killed"}})


# ------------------------------------------------------------------ fencing by invocation id


def test_a_crashed_duplicate_delivery_does_not_fail_the_try_its_owner_runs(h):
    h.write("solo", SOLO)
    run = h.start("solo")
    msg = h.dispatcher.tasks.popleft()
    h.store.claim_ti("solo", run["run_id"], "work", -1, 1, deadline=10**10, invocation_id="req-owner")
    # The duplicate delivery of the same message crashed: its OnFailure record names its own request id.
    assert h.conductor.on_failure(_record(msg, "req-duplicate")) == "noop"
    ti = h.store.get_ti("solo", run["run_id"], "work")
    assert ti["state"] == "running" and ti["invocation_id"] == "req-owner"
    # The owner's own crash is acted on.
    assert h.conductor.on_failure(_record(msg, "req-owner")) == "failed"
    assert h.store.get_ti("solo", run["run_id"], "work")["state"] == "failed"


def test_every_terminal_write_of_a_try_names_the_invocation_that_claimed_it(h):
    h.write("solo", SOLO)
    run = h.start("solo")
    h.store.claim_ti("solo", run["run_id"], "work", -1, 1, deadline=10**10, invocation_id="req-a")
    with pytest.raises(ConflictError):
        h.store.finish_ti("solo", run["run_id"], "work", -1, 1, "success", fields={}, run_upd=None, owner="req-b")
    with pytest.raises(ConflictError):
        h.store.retry_ti("solo", run["run_id"], "work", -1, 1, error="x", next_try_at="2026-01-01T00:00:00+00:00",
                         history={}, owner="req-b")
    h.store.finish_ti("solo", run["run_id"], "work", -1, 1, "success", fields={}, run_upd=None, owner="req-a")
    assert h.store.get_ti("solo", run["run_id"], "work")["state"] == "success"


def test_the_worker_claims_with_its_request_id_and_finishes_as_its_owner(h):
    h.write("solo", SOLO)
    run = h.start("solo")
    msg = h.dispatcher.tasks.popleft()
    assert h.engine.handle_task(msg, invocation_id="req-1") == {"status": "done", "state": "success"}
    ti = h.store.get_ti("solo", run["run_id"], "work")
    assert ti["invocation_id"] == "req-1" and ti["state"] == "success"
    assert h.store.get_run("solo", run["run_id"])["state"] == "success"


def test_an_invocation_that_failed_before_its_claim_is_invoked_again_not_failed(h):
    h.write("solo", SOLO)
    run = h.start("solo")
    msg = h.dispatcher.tasks.popleft()
    # MaximumRetryAttempts is 0: the OnFailure record is the only notice the try got.
    assert h.conductor.on_failure(_record(msg, "req-1")) == "reinvoked"
    again = h.dispatcher.tasks.popleft()
    assert (again.task_id, again.try_number) == ("work", 1)
    assert h.engine.handle_task(again, invocation_id="req-2")["state"] == "success"
    assert h.store.get_run("solo", run["run_id"])["state"] == "success"


# ------------------------------------------------------------------ throttled transactions


def _cancel(h, monkeypatch, code: str, times: int) -> list[int]:
    """DynamoDB cancels the next ``times`` transactions touching the run item, ``code`` on that item."""
    ddb, seen = h.store.ddb, []
    real = ddb.transact_write_items
    monkeypatch.setattr(h.store, "sleep", lambda s: None)

    def transact(**kwargs):
        items = kwargs["TransactItems"]
        sks = [next(iter(i.values()))["Key"]["sk"]["S"] if "Key" in next(iter(i.values())) else "" for i in items]
        if len(seen) < times and "RUN" in sks:
            seen.append(len(items))
            raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                               "CancellationReasons": [{"Code": code if sk == "RUN" else "None"} for sk in sks]},
                              "TransactWriteItems")
        return real(**kwargs)

    monkeypatch.setattr(ddb, "transact_write_items", transact)
    return seen


def test_a_throttled_terminal_transaction_is_sent_again(h, monkeypatch):
    h.write("four", FOUR)
    run = h.start("four")
    seen = _cancel(h, monkeypatch, "ThrottlingError", times=5)
    h.drain()
    assert len(seen) == 5
    run = h.store.get_run("four", run["run_id"])
    assert run["state"] == "success" and run["tasks_done"] == 4


def test_a_transaction_throttled_for_good_fails_the_invocation_and_never_reports_done(h, monkeypatch):
    h.write("four", FOUR)
    run = h.start("four")
    _cancel(h, monkeypatch, "ThrottlingError", times=10**6)
    msg = h.dispatcher.tasks.popleft()
    # Before: read as a lost race, the worker answered done/success and the task stayed running.
    with pytest.raises(ThrottledError, match="ThrottlingError"):
        h.engine.handle_task(msg, invocation_id="req-1")
    assert h.store.get_ti("four", run["run_id"], msg.task_id)["state"] == "running"


# ------------------------------------------------------------------ the sweep


def test_one_failing_run_or_dag_does_not_stop_the_sweep(h, monkeypatch):
    h.write("four", FOUR)
    h.write("solo", SOLO)
    bad = h.start("four", run_id="bad")
    good = h.start("solo", run_id="good")
    h.dispatcher.tasks.clear()  # every dispatch lost: only the sweep can recover these runs
    real_get_run, real_waiting = h.store.get_run, h.engine.start_waiting

    def get_run(dag_id, run_id, **kw):
        if run_id == "bad":
            raise RuntimeError("throttled for good")
        return real_get_run(dag_id, run_id, **kw)

    def start_waiting(dag_id, **kw):
        if dag_id == "four":
            raise RuntimeError("throttled for good")
        return real_waiting(dag_id, **kw)

    monkeypatch.setattr(h.store, "get_run", get_run)
    monkeypatch.setattr(h.engine, "start_waiting", start_waiting)
    stats = h.conductor.sweep(h.engine.now().replace(year=2100))
    assert stats["errors"] >= 1
    monkeypatch.setattr(h.store, "get_run", real_get_run)
    h.drain()
    assert h.store.get_run("solo", good["run_id"])["state"] == "success"
    assert bad["run_id"] == "bad"


# ------------------------------------------------------------------ assets


def test_two_deliveries_reading_the_same_wait_state_consume_it_once(h):
    from orchestrator.triggers.assets import AssetStore
    from orchestrator.triggers.s3events import AssetEvent

    store = AssetStore(h.clients, h.resources)
    event = AssetEvent(uri="s3://landing/in/a.csv", bucket="landing", key="in/a.csv", sequencer="01",
                       timestamp="2026-01-01T00:00:00+00:00")
    snapshot = store.add_to_wait("consumer", ["s3://landing/in/"], event)
    assert store.consume("consumer", dict(snapshot)) is True
    # The second trigger invocation read the same state before the first reset it.
    assert store.consume("consumer", dict(snapshot)) is False


# ------------------------------------------------------------------ clear racing a worker


def test_a_clear_racing_a_finishing_worker_keeps_the_workers_count(h, monkeypatch):
    h.write("four", FOUR)
    run = h.start("four")
    rid = run["run_id"]
    msgs = {m.task_id: m for m in h.dispatcher.tasks}
    h.dispatcher.tasks.clear()
    for t in ("t0", "t1"):
        h.engine.handle_task(msgs[t])
    real_list, armed = h.store.list_tis, [True]

    def list_tis(dag_id, run_id, task_id=None):
        listed = real_list(dag_id, run_id, task_id)
        if armed and task_id is None and any(t["task_id"] == "t0" and t["state"] == "none" for t in listed):
            armed.clear()
            h.engine.handle_task(msgs["t2"])  # t2's worker finishes between the clear's read and its write
        return listed

    monkeypatch.setattr(h.store, "list_tis", list_tis)
    assert h.engine.clear("four", rid, ["t0"]) == [("t0", -1)]
    assert not armed
    h.engine.handle_task(msgs["t3"])
    h.drain()
    run = h.store.get_run("four", rid)
    # Before: the recount overwrote t2's count and the run stayed running at 3/4, nothing in flight.
    assert run["state"] == "success" and run["tasks_done"] == 4
    assert h.states("four", rid) == {"t0": "success", "t1": "success", "t2": "success", "t3": "success"}


def _four_with_t3_left(h):
    """Run ``four`` until t0..t2 are done; returns its run id and the task messages (t3's undelivered)."""
    h.write("four", FOUR)
    rid = h.start("four")["run_id"]
    msgs = {m.task_id: m for m in h.dispatcher.tasks}
    h.dispatcher.tasks.clear()
    for t in ("t0", "t1", "t2"):
        h.engine.handle_task(msgs[t])
    return rid, msgs


def test_a_worker_does_not_finish_a_run_a_clear_is_rewriting(h, monkeypatch):
    rid, msgs = _four_with_t3_left(h)
    real_reset, armed = h.store.reset_ti, [True]

    def reset_ti(*args, **kwargs):
        real_reset(*args, **kwargs)
        if armed:
            armed.clear()
            # t3 ends while t0 is cleared but still counted: its counters read 4/4.
            h.engine.handle_task(msgs["t3"])
            assert h.store.get_run("four", rid)["state"] == "running"

    monkeypatch.setattr(h.store, "reset_ti", reset_ti)
    h.engine.clear("four", rid, ["t0"])
    assert not armed
    h.drain()
    run = h.store.get_run("four", rid)
    assert run["state"] == "success" and run["tasks_done"] == 4 and "clearing_until" not in run
    assert [x["state"] for x in h.store.get_ti("four", rid, "t0")["history"]] == ["success"]


def test_a_run_that_finished_while_a_clear_was_resetting_is_reopened_and_runs_the_cleared_task(h, monkeypatch):
    """Found by the concurrent chaos pass: another recount lifted the clear's fence, a worker then
    finished the run on counts that still counted the cleared task, and the clear re-opened the
    run from its stale first read ('running'): the run stayed success with the task at none."""
    from orchestrator.store import Update

    rid, msgs = _four_with_t3_left(h)
    real_reset, armed = h.store.reset_ti, [True]

    def reset_ti(*args, **kwargs):
        if armed:
            armed.clear()
            h.store.update_run("four", rid, Update(remove=["clearing_until"]))  # another recount lifted the fence
            h.engine.handle_task(msgs["t3"])
            assert h.store.get_run("four", rid)["state"] == "success"
        real_reset(*args, **kwargs)

    monkeypatch.setattr(h.store, "reset_ti", reset_ti)
    assert h.engine.clear("four", rid, ["t0"]) == [("t0", -1)]
    assert not armed
    h.drain()
    run = h.store.get_run("four", rid)
    assert run["state"] == "success" and run["tasks_done"] == 4
    t0 = h.store.get_ti("four", rid, "t0")
    assert t0["state"] == "success" and [x["state"] for x in t0["history"]] == ["success"]


def test_a_worker_that_read_the_last_count_before_a_clear_does_not_finish_the_run(h, monkeypatch):
    """Found by the concurrent chaos pass (2 runs in 60 CI passes): the last worker read the run
    at 4/4, a whole clear of t0 landed (fence, reset, recount to 3/4 lifting the fence, t0 queued
    again), then the worker's finish passed its condition (running, no fence): the run was success
    with t0's new try queued and never run. The finish now also requires the counts it decided on."""
    rid, msgs = _four_with_t3_left(h)
    real_finish, armed = h.store.finish_run, [True]

    def finish_run(*args, **kwargs):
        if armed:
            armed.clear()
            assert h.engine.clear("four", rid, ["t0"]) == [("t0", -1)]
            assert h.store.get_ti("four", rid, "t0")["state"] == "queued"
        return real_finish(*args, **kwargs)

    monkeypatch.setattr(h.store, "finish_run", finish_run)
    h.engine.handle_task(msgs["t3"])
    assert not armed
    assert h.store.get_run("four", rid)["state"] == "running"
    h.drain()
    run = h.store.get_run("four", rid)
    assert run["state"] == "success" and run["tasks_done"] == 4
    t0 = h.store.get_ti("four", rid, "t0")
    assert t0["state"] == "success" and int(t0["try_number"]) == 2
    assert [x["state"] for x in t0["history"]] == ["success"]


DIAMOND = """
@dag(schedule=None, start_date=datetime(2026, 1, 1), max_active_tasks=2)
def diamond():
    @task
    def top():
        return 1
    @task
    def side(x, k):
        return x * k
    @task
    def bottom(values):
        return sum(values)
    t = top()
    bottom([side.override(task_id=f"side{k}")(t, k) for k in range(4)])
diamond()
"""


def test_a_fan_out_member_whose_outcome_still_rides_its_lane_is_left_alone_by_a_clear(h):
    """Found by the concurrent chaos pass (chaos_diamond, 3 runs in 60 CI passes): side0 ended and
    its outcome rode on to side2 (``lcarry``, engine.lanes), not yet on the run item. A clear reset
    side0 and queued it again; side2's end then counted side0's old outcome, and side0's new try was
    either never counted (its finish cancelled: the run stuck with side0 running) or outran it (the
    run success while side0's new try was queued). Like a queued or running instance, an outcome
    that is not counted yet is still in flight: the clear leaves it alone."""
    h.write("diamond", DIAMOND)
    rid = h.start("diamond")["run_id"]
    h.engine.handle_task(h.dispatcher.tasks.popleft())  # top
    heads = {m.task_id: m for m in h.dispatcher.tasks}
    h.dispatcher.tasks.clear()
    assert set(heads) == {"side0", "side1"}
    h.engine.handle_task(heads["side0"])
    assert h.store.get_ti("diamond", rid, "side2")["lcarry"] == {"side0": "success"}
    assert h.engine.clear("diamond", rid, ["side0"]) == []
    assert h.store.get_ti("diamond", rid, "side0")["state"] == "success"
    h.dispatcher.tasks.append(heads["side1"])
    h.drain()
    assert h.engine.clear("diamond", rid, ["side0"]) == [("side0", -1)]  # counted now: cleared and run again
    h.drain()
    run = h.store.get_run("diamond", rid)
    assert run["state"] == "success" and run["tasks_done"] == 6
    assert h.states("diamond", rid) == dict.fromkeys(["top", "side0", "side1", "side2", "side3", "bottom"], "success")
    side0 = h.store.get_ti("diamond", rid, "side0")
    assert int(side0["try_number"]) == 2 and [x["state"] for x in side0["history"]] == ["success"]


def test_a_fan_out_member_whose_outcome_still_rides_its_lane_is_not_marked(h):
    """As with the clear above: side2 would count side0's old outcome over the mark (a side0 marked
    failed counted as a success for bottom). The mark says why and changes nothing; once side0's
    outcome is on the run's counters, it is marked and the run re-derived from it."""
    from orchestrator.errors import StratusError

    h.write("diamond", DIAMOND)
    rid = h.start("diamond")["run_id"]
    h.engine.handle_task(h.dispatcher.tasks.popleft())  # top
    heads = {m.task_id: m for m in h.dispatcher.tasks}
    h.dispatcher.tasks.clear()
    h.engine.handle_task(heads["side0"])
    assert h.store.get_ti("diamond", rid, "side2")["lcarry"] == {"side0": "success"}
    with pytest.raises(StratusError, match=r"Task 'side0' of run .* ended, but its outcome is still being counted"):
        h.engine.mark("diamond", rid, "side0", "failed")
    run = h.store.get_run("diamond", rid)
    assert h.store.get_ti("diamond", rid, "side0")["state"] == "success" and "clearing_until" not in run
    h.dispatcher.tasks.append(heads["side1"])
    h.drain()
    assert h.store.get_run("diamond", rid)["state"] == "success"
    h.engine.mark("diamond", rid, "side0", "failed")  # counted now
    h.drain()
    assert h.store.get_ti("diamond", rid, "side0")["state"] == "failed"
    assert h.store.get_run("diamond", rid)["tasks_done"] == 6


# ------------------------------------------------------------------ make chaos


def test_make_chaos_runs_the_seed_it_is_given():
    out = subprocess.run(["make", "-n", "chaos", "CHAOS_SEED=7"], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout
    assert "--seeds 7" in out and "--seeds 1,2,3" not in out


CHAIN6 = """
@dag(schedule=None, start_date=datetime(2026, 1, 1))
def chain6():
    @task
    def step(x: int) -> int:
        return x + 1
    v = 0
    for i in range(6):
        v = step.override(task_id=f"t{i}")(v)
chain6()
"""


def test_clearing_a_chain_step_whose_count_rides_on_a_later_step_counts_it_once(h):
    # Found by the concurrent chaos harness: the run finished at tasks_done 7/6.
    h.write("chain6", CHAIN6)
    rid = h.start("chain6")["run_id"]
    for _ in range(3):
        h.engine.handle_task(h.dispatcher.tasks.popleft())  # t0, t1, t2 done; t3 queued carrying 3
    assert int(h.store.get_ti("chain6", rid, "t3")["carry"]) == 3
    assert h.engine.clear("chain6", rid, ["t1"]) == [("t1", -1)]
    h.drain()
    run = h.store.get_run("chain6", rid)
    assert run["state"] == "success" and run["tasks_done"] == 6
    assert h.store.get_xcom("chain6", rid, "t5") == 6


PAIR = """
@dag(schedule=None, start_date=datetime(2026, 1, 1))
def pair():
    @task
    def a():
        return 20
    @task
    def b(x):
        return x + 1
    b(a())
pair()
"""


def test_a_downstream_task_already_queued_when_its_upstream_is_cleared_reads_the_last_xcom(h):
    # Found by the concurrent chaos harness: the clear removed the XCom at once, and the
    # downstream try in flight failed on a None input. Airflow keeps it until the task runs again.
    h.write("pair", PAIR)
    rid = h.start("pair")["run_id"]
    h.engine.handle_task(h.dispatcher.tasks.popleft())  # a succeeds; b is queued
    b_msg = h.dispatcher.tasks.popleft()
    assert h.engine.clear("pair", rid, ["a"]) == [("a", -1)]
    assert h.engine.handle_task(b_msg) == {"status": "done", "state": "success"}
    h.drain()  # a runs again
    run = h.store.get_run("pair", rid)
    assert run["state"] == "success" and h.store.get_xcom("pair", rid, "b") == 21
    assert h.store.get_xcom("pair", rid, "a") == 20

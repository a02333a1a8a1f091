from __future__ import annotations

import pytest

from orchestrator.errors import ConflictError, NotFoundError
from orchestrator.store import Update

D, R = "etl", "manual__1"


@pytest.fixture
def run(store):
    store.create_run({"dag_id": D, "run_id": R, "state": "running", "run_type": "manual",
                      "logical_date": "2026-01-01T00:00:00+00:00"})
    return store


def test_happy_path_transitions_and_counters(run):
    ti = run.queue_ti(D, R, "a", -1, retries=2, deadline=100)
    assert ti["state"] == "queued" and ti["try_number"] == 1 and ti["max_tries"] == 2
    with pytest.raises(ConflictError):
        run.queue_ti(D, R, "a", -1, retries=2, deadline=100)  # second readiness: no-op
    assert run.claim_ti(D, R, "a", -1, 1, deadline=200)["state"] == "running"
    with pytest.raises(ConflictError):
        run.claim_ti(D, R, "a", -1, 1, deadline=200)  # duplicate delivery
    upd = Update(add={"tasks_done": 1, "c#b#success": 1, "steps_done": {"a"}},
                 condition="NOT contains(#sd, :t)", names={"#sd": "steps_done"}, values={":t": "a"})
    run.finish_ti(D, R, "a", -1, 1, "success", fields={"xcom": "42"}, run_upd=upd)
    with pytest.raises(ConflictError):
        run.finish_ti(D, R, "a", -1, 1, "failed", fields={}, run_upd=upd)
    r = run.get_run(D, R)
    assert r["tasks_done"] == 1 and r["c#b#success"] == 1 and r["steps_done"] == {"a"}
    assert run.get_xcom(D, R, "a") == 42


def test_retry_then_requeue_keeps_history(run):
    run.queue_ti(D, R, "a", -1, retries=1, deadline=1)
    run.claim_ti(D, R, "a", -1, 1, deadline=1)
    run.retry_ti(D, R, "a", -1, 1, error="boom", next_try_at="t", history={"try_number": 1, "state": "failed"})
    with pytest.raises(ConflictError):
        run.retry_ti(D, R, "a", -1, 1, error="boom", next_try_at="t", history={})
    ti = run.requeue_ti(D, R, "a", -1, 1, deadline=5)
    assert ti["try_number"] == 2 and ti["state"] == "queued" and ti["history"][0]["state"] == "failed"
    with pytest.raises(ConflictError):
        run.requeue_ti(D, R, "a", -1, 1, deadline=5)


def test_decide_and_clear_then_requeue_increments_try(run):
    run.decide_ti(D, R, "b", -1, "skipped", run_upd=Update(add={"tasks_done": 1}))
    assert run.get_ti(D, R, "b")["state"] == "skipped"
    run.reset_ti(D, R, "b", -1, history={"state": "skipped"})
    with pytest.raises(ConflictError):
        run.queue_ti(D, R, "b", -1, retries=0, deadline=1, prev_try=5)  # cleared at try 0, not 5
    ti = run.queue_ti(D, R, "b", -1, retries=3, deadline=1, prev_try=0)
    assert ti["try_number"] == 1 and ti["max_tries"] == 3


def test_max_active_tasks_parks_and_promotes(run):
    assert run.queue_ti(D, R, "m", 0, retries=0, deadline=1, max_active_tasks=2)["state"] == "queued"
    assert run.queue_ti(D, R, "m", 1, retries=0, deadline=1, max_active_tasks=2)["state"] == "queued"
    assert run.queue_ti(D, R, "m", 2, retries=0, deadline=1, max_active_tasks=2) is None
    assert run.get_ti(D, R, "m", 2)["state"] == "scheduled"
    assert run.promote_scheduled(D, R, 2, limit=5) == []  # still full
    run.update_run(D, R, Update(add={"active_tasks": -1}))
    promoted = run.promote_scheduled(D, R, 2, limit=5)
    assert [(p["task_id"], p["map_index"], p["try_number"]) for p in promoted] == [("m", 2, 1)]
    r = run.get_run(D, R)
    assert r["active_tasks"] == 2 and r["sched_waiting"] == 0
    assert run.get_ti(D, R, "m", 2)["state"] == "queued"


def test_list_tis_in_map_order_and_list_xcom(run):
    for i in (2, 0, 1):
        run.queue_ti(D, R, "m", i, retries=0, deadline=1)
        run.claim_ti(D, R, "m", i, 1, deadline=1)
        run.finish_ti(D, R, "m", i, 1, "success", fields={"xcom": str(i * 10)}, run_upd=None)
    assert [t["map_index"] for t in run.list_tis(D, R, "m")] == [0, 1, 2]
    assert run.list_xcom(D, R, "m") == [0, 10, 20]
    with pytest.raises(NotFoundError, match="Task instance 'zz' \\(map index -1\\) of run 'manual__1'"):
        run.get_ti(D, R, "zz")

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from orchestrator.errors import NotFoundError
from builders import add_chain, single

TWO = add_chain("two", 2, max_active_runs=1)


def test_max_active_runs_queues_then_starts_next_run(h):
    h.write("two", TWO)
    r1 = h.start("two", run_id="r1", logical_date=datetime(2026, 1, 1, tzinfo=timezone.utc))
    r2 = h.start("two", run_id="r2", logical_date=datetime(2026, 1, 2, tzinfo=timezone.utc))
    assert r1["state"] == "running" and r2["state"] == "queued"
    assert h.store.count_active_runs("two") == 1
    assert [m.run_id for m in h.dispatcher.tasks] == ["r1"]
    h.drain()
    assert h.store.get_run("two", "r1")["state"] == "success"
    assert h.store.get_run("two", "r2")["state"] == "success"
    assert h.store.count_active_runs("two") == 0


def test_run_ids_follow_airflow_format(h):
    h.write("two", TWO)
    when = datetime(2026, 5, 1, 6, tzinfo=timezone.utc)
    run = h.start("two", logical_date=when, run_type="scheduled",
                  data_interval=(when - timedelta(days=1), when))
    assert run["run_id"] == "scheduled__2026-05-01T06:00:00+00:00"
    assert run["data_interval_start"] == "2026-04-30T06:00:00+00:00"


def test_dagrun_timeout_fails_the_run_via_the_sweeper(h):
    h.write("slowrun", add_chain("slowrun", 2, dagrun_timeout="timedelta(minutes=5)"))
    run = h.start("slowrun")
    later = datetime.now(timezone.utc) + timedelta(minutes=10)
    stats = h.conductor.sweep(later)
    assert stats["timed_out"] == 1
    run = h.store.get_run("slowrun", run["run_id"])
    assert run["state"] == "failed" and "dagrun_timeout" in run["note"]
    assert h.states("slowrun", run["run_id"]) == {"a": "skipped"}
    h.drain()  # the queued message finds the run finished and does nothing
    assert h.store.get_run("slowrun", run["run_id"])["state"] == "failed"


def test_clear_failed_reruns_with_history_and_run_recovers(h, tmp_path):
    flag = tmp_path / "fixed"
    h.write("fixme", f"""
    import os
    @dag(schedule=None, start_date=datetime(2026, 1, 1))
    def fixme():
        @task
        def a():
            return 1
        @task
        def b(x):
            if not os.path.exists({str(flag)!r}):
                raise AirflowFailException("not yet")
            return x + 1
        @task
        def c(y):
            return y * 10
        c(b(a()))
    fixme()
    """)
    run = h.run("fixme")
    assert run["state"] == "failed"
    flag.write_text("ok")
    cleared = h.engine.clear("fixme", run["run_id"], failed_only=True)
    assert sorted(cleared) == [("b", -1), ("c", -1)]
    h.drain()
    run = h.store.get_run("fixme", run["run_id"])
    assert run["state"] == "success" and h.store.get_xcom("fixme", run["run_id"], "c") == 20
    b = h.store.get_ti("fixme", run["run_id"], "b")
    assert b["try_number"] == 2 and b["history"][0]["state"] == "failed"
    with pytest.raises(NotFoundError, match="Cannot clear 'zz': not tasks of DAG 'fixme'"):
        h.engine.clear("fixme", run["run_id"], ["zz"])


def test_mark_success_unblocks_and_run_finishes(h):
    h.write("marky", """
    @dag(schedule=None, start_date=datetime(2026, 1, 1))
    def marky():
        @task
        def a():
            raise AirflowFailException("broken")
        @task(trigger_rule="none_failed")
        def b():
            return 1
        a() >> b()
    marky()
    """)
    run = h.run("marky")
    assert run["state"] == "failed"
    h.engine.mark("marky", run["run_id"], "a", "success")
    assert h.store.get_run("marky", run["run_id"])["state"] == "failed"  # b is still upstream_failed
    h.engine.clear("marky", run["run_id"], ["b"])
    h.drain()
    run = h.store.get_run("marky", run["run_id"])
    assert h.states("marky", run["run_id"]) == {"a": "success", "b": "success"}
    assert run["state"] == "success"


def test_reconcile_and_sweep_recover_lost_messages(h):
    h.write("lost", add_chain("lost", 3))
    run = h.start("lost")
    h.dispatcher.tasks.clear()  # the async invoke of 'a' was lost
    stats = h.conductor.sweep(datetime.now(timezone.utc) + timedelta(hours=1))
    assert stats["reinvoked"] == 1 and len(h.dispatcher.tasks) == 1
    msg = h.dispatcher.tasks.popleft()
    h.engine.handle_task(msg)
    # 'a' finished but its completion's dispatch of 'b' was lost too: drop the queued message and
    # the item, as if the worker died between the transaction and the put.
    lost_b = h.dispatcher.tasks.popleft()
    h.store.ddb.delete_item(TableName=h.resources.table, Key=h.store._key(f"RUN#lost#{run['run_id']}", "TI#b#-00001"))
    after = h.engine.reconcile("lost", run["run_id"])
    assert after["tasks_done"] == 1
    assert [m.task_id for m in h.dispatcher.tasks] == ["b"] and lost_b.task_id == "b"
    h.drain()
    assert h.store.get_run("lost", run["run_id"])["state"] == "success"


def test_sweeper_fails_a_running_try_past_its_deadline(h):
    h.write("hang", single("hang"))
    run = h.start("hang")
    msg = h.dispatcher.tasks.popleft()
    h.store.claim_ti(msg.dag_id, msg.run_id, "a", -1, 1, deadline=1)
    stats = h.conductor.sweep(datetime.now(timezone.utc))
    assert stats["failed_tries"] == 1
    run = h.store.get_run("hang", run["run_id"])
    assert run["state"] == "failed"
    assert "did not report back" in h.store.get_ti("hang", run["run_id"], "a")["error"]

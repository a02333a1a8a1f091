"""``depends_on_past`` and ``wait_for_downstream`` with Airflow 3's semantics (``engine.past``).

How we know what Airflow does: its scheduler checks ``PrevDagrunDep``
(airflow-core ``src/airflow/ti_deps/deps/prev_dagrun_dep.py``, read for this work): the
previous run is ``DagRun.get_previous_dagrun`` (latest logical date before this run's, any run
type) or, with ``catchup=True``, ``get_previous_scheduled_dagrun`` (the same without manual
runs); no previous run passes; the first run of a backfill passes; otherwise *every* instance
of the task in the previous run (all map indexes: ``_count_unsuccessful_tis`` counts by
task id, since apache/airflow#32397) must be success or skipped, and with
``wait_for_downstream`` every instance of its direct downstream tasks too
(``_has_unsuccessful_dependants``). An unmet dependency leaves the instance at no status: it
waits, with no timeout, until the past instance is cleared and succeeds or is marked.
``wait_for_downstream=True`` sets ``depends_on_past=True`` and ``ignore_first_depends_on_past``
defaults to False (task SDK ``definitions/_internal/abstractoperator.py``).

The DAG files use Airflow 3's imports (``from airflow.sdk import ...``), as a user writes them.
"""

from __future__ import annotations

import random
import textwrap
import threading
from datetime import datetime, timezone

from orchestrator.engine import past
from orchestrator.observe.grid import LocalLinks
from orchestrator.observe.pages import task_instance_page
from orchestrator.observe.readmodel import task_instance_view
from orchestrator.observe.terminal import render_run_tree
from orchestrator.store import dynamo as ddb
from orchestrator.triggers.backfill import run_backfill


def _write(h, name: str, body: str) -> None:
    (h.root / f"{name}.py").write_text(textwrap.dedent(body))


def _day(n: int) -> datetime:
    return datetime(2026, 1, n, tzinfo=timezone.utc)


def _ti(h, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict:
    return h.store.get_ti(dag_id, run_id, task_id, map_index)


FLAKY_LOAD = """
    import os
    from datetime import datetime
    from airflow.sdk import dag, task

    @dag(schedule="@daily", start_date=datetime(2026, 1, 1), catchup=False,
         default_args={"depends_on_past": True, "retries": 0})
    def nightly():
        @task(depends_on_past=False)
        def extract(**context):
            return context["ds"]

        @task
        def load(day):
            if os.path.exists(os.environ["STRATUS_TEST_FAIL_FLAG"]):
                raise ValueError(f"warehouse refused {day}")
            return day

        load(extract())

    nightly()
"""


def test_a_failed_past_instance_holds_the_next_run_until_it_is_cleared_and_succeeds(h, tmp_path, monkeypatch):
    flag = tmp_path / "fail"
    monkeypatch.setenv("STRATUS_TEST_FAIL_FLAG", str(flag))
    _write(h, "nightly", FLAKY_LOAD)
    flag.write_text("x")
    first = h.run("nightly", logical_date=_day(1), run_type="scheduled")  # no previous run: load runs (and fails)
    assert first["state"] == "failed"
    flag.unlink()
    second = h.run("nightly", logical_date=_day(2), run_type="scheduled")
    r1, r2 = first["run_id"], second["run_id"]
    # extract has depends_on_past=False and ran; load waits at no status, saying why (Airflow's reason).
    assert second["state"] == "running"
    assert h.states("nightly", r2) == {"extract": "success", "load": "none"}
    waiting = _ti(h, "nightly", r2, "load")
    assert waiting["note"] == ("depends_on_past is true for this task, but 1 previous task instance(s) are not in "
                               f"a successful state (previous run '{r1}').")
    assert waiting["past_wait"] == r1
    # `stratus show` says why it waits.
    tree = render_run_tree(h.plan("nightly"), h.store.get_run("nightly", r2), h.store.list_tis("nightly", r2))
    assert "load  ○ no status  waiting: depends_on_past is true for this task, but 1 previous" in tree
    # ... and so does the task instance's page in `stratus ui`.
    view = task_instance_view(h.plan("nightly"), r2, waiting, {})
    page = task_instance_page(view, "", LocalLinks()).decode()
    assert "Dependencies not met:</b> depends_on_past is true for this task, but 1 previous" in page
    # It keeps waiting: the sweeper looks again and leaves it (the past instance is still failed).
    h.conductor.sweep()
    h.drain()
    assert h.states("nightly", r2)["load"] == "none"
    # Clearing the failed past instance re-runs it; its success releases the waiting one at once
    # (the completer wakes it: no sweep needed).
    h.engine.clear("nightly", r1, ["load"])
    h.drain()
    assert h.store.get_run("nightly", r1)["state"] == "success"
    assert h.store.get_run("nightly", r2)["state"] == "success"
    released = _ti(h, "nightly", r2, "load")
    assert released["try_number"] == 1
    # The wait ended with the queueing: no reason left behind, nothing for the sweeper to look at.
    assert "past_wait" not in released and "note" not in released
    # The waiter item is gone once used.
    assert h.store.past_waiters("nightly", r1) == []


def test_marking_the_past_instance_success_releases_the_waiting_one(h, tmp_path, monkeypatch):
    flag = tmp_path / "fail"
    monkeypatch.setenv("STRATUS_TEST_FAIL_FLAG", str(flag))
    _write(h, "nightly", FLAKY_LOAD)
    flag.write_text("x")
    r1 = h.run("nightly", logical_date=_day(1), run_type="scheduled")["run_id"]
    r2 = h.run("nightly", logical_date=_day(2), run_type="scheduled")["run_id"]
    flag.unlink()
    assert h.states("nightly", r2)["load"] == "none"
    h.engine.mark("nightly", r1, "load", "success")
    h.drain()
    assert h.store.get_run("nightly", r2)["state"] == "success"


def test_the_sweeper_releases_a_waiting_instance_whose_wake_up_was_lost(h, tmp_path, monkeypatch):
    flag = tmp_path / "fail"
    monkeypatch.setenv("STRATUS_TEST_FAIL_FLAG", str(flag))
    _write(h, "nightly", FLAKY_LOAD)
    flag.write_text("x")
    r1 = h.run("nightly", logical_date=_day(1), run_type="scheduled")["run_id"]
    r2 = h.run("nightly", logical_date=_day(2), run_type="scheduled")["run_id"]
    flag.unlink()
    # The waiter is lost (as if its completer died between its terminal write and the wake-up).
    h.store.drop_past_waiter("nightly", r1, r2, "load")
    h.engine.clear("nightly", r1, ["load"])
    h.drain()
    assert h.store.get_run("nightly", r1)["state"] == "success"
    assert h.states("nightly", r2)["load"] == "none"
    stats = h.conductor.sweep()
    h.drain()
    assert stats["reconciled"] == 1  # r2 had nothing in flight: reconcile looked at the gate again
    assert h.store.get_run("nightly", r2)["state"] == "success"


def test_the_previous_run_is_by_logical_date_and_skips_manual_runs_only_with_catchup(h, tmp_path, monkeypatch):
    flag = tmp_path / "fail"
    monkeypatch.setenv("STRATUS_TEST_FAIL_FLAG", str(flag))
    _write(h, "nightly", FLAKY_LOAD)
    flag.write_text("x")
    r1 = h.run("nightly", logical_date=_day(1), run_type="scheduled")["run_id"]  # load failed
    flag.unlink()
    # A run with an earlier logical date started later depends on the run before *it* (none here).
    r0 = h.run("nightly", logical_date=datetime(2025, 12, 31, tzinfo=timezone.utc), run_type="manual")
    assert r0["state"] == "success"
    # A manual run between day 1 and day 3 depends on day 1 (failed) and waits; catchup=False: day 3's
    # previous run is that manual run (get_previous_dagrun takes any run type), so day 3 waits on it.
    mid = h.run("nightly", logical_date=datetime(2026, 1, 2, 12, tzinfo=timezone.utc), run_type="manual")["run_id"]
    assert _ti(h, "nightly", mid, "load")["past_wait"] == r1
    r3 = h.run("nightly", logical_date=_day(3), run_type="scheduled")
    assert _ti(h, "nightly", r3["run_id"], "load")["past_wait"] == mid
    # With catchup=True, get_previous_scheduled_dagrun leaves manual runs out: day 3's previous is day 1.
    plan = h.plan("nightly").model_copy(update={"catchup": True})
    entry = past.previous_run(h.engine, plan, h.store.get_run("nightly", r3["run_id"]))
    assert entry is not None and entry["run_id"] == r1


DAILY = """
    import os
    from datetime import datetime
    from airflow.sdk import DAG, task

    with DAG("ledger", schedule="@daily", start_date=datetime(2026, 1, 1), catchup={catchup},
             max_active_runs=3, default_args={{"depends_on_past": True}}):
        @task
        def extract(**context):
            return context["ds"]

        @task
        def post(day):
            with open(os.environ["STRATUS_TEST_ORDER"], "a") as f:
                f.write(f"post {{day}}\\n")
            return day

        @task
        def close(day):
            with open(os.environ["STRATUS_TEST_ORDER"], "a") as f:
                f.write(f"close {{day}}\\n")

        close(post(extract()))
"""


def _order(path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        task, day = line.split()
        out.setdefault(task, []).append(day)
    return out


def _shuffled_drain(h, seed: int) -> None:
    """Deliver queued messages in a random order, each one twice (at-least-once delivery)."""
    rng = random.Random(seed)
    steps = 0
    while h.dispatcher.tasks:
        steps += 1
        assert steps < 10_000
        msgs = h.dispatcher.tasks
        i = rng.randrange(len(msgs))
        msgs.rotate(-i)
        msg = msgs.popleft()
        msgs.rotate(i)
        h.engine.handle_task(msg)
        h.engine.handle_task(msg)


def test_a_backfill_of_five_days_runs_each_task_in_logical_date_order_with_three_runs_at_once(h, tmp_path,
                                                                                              monkeypatch):
    order = tmp_path / "order.txt"
    monkeypatch.setenv("STRATUS_TEST_ORDER", str(order))
    _write(h, "ledger", DAILY.format(catchup="True"))
    plan = h.plan("ledger")
    report = run_backfill(h.clients, h.resources, plan, _day(1), _day(5), engine=h.engine)
    assert len(report.run_ids) == 5
    # Three runs took slots; in the later two of them every task waits for the run before.
    running = [r for r in report.run_ids if h.store.get_run("ledger", r)["state"] == "running"]
    assert len(running) == 3
    _shuffled_drain(h, seed=7)
    states = {r: h.store.get_run("ledger", r)["state"] for r in report.run_ids}
    assert set(states.values()) == {"success"}, states
    days = [f"2026-01-0{n}" for n in range(1, 6)]
    assert _order(order) == {"post": days, "close": days}


def test_catchup_runs_started_together_from_two_threads_keep_each_tasks_order(h, tmp_path, monkeypatch):
    order = tmp_path / "order.txt"
    monkeypatch.setenv("STRATUS_TEST_ORDER", str(order))
    _write(h, "ledger", DAILY.format(catchup="True"))
    h.plan("ledger")
    run_ids = [h.start("ledger", logical_date=_day(n), run_type="scheduled")["run_id"] for n in range(1, 6)]
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            while True:
                try:
                    msg = h.dispatcher.tasks.popleft()
                except IndexError:
                    return
                h.engine.handle_task(msg)
                h.engine.handle_task(msg)  # a duplicate delivery, racing the other thread's work
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    # Rounds of two threads until nothing is left (a thread may stop while the other queues more).
    for _ in range(100):
        if not h.dispatcher.tasks:
            break
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors
    # No sweep: a wake-up lost between a waiting task and its previous run's completer would leave
    # a run running here (the waiter is written before the second look; the completer reads after).
    assert {h.store.get_run("ledger", r)["state"] for r in run_ids} == {"success"}
    days = [f"2026-01-0{n}" for n in range(1, 6)]
    assert _order(order) == {"post": days, "close": days}


WAIT_DOWNSTREAM = """
    import os
    from datetime import datetime
    from airflow.sdk import dag, task

    @dag(schedule="@daily", start_date=datetime(2026, 1, 1), catchup=False)
    def publish():
        @task(wait_for_downstream=True)
        def stage(**context):
            return context["ds"]

        @task
        def swap(day):
            if os.path.exists(os.environ["STRATUS_TEST_FAIL_FLAG"]):
                raise RuntimeError("swap failed")

        swap(stage())

    publish()
"""


def test_wait_for_downstream_holds_the_task_until_the_previous_runs_downstream_succeeds(h, tmp_path, monkeypatch):
    flag = tmp_path / "fail"
    monkeypatch.setenv("STRATUS_TEST_FAIL_FLAG", str(flag))
    _write(h, "publish", WAIT_DOWNSTREAM)
    flag.write_text("x")
    r1 = h.run("publish", logical_date=_day(1), run_type="scheduled")["run_id"]
    assert h.states("publish", r1) == {"stage": "success", "swap": "failed"}
    flag.unlink()
    r2 = h.run("publish", logical_date=_day(2), run_type="scheduled")["run_id"]
    # stage itself succeeded in r1, but its downstream swap did not: stage waits.
    assert h.states("publish", r2) == {"stage": "none"}
    assert _ti(h, "publish", r2, "stage")["note"] == (
        "The tasks downstream of the previous task instance(s) haven't completed, and wait_for_downstream is True "
        f"(previous run '{r1}').")
    h.engine.clear("publish", r1, ["swap"])
    h.drain()
    assert h.store.get_run("publish", r2)["state"] == "success"
    assert h.states("publish", r2) == {"stage": "success", "swap": "success"}


MAPPED = """
    import os
    from datetime import datetime
    from airflow.sdk import dag, task

    @dag(schedule="@daily", start_date=datetime(2026, 1, 1), catchup=False)
    def shards():
        @task
        def listing():
            return [1, 2, 3]

        @task(depends_on_past=True)
        def load(shard):
            if shard == 2 and os.path.exists(os.environ["STRATUS_TEST_FAIL_FLAG"]):
                raise ValueError("shard 2 failed")
            return shard * 10

        load.expand(shard=listing())

    shards()
"""


def test_a_mapped_task_waits_for_every_map_index_of_the_previous_run(h, tmp_path, monkeypatch):
    flag = tmp_path / "fail"
    monkeypatch.setenv("STRATUS_TEST_FAIL_FLAG", str(flag))
    _write(h, "shards", MAPPED)
    flag.write_text("x")
    r1 = h.run("shards", logical_date=_day(1), run_type="scheduled")["run_id"]
    assert h.states("shards", r1) == {"listing": "success", "load[0]": "success", "load[1]": "failed",
                                      "load[2]": "success"}
    flag.unlink()
    r2 = h.run("shards", logical_date=_day(2), run_type="scheduled")["run_id"]
    # Airflow counts the previous run's instances by task id: one failed map index holds every
    # map index of the next run (not only index 1).
    assert h.states("shards", r2) == {"listing": "success", "load": "none"}
    assert "1 previous task instance(s) are not in a successful state" in _ti(h, "shards", r2, "load")["note"]
    h.engine.clear("shards", r1, ["load"], failed_only=True)
    h.drain()
    assert h.store.get_run("shards", r1)["state"] == "success"
    assert h.store.get_run("shards", r2)["state"] == "success"
    assert h.states("shards", r2) == {"listing": "success", "load[0]": "success", "load[1]": "success",
                                      "load[2]": "success"}
    assert h.store.list_xcom("shards", r2, "load") == [10, 20, 30]


def test_a_task_without_depends_on_past_writes_no_past_items(h):
    _write(h, "plain", """
        from datetime import datetime
        from airflow.sdk import dag, task

        @dag(schedule="@daily", start_date=datetime(2026, 1, 1), catchup=False)
        def plain():
            @task
            def one():
                return 1
            one()

        plain()
    """)
    h.run("plain", logical_date=_day(1), run_type="scheduled")
    items = h.clients.client("dynamodb").scan(TableName=h.resources.table)["Items"]
    assert not [i for i in items if i["sk"]["S"].startswith(("PAST#", "PASTWAIT#"))]
    assert ddb.dag_pk("plain") in {i["pk"]["S"] for i in items}


def test_the_first_run_of_a_backfill_does_not_wait_for_the_run_before_the_range(h, tmp_path, monkeypatch):
    flag = tmp_path / "fail"
    monkeypatch.setenv("STRATUS_TEST_FAIL_FLAG", str(flag))
    _write(h, "nightly", FLAKY_LOAD)
    flag.write_text("x")
    before = h.run("nightly", logical_date=_day(1), run_type="scheduled")
    assert before["state"] == "failed"
    flag.unlink()
    # Airflow: PrevDagrunDep passes the backfill's sort_ordinal 1 run ("first run in a backfill");
    # the others depend on the run before them as usual.
    report = run_backfill(h.clients, h.resources, h.plan("nightly"), _day(2), _day(4), engine=h.engine)
    h.drain()
    assert [h.store.get_run("nightly", r)["state"] for r in report.run_ids] == ["success"] * 3
    assert h.store.get_run("nightly", report.run_ids[0])["backfill_ordinal"] == 1
    assert h.store.get_run("nightly", before["run_id"])["state"] == "failed"


def test_a_previous_run_finishing_between_the_check_and_the_waiter_does_not_lose_the_wake_up(h, tmp_path,
                                                                                             monkeypatch):
    """The race at the root of the wake-up: the previous run's task ends after the waiting task
    looked at it but before its waiter is written, so the completer finds no waiter."""
    monkeypatch.setenv("STRATUS_TEST_ORDER", str(tmp_path / "order.txt"))
    _write(h, "ledger", DAILY.format(catchup="False"))
    p = h.start("ledger", logical_date=_day(1), run_type="scheduled")["run_id"]
    h.engine.handle_task(h.dispatcher.tasks.popleft())  # p: extract
    h.engine.handle_task(h.dispatcher.tasks.popleft())  # p: post (close is queued next)
    held = h.dispatcher.tasks.popleft()  # p: close, not run yet
    assert (held.run_id, held.task_id) == (p, "close")
    original = h.store.put_past_waiter
    seen: list[list] = []

    def late_waiter(dag_id, prev_run_id, run_id, task_id, on):
        h.engine.handle_task(held)  # p's close ends now: its wake-up finds no waiter yet
        seen.append(h.store.past_waiters(dag_id, prev_run_id))
        original(dag_id, prev_run_id, run_id, task_id, on)

    monkeypatch.setattr(h.store, "put_past_waiter", late_waiter)
    r = h.start("ledger", logical_date=_day(2), run_type="scheduled")["run_id"]
    h.drain()  # r: extract, post, then close looks at p's close (still queued) and writes its waiter
    assert seen == [[]]  # the completer ran in the window and saw nothing to wake
    assert h.store.get_run("ledger", p)["state"] == "success"
    assert h.store.get_run("ledger", r)["state"] == "success"  # the second look released it, no sweep


def _chain(name: str, depends_on_past: bool) -> str:
    return f"""
        from datetime import datetime
        from airflow.sdk import dag, task

        @dag(schedule="@daily", start_date=datetime(2026, 1, 1), catchup=False,
             default_args={{"depends_on_past": {depends_on_past}}})
        def {name}():
            @task
            def a():
                return 1

            @task
            def b(x):
                return x

            @task
            def c(x):
                return x

            c(b(a()))

        {name}()
    """


def test_depends_on_past_costs_at_most_four_aws_calls_per_task_over_the_same_dag_without_it(h):
    """Per task: the previous run's entry (Query), its instance (GetItem), the waiter look-up of the
    task's own completion (Query); the chain hop (next task queued in the finishing transaction)
    is not taken, so one more UpdateItem. Measured: 18 calls for the plain 3-task run, 29 with it."""
    from tests.functional.engine.conftest import CallCounter

    totals = {}
    for name, dop in (("plain_chain", False), ("past_chain", True)):
        _write(h, name, _chain(name, dop))
        h.run(name, logical_date=_day(1), run_type="scheduled")
        counter = CallCounter(h.clients)
        assert h.run(name, logical_date=_day(2), run_type="scheduled")["state"] == "success"
        totals[name] = counter.total
    assert 0 < totals["past_chain"] - totals["plain_chain"] <= 4 * 3, totals


def test_runs_made_before_the_dag_used_depends_on_past_count_as_previous_runs(h, tmp_path, monkeypatch):
    flag = tmp_path / "fail"
    monkeypatch.setenv("STRATUS_TEST_FAIL_FLAG", str(flag))
    _write(h, "nightly", FLAKY_LOAD.replace('"depends_on_past": True', '"depends_on_past": False'))
    flag.write_text("x")
    r1 = h.run("nightly", logical_date=_day(1), run_type="scheduled")["run_id"]  # load failed, no PAST# entry
    flag.unlink()
    # The next version of the file sets depends_on_past (as Airflow, the next run looks at day 1).
    _write(h, "nightly", FLAKY_LOAD)
    h.plans.clear()
    assert h.plan("nightly").steps[1].past is not None
    assert h.store.get_dag("nightly").get("past_indexed") is True
    r2 = h.run("nightly", logical_date=_day(2), run_type="scheduled")["run_id"]
    assert _ti(h, "nightly", r2, "load")["past_wait"] == r1

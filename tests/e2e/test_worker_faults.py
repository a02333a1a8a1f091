"""Lambda's failure modes on the local cloud: crashed and timed-out workers, duplicate deliveries."""

from __future__ import annotations

import os

import textwrap
from pathlib import Path

import pytest

from orchestrator.local.cloud import LocalCloud
from tests.e2e.conftest import ti_map

DAGS = '''\
from datetime import datetime, timedelta
from pathlib import Path
import time

from orchestrator import dag, task

MARKS = Path(__file__).parent / "marks.txt"


def _mark(name):
    with MARKS.open("a") as fh:
        fh.write(name + "\\n")


@dag(schedule=None, start_date=datetime(2026, 1, 1))
def chain3():
    @task(retries=1, retry_delay=timedelta(seconds=1))
    def a() -> int:
        _mark("a")
        return 1

    @task(retries=1, retry_delay=timedelta(seconds=1))
    def b(x: int) -> int:
        _mark("b")
        return x + 1

    @task
    def c(y: int) -> int:
        _mark("c")
        return y * 10

    c(b(a()))


@dag(schedule=None, start_date=datetime(2026, 1, 1))
def spin():
    @task
    def long() -> None:
        end = time.monotonic() + 30
        while time.monotonic() < end:
            pass

    @task
    def after() -> None:
        _mark("after")

    long() >> after()


chain3()
spin()
'''


@pytest.fixture
def dags(tmp_path: Path) -> Path:
    root = tmp_path / "dags"
    root.mkdir()
    (root / "faults.py").write_text(textwrap.dedent(DAGS))
    return root


def _marks(dags: Path) -> list[str]:
    path = dags / "marks.txt"
    return path.read_text().split() if path.exists() else []


def test_a_worker_killed_before_its_claim_is_invoked_again_through_on_failure(dags):
    # MaximumRetryAttempts is 0: the OnFailure record is the only notice. The try never began
    # (still queued), so the conductor invokes it again instead of spending one of its tries.
    with LocalCloud(dags, auto_advance=True, stack_name="faults") as cloud:
        cloud.crash_next("WorkerFunction", when=lambda event: event.get("task_id") == "b")
        run = cloud.run_dag("chain3")
        tis = ti_map(cloud.engine().store, "chain3", run["run_id"])
        assert cloud.emulation.deliveries["on_failure"] == 1
        assert cloud.invocations["ConductorFunction"] >= 1
    assert run["state"] == "success"
    assert int(tis[("b", -1)]["try_number"]) == 1 and int(tis[("b", -1)]["lost_invokes"]) == 1
    assert sorted(_marks(dags)) == ["a", "b", "c"]  # the crashed invocation never ran the body


def test_a_worker_that_keeps_dying_before_its_claim_fails_the_run_without_retries(dags):
    from orchestrator.engine.conductor import LOST_INVOKE_LIMIT

    with LocalCloud(dags, auto_advance=True, stack_name="faults") as cloud:
        cloud.crash_next("WorkerFunction", when=lambda event: event.get("task_id") == "c",
                         times=LOST_INVOKE_LIMIT + 1)
        run = cloud.run_dag("chain3")
        tis = ti_map(cloud.engine().store, "chain3", run["run_id"])
        assert cloud.emulation.deliveries["on_failure"] == LOST_INVOKE_LIMIT + 1
    assert run["state"] == "failed"
    assert tis[("c", -1)]["state"] == "failed"
    assert "Runtime exited" in str(tis[("c", -1)].get("error"))


def test_the_worker_ends_a_try_before_its_function_times_out(dags):
    """The task body gets the worker function's timeout less a margin: the worker records the
    failure itself (no Lambda timeout, no conductor) and the claim's deadline is that same limit."""
    with LocalCloud(dags, auto_advance=True, stack_name="faults", function_timeouts={"WorkerFunction": 12}) as cloud:
        run = cloud.run_dag("spin")
        tis = ti_map(cloud.engine().store, "spin", run["run_id"])
        on_failure = cloud.emulation.deliveries["on_failure"]
    assert run["state"] == "failed" and on_failure == 0
    assert "timed out after 9.6s (the worker function's timeout)" in str(tis[("long", -1)].get("error"))
    assert tis[("after", -1)]["state"] == "upstream_failed"


def test_timed_out_worker_is_failed_by_the_conductor(dags):
    with LocalCloud(dags, auto_advance=True, stack_name="faults", function_timeouts={"WorkerFunction": 2}) as cloud:
        # A worker that cannot stop the body in time (e.g. blocked in C code): Lambda ends the
        # invocation, the OnFailure record reaches the conductor. (The cloud restores the variable.)
        os.environ["STRATUS_WORKER_TIMEOUT"] = "900"
        run = cloud.run_dag("spin")
        tis = ti_map(cloud.engine().store, "spin", run["run_id"])
    assert run["state"] == "failed"
    assert tis[("long", -1)]["state"] == "failed"
    assert "Task timed out after 2.00 seconds" in str(tis[("long", -1)].get("error"))
    assert tis[("after", -1)]["state"] == "upstream_failed"
    assert _marks(dags) == []


def test_every_task_message_delivered_twice_runs_each_body_once(dags):
    with LocalCloud(dags, auto_advance=True, stack_name="faults") as cloud:
        cloud.duplicate_events("WorkerFunction")
        run = cloud.run_dag("chain3")
        tis = ti_map(cloud.engine().store, "chain3", run["run_id"])
        worker_runs = cloud.invocations["WorkerFunction"]
    assert run["state"] == "success"
    assert {t["state"] for t in tis.values()} == {"success"}
    assert worker_runs == 2 * len(tis)
    assert sorted(_marks(dags)) == ["a", "b", "c"]

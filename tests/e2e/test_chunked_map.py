"""A map bigger than one expansion chunk on the local cloud: the worker creates the first chunk,
the conductor the rest (expand messages through the retry queue), even when a conductor
invocation carrying one of them is killed (SQS redelivers it after the visibility timeout)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from orchestrator.local.cloud import LocalCloud
from tests.e2e.conftest import ti_map

CHUNK, N = 50, 200

DAGS = f'''\
from datetime import datetime

from orchestrator import dag, task


@dag(schedule=None, start_date=datetime(2026, 1, 1), max_active_tasks=200)
def big_map():
    @task
    def make():
        return [f"v{{i}}" for i in range({N})]

    @task
    def work(x):
        return x.upper()

    @task
    def total(xs):
        return xs

    total(work.expand(x=make()))


big_map()
'''


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    root = tmp_path_factory.mktemp("chunked") / "dags"
    root.mkdir()
    (root / "big_map.py").write_text(textwrap.dedent(DAGS))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STRATUS_EXPAND_CHUNK", str(CHUNK))  # the handlers share this process's environment
        with LocalCloud(root, auto_advance=True, stack_name="chunked") as c:
            yield c


def _check(cloud, run) -> None:
    store = cloud.engine().store
    tis = ti_map(store, "big_map", run["run_id"])
    work = [t for (task_id, _), t in tis.items() if task_id == "work"]
    assert run["state"] == "success"
    assert len(work) == N and {t["state"] for t in work} == {"success"}
    assert {int(t["try_number"]) for t in work} == {1}  # each instance created and run once
    assert store.get_xcom("big_map", run["run_id"], "total") == [f"V{i}" for i in range(N)]
    assert run["map_queued#work"] == N


def test_a_map_of_four_chunks_finishes_with_the_reducer_in_map_index_order(cloud: LocalCloud):
    before = dict(cloud.invocations)
    run = cloud.run_dag("big_map")
    _check(cloud, run)
    after = cloud.invocations
    assert after["WorkerFunction"] - before.get("WorkerFunction", 0) == N + 2
    assert after["ConductorFunction"] - before.get("ConductorFunction", 0) >= N // CHUNK - 1


def test_a_killed_conductor_invocation_mid_relay_is_redelivered_and_the_map_finishes(cloud: LocalCloud):
    def carries_expand(event) -> bool:
        return any(json.loads(r.get("body") or "{}").get("kind") == "expand" for r in event.get("Records") or [])

    cloud.crash_next("ConductorFunction", when=carries_expand)
    run = cloud.run_dag("big_map")
    assert not cloud.host.faults or all(f.times == 0 for f in cloud.host.faults)  # the fault fired
    _check(cloud, run)

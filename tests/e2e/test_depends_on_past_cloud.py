"""``depends_on_past`` end to end on the local cloud: the worker's wake-up under its deployed role.

The engine-level semantics (and how we know Airflow's: ``PrevDagrunDep``) are in
``tests/functional/engine/test_depends_on_past.py``. Here the same rules run through the
deployed template: the worker function releases the next run's waiting task from its own
completion, and every call it makes for that (the ``PAST#`` query, the waiter in the previous
run's partition) is authorised against its role by the local cloud's IAM check.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone

import pytest

from orchestrator.local.cloud import LocalCloud
from orchestrator.triggers.backfill import run_backfill
from tests.e2e.conftest import ti_map

DAG_FILE = '''
import os
from datetime import datetime
from airflow.sdk import DAG, task

with DAG("past_e2e", schedule="@daily", start_date=datetime(2026, 1, 1), catchup=False, max_active_runs=3,
         default_args={"depends_on_past": True}):
    @task
    def extract(**context):
        return context["ds"]

    @task
    def load(day):
        flag = os.path.join(os.path.dirname(__file__), "fail")
        if os.path.exists(flag):
            raise ValueError("warehouse down")
        with open(os.path.join(os.path.dirname(__file__), "order.txt"), "a") as f:
            f.write(day + "\\n")

    load(extract())
'''


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    root = tmp_path_factory.mktemp("past") / "dags"
    root.mkdir()
    (root / "past_e2e.py").write_text(DAG_FILE)
    with LocalCloud(root, stack_name="dependsonpast", auto_advance=True) as c:
        yield c


def test_a_waiting_task_is_released_by_the_worker_when_the_past_instance_succeeds(cloud):
    # catchup=False: the previous run is any earlier run, manual ones included (get_previous_dagrun).
    root = cloud.dags_root
    flag = os.path.join(root, "fail")
    open(flag, "w").close()
    first = cloud.run_dag("past_e2e", logical_date=datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert first["state"] == "failed"
    os.remove(flag)
    second = cloud.run_dag("past_e2e", logical_date=datetime(2026, 1, 2, tzinfo=timezone.utc))
    store = cloud.engine().store
    tis = ti_map(store, "past_e2e", second["run_id"])
    assert second["state"] == "running" and tis[("load", -1)]["state"] == "none"
    assert "1 previous task instance(s) are not in a successful state" in tis[("load", -1)]["note"]
    cloud.engine().clear("past_e2e", first["run_id"], ["load"])
    cloud.wait_idle()
    assert store.get_run("past_e2e", first["run_id"])["state"] == "success"
    assert store.get_run("past_e2e", second["run_id"])["state"] == "success"


def test_a_backfill_with_three_runs_at_once_keeps_each_tasks_order(cloud):
    plan = cloud.sync_dag("past_e2e")
    store = cloud.engine().store
    order = os.path.join(cloud.dags_root, "order.txt")
    if os.path.exists(order):
        os.remove(order)
    report = run_backfill(cloud.clients, cloud.resources, plan, datetime(2026, 1, 10, tzinfo=timezone.utc),
                          datetime(2026, 1, 14, tzinfo=timezone.utc), engine=cloud.engine())
    cloud.wait_idle()
    assert [store.get_run("past_e2e", r)["state"] for r in report.run_ids] == ["success"] * 5
    with open(order) as f:
        assert f.read().split() == [f"2026-01-{d}" for d in range(10, 15)]

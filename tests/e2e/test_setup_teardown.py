"""Setup and teardown tasks end to end on the local cloud, with Airflow 3.3's states.

The DAG file (``setup_teardown_dags/st_dags.py``) is written as an Airflow 3 user writes it.
The expected states follow Airflow 3.3's rules (``TriggerRuleDep`` with
``all_done_setup_success`` and the setup constraint, ``DagRun._tis_for_dagrun_state``,
``DAG.partial_subset`` for clears) and were checked by running the same file with Airflow
3.3.2's ``dag.test()`` (see the README's compatibility table).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orchestrator.local.cloud import LocalCloud
from tests.e2e.conftest import ti_map

HERE = Path(__file__).parent / "setup_teardown_dags"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    root = tmp_path_factory.mktemp("st") / "dags"
    root.mkdir()
    shutil.copy(HERE / "st_dags.py", root / "st_dags.py")
    with LocalCloud(root, stack_name="setupteardown", auto_advance=True) as c:
        yield c


def _run(cloud, dag_id):
    run = cloud.run_dag(dag_id)
    tis = ti_map(cloud.engine().store, dag_id, run["run_id"])
    return run, {k[0]: t["state"] for k, t in tis.items()}


def _marks(cloud) -> list[str]:
    path = Path(cloud.dags_root) / "marks.txt"
    return path.read_text().split() if path.exists() else []


def test_teardown_runs_after_failed_work_and_the_work_decides_the_run(cloud):
    run, states = _run(cloud, "st_work_fails")
    assert states == {"create_cluster": "success", "run_query": "failed", "delete_cluster": "success"}
    assert run["state"] == "failed"


def test_a_failed_teardown_does_not_fail_the_run_unless_told(cloud):
    run, states = _run(cloud, "st_teardown_fails")
    assert states == {"create": "success", "work": "success", "delete": "failed"}
    assert run["state"] == "success"
    run, states = _run(cloud, "st_teardown_fails_the_run")
    assert states == {"create": "success", "work": "success", "delete": "failed"}
    assert run["state"] == "failed"


def test_failed_setup_makes_work_and_teardown_upstream_failed(cloud):
    run, states = _run(cloud, "st_setup_fails")
    # report's trigger rule (all_done) alone would run it; its indirect setup failed, so Airflow
    # marks it upstream_failed. The teardown: no setup succeeded -> upstream_failed.
    assert states == {"create": "failed", "load": "upstream_failed", "report": "upstream_failed",
                      "delete": "upstream_failed"}
    assert run["state"] == "failed"


def test_skipped_setup_skips_work_and_teardown(cloud):
    run, states = _run(cloud, "st_setup_skipped")
    assert states == {"create": "skipped", "load": "skipped", "delete": "skipped"}
    assert run["state"] == "success"


def test_with_scope_and_a_group_whose_teardown_fails(cloud):
    run, states = _run(cloud, "st_scope")
    assert states == {"create_cluster": "success", "extract": "success", "transform": "success",
                      "delete_cluster": "success", "g.s": "success", "g.w": "success", "g.t": "failed",
                      "after": "success"}
    assert run["state"] == "success"
    plan = cloud.engine().store.get_current_plan("st_scope")
    # `with ... as_teardown(setups=...)`: extract after the setup, the teardown after transform;
    # `g >> after` leaves the group's teardown out.
    assert plan.step("extract").upstream == ["create_cluster"]
    assert plan.step("delete_cluster").upstream == ["create_cluster", "transform"]
    assert plan.step("after").upstream == ["g.w"]


def test_clearing_the_work_clears_its_setup_and_teardown(cloud):
    run, states = _run(cloud, "st_work_fails")
    assert run["state"] == "failed"
    before = _marks(cloud)
    (Path(cloud.dags_root) / "fixed").write_text("")
    engine = cloud.engine()
    cleared = engine.clear("st_work_fails", run["run_id"], task_ids=["run_query"])
    cloud.wait_idle()
    after = _marks(cloud)[len(before):]
    again = engine.store.get_run("st_work_fails", run["run_id"])
    tis = ti_map(engine.store, "st_work_fails", run["run_id"])
    # Airflow clears the setup and the teardown with the work: all three ran again.
    assert sorted(t for t, _ in cleared) == ["create_cluster", "delete_cluster", "run_query"]
    assert sorted(after) == ["create_cluster", "delete_cluster", "run_query"]
    assert {k[0]: t["state"] for k, t in tis.items()} == {
        "create_cluster": "success", "run_query": "success", "delete_cluster": "success"}
    assert again["state"] == "success"

"""Mapped task groups and XComArg.zip / .concat end to end on the local cloud, with Airflow 3.3's states.

The DAG files (``mapping_dags/``) are written as an Airflow 3 user writes them. The expected
states, per map index, are what Airflow 3.3.2's ``dag.test()`` gives for the same files
(``STRATUS_AIRFLOW_PYTHON=.venv-airflow/bin/python python bench/airflow_states.py
tests/e2e/mapping_dags/mapped_groups.py``), pasted below unchanged. The tasks themselves assert
the values they receive (same index inside the group, the list of all instances after it, zip
tuples, concatenated lists), so a success is also a check of the values.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orchestrator.local.cloud import LocalCloud
from tests.e2e.conftest import ti_map

HERE = Path(__file__).parent / "mapping_dags"

# Airflow 3.3.2 dag.test(), run state and task states ("task[i]" for map index i).
AIRFLOW = {
    "mg_basic": ("success", {
        "tg.double[0]": "success", "tg.double[1]": "success", "tg.double[2]": "success",
        "tg.plus_one[0]": "success", "tg.plus_one[1]": "success", "tg.plus_one[2]": "success",
        "total": "success"}),
    "mg_empty": ("success", {"after": "skipped", "g.one": "skipped", "g.two": "skipped", "nothing": "success"}),
    "mg_expand_kwargs": ("success", {
        "calc.add[0]": "success", "calc.add[1]": "success", "calc.square[0]": "success",
        "calc.square[1]": "success", "collect": "success"}),
    "mg_fail_index": ("failed", {
        "tg.cleanup[0]": "success", "tg.cleanup[1]": "success", "tg.cleanup[2]": "success",
        "tg.double[0]": "success", "tg.double[1]": "failed", "tg.double[2]": "success",
        "tg.plus_one[0]": "success", "tg.plus_one[1]": "upstream_failed", "tg.plus_one[2]": "success",
        "total": "upstream_failed"}),
    "mg_upstream_list": ("success", {
        "end": "success", "make_files": "success",
        "per_file.check[0]": "success", "per_file.check[1]": "success",
        "per_file.done[0]": "success", "per_file.done[1]": "success",
        "per_file.echo[0]": "success", "per_file.echo[1]": "success",
        "per_file.load[0]": "success", "per_file.load[1]": "success", "start": "success"}),
    "mg_fast_rules": ("failed", {
        "calm.fine[0]": "success", "calm.fine[1]": "success", "calm.quiet[0]": "skipped", "calm.quiet[1]": "skipped",
        "g.alarm[0]": "skipped", "g.alarm[1]": "success", "g.alarm[2]": "skipped",
        "g.any_ok[0]": "success", "g.any_ok[1]": "upstream_failed", "g.any_ok[2]": "success",
        "g.join[0]": "success", "g.join[1]": "upstream_failed", "g.join[2]": "success",
        "g.work[0]": "success", "g.work[1]": "failed", "g.work[2]": "success"}),
    "mg_fast_runtime": ("failed", {
        "calm.fine[0]": "success", "calm.fine[1]": "success", "calm.quiet": "skipped",
        "g.alarm[0]": "skipped", "g.alarm[1]": "success", "g.alarm[2]": "skipped",
        "g.any_ok[0]": "success", "g.any_ok[1]": "upstream_failed", "g.any_ok[2]": "success",
        "g.join": "upstream_failed",
        "g.plus_one[0]": "success", "g.plus_one[1]": "upstream_failed", "g.plus_one[2]": "success",
        "g.work[0]": "success", "g.work[1]": "failed", "g.work[2]": "success", "nums": "success", "odd": "success"}),
    "mg_pull": ("success", {
        "grp.echo[0]": "success", "grp.echo[1]": "success", "grp.echo[2]": "success",
        "grp.first[0]": "success", "grp.first[1]": "success", "grp.first[2]": "success",
        "grp.second[0]": "success", "grp.second[1]": "success", "grp.second[2]": "success",
        "grp.tidy[0]": "success", "grp.tidy[1]": "success", "grp.tidy[2]": "success",
        "nums": "success", "summary": "success"}),
    "xz_concat": ("success", {
        "bang[0]": "success", "bang[1]": "success", "bang[2]": "success", "check": "success",
        "check_mapped": "success", "first": "success", "more[0]": "success", "more[1]": "success",
        "second": "success", "second__1": "success", "show[0]": "success", "show[1]": "success",
        "show[2]": "success", "show[3]": "success", "show[4]": "success"}),
    "xz_zip": ("success", {
        "check_longest": "success", "joined": "success", "letters": "success", "longest[0]": "success",
        "longest[1]": "success", "longest[2]": "success", "numbers": "success", "pair[0]": "success",
        "pair[1]": "success", "whole": "success"}),
}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    root = tmp_path_factory.mktemp("mg") / "dags"
    root.mkdir()
    for name in ("mapped_groups.py", "xcom_zip_concat.py"):
        shutil.copy(HERE / name, root / name)
    with LocalCloud(root, stack_name="mappedgroups", auto_advance=True) as c:
        yield c


def _states(cloud, dag_id):
    run = cloud.run_dag(dag_id)
    tis = ti_map(cloud.engine().store, dag_id, run["run_id"])
    return run, {(t if i < 0 else f"{t}[{i}]"): ti["state"] for (t, i), ti in tis.items()}


@pytest.mark.parametrize("dag_id", sorted(AIRFLOW))
def test_states_per_map_index_equal_airflows(cloud, dag_id):
    run, states = _states(cloud, dag_id)
    want_run, want = AIRFLOW[dag_id]
    assert states == want
    assert run["state"] == want_run


def test_a_failed_index_leaves_the_others_running_and_its_reason_is_kept(cloud):
    run, _ = _states(cloud, "mg_fail_index")
    store = cloud.engine().store
    failed = store.get_ti("mg_fail_index", run["run_id"], "tg.double", 1)
    assert "two is not allowed" in (failed.get("error") or "")
    # The downstream of the group saw every instance: plus_one[0] and [2] ran, [1] did not.
    assert store.get_xcom("mg_fail_index", run["run_id"], "tg.plus_one", 0) == 3
    assert store.get_xcom("mg_fail_index", run["run_id"], "tg.plus_one", 2) == 7

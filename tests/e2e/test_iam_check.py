"""IAM on the local cloud: every AWS call a handler makes is authorised against its deployed role.

The check is on in every local cloud (tests/conftest.py fails any test in which a call was
denied); these tests show it sees each function's calls and denies what AWS would deny.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from orchestrator.local.cloud import LocalCloud
from orchestrator.local.dev import local_parameters, sync_registry
from tests.e2e.conftest import ROOT


def _wait_for_run(cloud, dag_id: str, timeout: float = 60.0) -> list:
    store = cloud.engine().store
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cloud.wait_idle()
        runs = store.list_runs(dag_id)
        if runs:
            return runs
        time.sleep(0.05)
    return []


def test_every_functions_calls_are_checked_against_its_role_and_allowed():
    with LocalCloud(ROOT / "dags", auto_advance=True, parameters=local_parameters()) as cloud:
        assert not sync_registry(cloud).errors
        assert cloud.run_dag("etl_taskflow")["state"] == "success"
        assert cloud.run_dag("flaky_retry")["state"] == "success"  # the conductor retries through the queue
        cloud.clients.client("s3").put_object(Bucket=cloud.resources.landing_bucket, Key="incoming/orders-1.csv", Body=b"id\n1\n")
        runs = _wait_for_run(cloud, "s3_arrival")
        assert runs and runs[0]["state"] == "success"
        calls = cloud.iam.calls
        worker, conductor, trigger = (cloud.function_name(f) for f in ("WorkerFunction", "ConductorFunction", "TriggerFunction"))
        # Isolation=dag (the default): the tasks ran in each DAG's own worker, {stack}-worker-{dag}
        workers = sum(n for f, n in calls.items() if f.startswith(worker + "-"))
        assert workers > 20 and calls[conductor] > 0 and calls[trigger] > 0, dict(calls)
        assert cloud.iam.denials == []


def test_a_role_without_dynamodb_delete_item_is_denied_the_runs_last_transaction(tmp_path: Path):
    """template.yaml before the fix granted no dynamodb:DeleteItem; a run's start and finish
    transactions hold a Delete, which AWS authorises as DeleteItem."""
    text = (ROOT / "template.yaml").read_text(encoding="utf-8")
    assert text.count("dynamodb:DeleteItem, ") == 6  # the roles that run the engine, the requests function's included
    old = tmp_path / "template.yaml"
    old.write_text(text.replace("dynamodb:DeleteItem, ", ""), encoding="utf-8")
    # the shared worker's role is the one the template spells (per-DAG roles are generated)
    shared = {**local_parameters(), "Isolation": "shared"}
    with LocalCloud(ROOT / "dags", template=old, code_root=ROOT, auto_advance=True, parameters=shared) as cloud:
        run = cloud.run_dag("etl_taskflow")
        denials = cloud.iam.take_denials()
        assert run["state"] == "running"  # finish_run was refused, as on AWS
        worker = cloud.function_name("WorkerFunction")
        table_arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{cloud.resources.table}"
        assert {(d.function, d.action, d.resource, d.operation) for d in denials} == {
            (worker, "dynamodb:DeleteItem", table_arn, "dynamodb.TransactWriteItems")}
        assert f"function '{worker}'" in str(denials[0]) and "may not dynamodb:DeleteItem" in str(denials[0])


def test_the_handler_sees_access_denied_as_on_aws(tmp_path: Path):
    """A denied call raises AccessDeniedException inside the handler (not only a recorded denial)."""
    text = (ROOT / "template.yaml").read_text(encoding="utf-8")
    no_ssm = tmp_path / "template.yaml"
    no_ssm.write_text(text.replace("Action: [ssm:GetParameter]", "Action: [ssm:GetParameters]"), encoding="utf-8")
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "reads_var.py").write_text(
        "from datetime import datetime\n"
        "from orchestrator import dag, task\n"
        "@dag(schedule=None, start_date=datetime(2026, 1, 1))\n"
        "def reads_var():\n"
        "    @task\n"
        "    def read():\n"
        "        from airflow.sdk import Variable\n"
        "        return Variable.get('colour', default='none')\n"
        "    read()\n"
        "reads_var()\n",
        encoding="utf-8",
    )
    # the shared worker's role is the one this template spells (per-DAG roles are generated)
    with LocalCloud(dags, template=no_ssm, code_root=ROOT, auto_advance=True,
                    parameters={"Isolation": "shared"}) as cloud:
        run = cloud.run_dag("reads_var")
        denials = cloud.iam.take_denials()
        assert run["state"] == "failed"
        assert [(d.action, d.resource.rsplit(":", 1)[1]) for d in denials] == [
            ("ssm:GetParameter", "parameter/stratus/variables/colour")]
        ti = cloud.engine().store.list_tis("reads_var", run["run_id"])[0]
        assert "AccessDeniedException" in str(ti.get("error", "")), ti

"""Per-DAG isolation under `stratus dev`: a DAG saved after the local cloud started gets its own
worker function and role, as the next `stratus deploy` would give it on AWS."""

from __future__ import annotations

from pathlib import Path

from orchestrator.local.cloud import LocalCloud
from orchestrator.local.dev import sync_registry

DAGS = Path(__file__).parent / "isolation_dags"


def test_a_dag_added_while_the_cloud_runs_gets_its_own_worker_as_a_deploy_would(tmp_path):
    """`stratus dev`: a DAG file saved after the start is synced with its own worker and role."""
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "target.py").write_text((DAGS / "target.py").read_text())
    with LocalCloud(dags, auto_advance=True, stack_name="late") as cloud:
        assert not sync_registry(cloud).errors
        (dags / "late_one.py").write_text((DAGS / "target.py").read_text().replace("target", "late_one"))
        report = sync_registry(cloud)
        assert not report.errors, report.errors
        assert cloud.worker_of("late_one") == "late-worker-late_one"
        run = cloud.run_dag("late_one", conf={"n": 4})
        assert run["state"] == "success"
        logical = {v: k for k, v in cloud.stack.physical_ids.items()}["late-worker-late_one"]
        assert cloud.invocations[logical] == 1  # its one task ran in its own function
        assert not cloud.iam.take_denials()

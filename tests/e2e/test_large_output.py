"""A multi-MB task output crosses the local cloud by reference through the artefact bucket."""

from __future__ import annotations

import textwrap

from orchestrator.local.cloud import LocalCloud
from tests.e2e.conftest import ti_map

DAG = '''\
from datetime import datetime
from orchestrator import dag, task

@dag(schedule=None, start_date=datetime(2026, 1, 1))
def big_output():
    @task
    def produce() -> dict:
        return {"blob": "x" * (3 * 1024 * 1024), "rows": list(range(1000))}

    @task
    def consume(data: dict) -> int:
        return len(data["blob"]) + len(data["rows"])

    consume(produce())

big_output()
'''


def test_three_megabyte_output_goes_through_s3_and_reaches_the_next_task(tmp_path):
    (tmp_path / "big.py").write_text(textwrap.dedent(DAG))
    with LocalCloud(tmp_path, auto_advance=True, stack_name="bigout") as cloud:
        run = cloud.run_dag("big_output")
        store = cloud.engine().store
        tis = ti_map(store, "big_output", run["run_id"])
        produced = tis[("produce", -1)]
        objects = cloud.clients.client("s3").list_objects_v2(Bucket=cloud.resources.artefact_bucket).get("Contents", [])
        sizes = [o["Size"] for o in objects]
        consumed = store.get_xcom("big_output", run["run_id"], "consume")
    assert run["state"] == "success"
    assert produced.get("xcom_s3") and not produced.get("xcom")
    assert max(sizes) > 3 * 1024 * 1024
    assert consumed == 3 * 1024 * 1024 + 1000

"""Airflow 3.3.2's own answer for an asset-partitions DAG file: the oracle of ``test_asset_partitions_*``.

``dag.test()`` runs one DAG and starts no consumers, so this runs the runtime-partitioned producers
(``PartitionedAtRuntime`` + ``add_partitions``) with ``dag.test()``, registers the cron producer's event
as its task would (the partition key ``CronPartitionTimetable`` gives the run fired at 2026-03-10T09:00Z),
then lets Airflow's scheduler create the consumer runs (``SchedulerJobRunner._create_dagruns_for_
partitioned_asset_dags``) and prints them: DAG, partition key, partition date, the consumed events' keys;
plus the non-partitioned DAGs queued and the partitions left pending. Needs ``.venv-airflow``
(``make bench-airflow``).

Usage::

    python bench/airflow_partitions.py tests/functional/engine/airflow_compat/c09_partitions.py c09_regions c09_weekly
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.airflow_compare import SKIPPED, airflow_python, prepare_airflow  # noqa: E402

INNER = r'''
import json, sys
from datetime import datetime, timezone
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
from airflow.utils.session import create_session
from airflow.models.dagrun import DagRun
from airflow.models.asset import AssetModel, AssetDagRunQueue, AssetPartitionDagRun, AssetEvent
from airflow.jobs.job import Job
from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
from airflow.timetables.trigger import CronPartitionTimetable
import pendulum

out = {}
# 1. CronPartitionTimetable: the key of the run fired at 2026-03-10T09:00Z (run_offset=-1)
tt = CronPartitionTimetable("0 * * * *", timezone="UTC", run_offset=-1)
date, key = tt._get_partition_info(pendulum.datetime(2026, 3, 10, 9, tz="UTC"))
out["hourly_partition"] = [key, date.isoformat()]
# 2. run each runtime-partitioned producer for real
for dag_id in sys.argv[2:]:
    run = bag.dags[dag_id].test()
    out[dag_id] = str(run.state)
# 3. the hourly producer's event as the task would register it with its run's key (dag.test() runs are manual)
from airflow.assets.manager import asset_manager
with create_session() as s:
    am = s.query(AssetModel).filter(AssetModel.uri == "s3://consuming_1_task/partitions/hourly.csv").one()
    asset_manager.register_asset_change(asset=am, partition_key=key, partition_date=date, session=s)
with create_session() as s:
    runner = SchedulerJobRunner(job=Job())
    runner._create_dagruns_for_partitioned_asset_dags(s)
    s.commit()
with create_session() as s:
    runs = s.query(DagRun).filter(DagRun.run_type == "asset_triggered").order_by(DagRun.dag_id, DagRun.partition_key).all()
    out["consumer_runs"] = [[r.dag_id, r.partition_key, r.partition_date.isoformat() if r.partition_date else None,
                             sorted(e.partition_key for e in r.consumed_asset_events)] for r in runs]
    out["queued_non_partitioned"] = sorted({q.target_dag_id for q in s.query(AssetDagRunQueue).all()})
    out["pending_partitions"] = sorted([p.target_dag_id, p.partition_key] for p in s.query(AssetPartitionDagRun).filter(AssetPartitionDagRun.created_dag_run_id.is_(None)).all())
print("ORACLE " + json.dumps(out))
'''


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    python = airflow_python()
    if python is None:
        print(SKIPPED)
        return 0
    import os

    os.environ["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "False"  # consumers listen, as after stratus sync
    with tempfile.TemporaryDirectory(prefix="stratus-airflow-partitions-") as tmp:
        work = Path(tmp)
        env = prepare_airflow(python, work)
        dags = work / "dags"
        dags.mkdir(exist_ok=True)
        source = Path(argv[0]).resolve()
        shutil.copy(source, dags / source.name)
        done = subprocess.run([str(python), "-c", INNER, str(dags / source.name), *argv[1:]], env=env,
                              capture_output=True, text=True, cwd=work)
        line = next((x for x in done.stdout.splitlines() if x.startswith("ORACLE ")), None)
        print(line[7:] if line else (done.stderr or done.stdout)[-3000:])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

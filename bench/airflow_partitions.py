"""Airflow 3.3.2's own answer for an asset-partitions DAG file: the oracle of ``test_asset_partitions_*``.

``dag.test()`` runs one DAG and starts no consumers (nor can it give a run a partition key), so this
runs the runtime-partitioned producers (``PartitionedAtRuntime`` + ``add_partitions``) named ``DAG`` with
``dag.test()``; for ``DAG=ISO`` (a ``CronPartitionTimetable`` run fired then) and ``DAG@KEY`` (a manual run
triggered with that key) it registers the events the DAG's outlet tasks register with their run's key
(``TaskInstance.register_asset_changes``); then Airflow's scheduler creates the consumer runs
(``SchedulerJobRunner._create_dagruns_for_partitioned_asset_dags``) and this prints them (DAG, partition
key, partition date, the consumed events' keys), the non-partitioned DAGs queued and the partitions left
pending. One level: the consumer runs are created, not run. Needs ``.venv-airflow`` (``make bench-airflow``).

Usage::

    python bench/airflow_partitions.py tests/functional/engine/airflow_compat/c09_partitions.py \
        c09_regions c09_weekly c09_hourly=2026-03-10T09:00:00Z
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.airflow_compare import SKIPPED, airflow_python, prepare_airflow  # noqa: E402

INNER = r"""
import json, sys
import pendulum
from airflow.dag_processing.dagbag import DagBag
from airflow.utils.session import create_session
from airflow.models.dagrun import DagRun
from airflow.models.asset import AssetModel, AssetDagRunQueue, AssetPartitionDagRun
from airflow.assets.manager import asset_manager
from airflow.jobs.job import Job
from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
from airflow.timetables.trigger import CronPartitionTimetable

args = json.loads(sys.argv[2])
bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
out = {"producers": {}}
for dag_id in args["test"]:  # PartitionedAtRuntime producers: their tasks call add_partitions
    out["producers"][dag_id] = str(bag.dags[dag_id].test().state)
bag.dags[sorted(bag.dags)[0]].test() if not args["test"] else None  # writes every DAG of the file to the DB


def emit(dag_id, key, date):
    # what the producer's tasks register when the run has a partition key (TaskInstance.register_asset_changes
    # with dag_run.partition_key / partition_date): one event per outlet asset
    uris = {o.uri for t in bag.dags[dag_id].tasks for o in t.outlets}
    with create_session() as s:
        for am in s.query(AssetModel).filter(AssetModel.uri.in_(uris)):
            asset_manager.register_asset_change(asset=am, partition_key=key, partition_date=date, session=s)


for dag_id, when in args["fire"]:  # a CronPartitionTimetable run fired at `when`: the key its timetable gives
    from airflow.serialization.encoders import coerce_to_core_timetable
    tt = coerce_to_core_timetable(bag.dags[dag_id].timetable)
    date, key = tt._get_partition_info(pendulum.parse(when))
    out["producers"][dag_id] = [key, date.isoformat()]
    emit(dag_id, key, date)
for dag_id, key in args["keyed"]:  # a manual run triggered with partition_key
    out["producers"][dag_id] = [key, None]
    emit(dag_id, key, None)
with create_session() as s:
    SchedulerJobRunner(job=Job())._create_dagruns_for_partitioned_asset_dags(s)
    s.commit()
with create_session() as s:
    runs = s.query(DagRun).filter(DagRun.run_type == "asset_triggered").order_by(DagRun.dag_id, DagRun.partition_key)
    out["consumer_runs"] = [[r.dag_id, r.partition_key, r.partition_date.isoformat() if r.partition_date else None,
                             sorted(e.partition_key for e in r.consumed_asset_events)] for r in runs]
    out["queued_non_partitioned"] = sorted({q.target_dag_id for q in s.query(AssetDagRunQueue).all()})
    out["pending_partitions"] = sorted([p.target_dag_id, p.partition_key] for p in s.query(AssetPartitionDagRun)
                                       .filter(AssetPartitionDagRun.created_dag_run_id.is_(None)).all())
print("ORACLE " + json.dumps(out))
"""


def _options(args: list[str]) -> dict[str, list]:
    """``DAG`` (run with dag.test()), ``DAG=ISO`` (a CronPartitionTimetable fire), ``DAG@KEY`` (a keyed manual run)."""
    out: dict[str, list] = {"test": [], "fire": [], "keyed": []}
    for arg in args:
        if "=" in arg:
            out["fire"].append(arg.split("=", 1))
        elif "@" in arg:
            out["keyed"].append(arg.split("@", 1))
        else:
            out["test"].append(arg)
    return out


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
        done = subprocess.run([str(python), "-c", INNER, str(dags / source.name), json.dumps(_options(argv[1:]))],
                              env=env, capture_output=True, text=True, cwd=work)
        line = next((x for x in done.stdout.splitlines() if x.startswith("ORACLE ")), None)
        print(line[7:] if line else (done.stderr or done.stdout)[-3000:])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Run one DAG file through Apache Airflow's ``dag.test()`` and write timings as JSON.

Runs inside the Airflow virtualenv (``.venv-airflow``), never in Stratus's; started by
``bench/airflow_compare.py`` once per DAG so that each run is a fresh process, as a user's
``python dags/x.py`` with ``dag.test()`` would be. Needs ``AIRFLOW_HOME`` set to a prepared
folder (``airflow db migrate`` done). Usage::

    python bench/_airflow_runner.py DAG_FILE DAG_ID RESULT_JSON
"""

from __future__ import annotations

import json
import statistics
import sys
import time


def main(dag_file: str, dag_id: str, result_path: str) -> None:
    t0 = time.perf_counter()
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=dag_file)
    if bag.import_errors:
        raise SystemExit(f"Airflow could not import {dag_file}: {bag.import_errors}")
    dag = bag.dags[dag_id]
    load_s = time.perf_counter() - t0

    t1 = time.perf_counter()
    run = dag.test()
    test_s = time.perf_counter() - t1

    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state,
                          TaskInstance.start_date, TaskInstance.end_date)
            .filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id)
            .all()
        )
    done = [r for r in rows if r.start_date is not None and r.end_date is not None]
    done.sort(key=lambda r: r.start_date)
    gaps = [
        (b.start_date - a.end_date).total_seconds()
        for a, b in zip(done, done[1:])
    ]
    durations = [(r.end_date - r.start_date).total_seconds() for r in done]
    result = {
        "dag_id": dag_id,
        "state": str(run.state),
        "load_s": load_s,
        "test_s": test_s,
        "task_instances": len(rows),
        "succeeded": sum(1 for r in rows if str(r.state) in ("success", "TaskInstanceState.SUCCESS")),
        "first_start_to_last_end_s": (done[-1].end_date - done[0].start_date).total_seconds() if done else 0.0,
        "median_gap_s": statistics.median(gaps) if gaps else 0.0,
        "median_task_s": statistics.median(durations) if durations else 0.0,
        "first_task_s": durations[0] if durations else 0.0,
    }
    with open(result_path, "w", encoding="utf-8") as fh:
        json.dump(result, fh)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3])

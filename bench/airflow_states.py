"""Task states of a DAG file under Apache Airflow's own ``dag.test()``: the oracle for compatibility tests.

Runs in Stratus's venv; starts Airflow's Python (``.venv-airflow``, ``make bench-airflow``)
once per DAG with a fresh SQLite ``AIRFLOW_HOME``, runs ``dag.test()`` and prints, per DAG,
the run's state and each task instance's state as JSON. Used to check the expected states in
``tests/e2e/test_sensors.py`` and ``tests/e2e/test_setup_teardown.py``.

Usage::

    python bench/airflow_states.py tests/e2e/setup_teardown_dags/st_dags.py [DAG_ID ...]
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

INNER = r'''
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
if bag.import_errors:
    raise SystemExit(f"import errors: {bag.import_errors}")
run = bag.dags[sys.argv[2]].test()
from airflow.models.taskinstance import TaskInstance
from airflow.utils.session import create_session
with create_session() as session:
    rows = session.query(TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state).filter(
        TaskInstance.dag_id == sys.argv[2], TaskInstance.run_id == run.run_id).all()
# A mapped instance is named "task[i]" (Stratus's tests name them the same way).
print("STATES " + json.dumps({"state": str(run.state), "tasks": {
    (t if i < 0 else f"{t}[{i}]"): str(s) for t, i, s in sorted(rows)}}))
'''


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    python = airflow_python()
    if python is None:
        print(SKIPPED)
        return 0
    source = Path(argv[0]).resolve()
    out = {}
    with tempfile.TemporaryDirectory(prefix="stratus-airflow-states-") as tmp:
        work = Path(tmp)
        env = prepare_airflow(python, work)
        dags = work / "dags"
        dags.mkdir(exist_ok=True)
        ids = argv[1:]
        if not ids:
            from orchestrator.plan.loader import DagBag

            bag = DagBag(str(source.parent))  # the DAGs of this file only, not of its neighbours
            ids = sorted(i for i, d in bag.dags.items() if Path(d.fileloc).resolve() == source)
        for dag_id in ids:
            for extra in dags.iterdir():  # each DAG from a fresh copy (its marks files, counters)
                shutil.rmtree(extra) if extra.is_dir() else extra.unlink()
            shutil.copy(source, dags / source.name)
            done = subprocess.run([str(python), "-c", INNER, str(dags / source.name), dag_id], env=env,
                                  capture_output=True, text=True, cwd=work)
            line = next((x for x in done.stdout.splitlines() if x.startswith("STATES ")), None)
            out[dag_id] = json.loads(line[7:]) if line else {"error": (done.stderr or done.stdout)[-1500:]}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

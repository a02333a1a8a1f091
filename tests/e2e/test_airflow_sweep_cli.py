"""`stratus run FILE --conf ... --json` on an Airflow-style DAG file: the command a user types first."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from orchestrator.cli.main import main

SWEEP = Path(__file__).resolve().parents[1] / "functional" / "engine" / "airflow_sweep"


def test_stratus_run_of_a_dag_file_with_conf_prints_states_and_decoded_xcoms(tmp_path, capsys, monkeypatch):
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(SWEEP / "s01_etl_context.py", dags / "s01_etl_context.py")
    monkeypatch.chdir(tmp_path)
    code = main(["run", "dags/s01_etl_context.py", "--conf", '{"limit": 2, "region": "us"}',
                 "--logical-date", "2026-03-04T00:00:00+00:00", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["run"]["state"] == "success" and out["run"]["params"] == {"limit": 2, "region": "us"}
    tis = {t["task_id"]: t for t in out["task_instances"]}
    assert {k: t["state"] for k, t in tis.items()} == {"extract": "success", "transform": "success",
                                                      "load": "success", "report": "success"}
    assert tis["extract"]["xcoms"] == {"return_value": {"rows": [0, 1], "region": "us", "ds": "2026-03-04"},
                                       "ds": "2026-03-04", "region": "us", "rows": [0, 1]}
    assert tis["transform"]["xcoms"]["row_count"] == 2
    assert tis["report"]["xcoms"] == {"return_value": "2026-03-04|us-20260304|2"}

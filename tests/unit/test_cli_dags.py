from __future__ import annotations

import json
import os

import pytest

from orchestrator.cli.main import main

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DAGS = os.path.join(ROOT, "dags")
BROKEN = os.path.join(ROOT, "tests", "fixtures", "broken_dags")


def test_validate_examples_exit_0(capsys):
    assert main(["validate", DAGS]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: ") and "no errors" in out


def test_validate_broken_folder_lists_every_error_with_file_line(capsys):
    assert main(["validate", BROKEN]) == 1
    out = capsys.readouterr().out
    errors = [line for line in out.splitlines() if line.startswith("ERROR ")]
    for expected in ["syntax_error.py:7:", "import_error.py:4:", "bad_call.py:12:", "duplicate_task.py:6:",
                     "bad_expand.py:11:", "bad_asset.py:5:", "raises_in_helper.py:6:", "later_duplicate_id.py:5:"]:
        assert any(expected in e for e in errors), expected
    # the DAG that imports but does not validate: each problem with its file:line
    plan_errors = [e for e in errors if "invalid_plan.py:" in e]
    assert any("cron '0 0 * * * *' has 6 fields" in e for e in plan_errors)
    assert any("is part of a cycle" in e for e in plan_errors)
    assert any("execution_timeout is 1200 s" in e for e in plan_errors)
    assert any("Param 'n'" in e for e in plan_errors)
    assert f"{len(errors)} error(s)" in out


def test_dags_table(capsys):
    assert main(["dags", DAGS]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header == ["DAG", "id", "schedule", "tasks", "file", "paused", "next", "run"]
    row = next(line for line in out.splitlines() if line.startswith("s3_arrival "))
    assert "assets: s3://stratus-landing/incoming/" in row and row.split()[-6:] == ["2", "s3_arrival.py", "-", "on", "asset", "events"]
    row = next(line for line in out.splitlines() if line.startswith("daily_catchup "))
    cells = row.split()
    assert cells[1:5] == ["@daily", "2", "daily_catchup.py", "-"]
    assert cells[5].endswith("T00:00+00:00")  # the next daily fire, in the DAG's time zone


def test_dags_reports_import_errors_on_stderr(capsys):
    assert main(["dags", BROKEN]) == 0
    captured = capsys.readouterr()
    assert "good_dag" in captured.out
    assert "file(s) failed to import" in captured.err


def test_plan_summary_and_json(capsys):
    assert main(["plan", "fanout_map", "--dags", DAGS]) == 0
    out = capsys.readouterr().out
    assert out.startswith("DAG fanout_map  (fanout_map.py)  plan ")
    assert "mapped over n" in out
    assert main(["plan", "fanout_map", "--dags", DAGS, "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["dag_id"] == "fanout_map" and len(plan["hash"]) == 16
    assert [s["task_id"] for s in plan["steps"]] == ["numbers", "square", "scale", "total"]


def test_plan_by_file(capsys):
    assert main(["plan", os.path.join(DAGS, "branching.py"), "--dags", DAGS, "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["fileloc"] == "branching.py"
    assert plan["params"]["amount"]["default"] == 120


def test_plan_unknown_dag(capsys):
    assert main(["plan", "nope_dag", "--dags", DAGS]) == 1
    assert "No DAG 'nope_dag'" in capsys.readouterr().err


def test_plan_invalid_dag_exits_1(capsys):
    assert main(["plan", "invalid_plan", "--dags", BROKEN]) == 1
    err = capsys.readouterr().err
    assert "ERROR " in err and "invalid_plan.py:" in err


def test_default_path_is_dags(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["validate"]) == 0
    assert "under dags" in capsys.readouterr().out


@pytest.mark.parametrize("cmd", ["dags", "validate"])
def test_missing_path(capsys, cmd):
    assert main([cmd, "/nonexistent/xyz"]) == 1
    assert "no such file or folder" in capsys.readouterr().err


def test_dags_and_validate_take_the_folder_as_dags_too(capsys):
    # `--dags PATH` as in run/trigger/sync, so the habit from the other commands works here
    assert main(["validate", "--dags", DAGS]) == 0
    assert "no errors" in capsys.readouterr().out
    assert main(["dags", "--dags", DAGS]) == 0
    assert "etl_taskflow" in capsys.readouterr().out

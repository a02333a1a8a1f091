"""`stratus runs|show|logs|clear|mark` through the CLI entry point, over moto's run store."""

from __future__ import annotations

import time

import pytest
from observe_builders import FakeEngine, make_plan

from orchestrator.cli import main as cli
from orchestrator.cli import view_commands
from orchestrator import telemetry
from orchestrator.observe.logs import capture_invocation, put_invocation_logs
from orchestrator.observe.service import RunsView

RUN = "manual__2026-01-01T06:00:00+00:00"
RUN2 = "scheduled__2026-01-02T06:00:00+00:00"


@pytest.fixture
def view(stack, monkeypatch):
    clients, resources, store = stack
    plan = make_plan()
    store.put_plan(plan)
    for run_id, state, day in ((RUN, "failed", "01"), (RUN2, "running", "02")):
        store.create_run({"dag_id": "daily_sales", "run_id": run_id, "state": state, "run_type": run_id.split("__")[0],
                          "plan_hash": plan.hash, "logical_date": f"2026-01-{day}T06:00:00+00:00",
                          "start_date": f"2026-01-{day}T06:00:01+00:00",
                          "end_date": f"2026-01-{day}T06:01:01+00:00" if state == "failed" else None,
                          "tasks_total": 4, "tasks_done": 2})
    pk = f"RUN#daily_sales#{RUN}"
    store._put({"pk": pk, "sk": "TI#extract#-00001", "dag_id": "daily_sales", "run_id": RUN, "task_id": "extract",
                "map_index": -1, "state": "success", "try_number": 1, "max_tries": 0, "duration": 2.0})
    for i, state in enumerate(("success", "failed")):
        store._put({"pk": pk, "sk": f"TI#clean#{i:06d}", "dag_id": "daily_sales", "run_id": RUN, "task_id": "clean",
                    "map_index": i, "state": state, "try_number": 1, "max_tries": 0, "duration": 1.0,
                    "error": "ValueError: bad row" if state == "failed" else None,
                    "log_stream": "2026/01/01/[$LATEST]c1" if i == 1 else None})
    with capture_invocation() as lines:
        with telemetry.task_log_context("daily_sales", RUN, "clean", 1, 1):
            print("row 1 is bad")
            telemetry.logger.error("bad row")
    put_invocation_logs(clients.client("logs"), "stratus-worker", "2026/01/01/[$LATEST]c1", "r1", lines,
                        started_ms=int(time.time() * 1000))
    engine = FakeEngine()
    v = RunsView(clients, resources, store=store, engine=engine)
    monkeypatch.setattr(view_commands, "view_for", lambda args: v)
    return v, engine


def test_runs_lists_newest_first_without_colour_off_tty(view, capsys):
    assert cli.main(["runs", "daily_sales"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["RUN", "ID", "STATE", "TYPE", "LOGICAL", "DATE", "STARTED", "DURATION", "TASKS"]
    assert lines[1].startswith(RUN2) and "running" in lines[1] and "2/4" in lines[1]
    assert lines[2].startswith(RUN) and "failed" in lines[2] and "1m 00s" in lines[2]
    assert "\x1b[" not in out


def test_runs_of_unknown_dag(view, capsys):
    assert cli.main(["runs", "nope"]) == 1
    assert "error: DAG 'nope' is not registered; run `stratus sync`" in capsys.readouterr().err


def test_show_prints_the_tree(view, capsys):
    assert cli.main(["show", RUN]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith(f"daily_sales  {RUN}  ✘ failed  manual")
    assert "  extract  ✔ success  try 1/1  2.0s" in out
    assert "  clean [mapped x2]  ✘ failed  (1 failed, 1 success)" in out
    assert "    [1]  ✘ failed  try 1/1  1.0s  ValueError: bad row" in out
    assert "  ▾ load_group  ○ no status" in out and "    load  ○ no status" in out


def test_show_unknown_run(view, capsys):
    assert cli.main(["show", "nope"]) == 1
    assert "error: No run with run id 'nope' exists in any DAG." in capsys.readouterr().err


def test_logs_of_a_mapped_try(view, capsys):
    assert cli.main(["logs", RUN, "clean", "--map-index", "1", "--try", "1"]) == 0
    out = capsys.readouterr().out
    assert "row 1 is bad" in out and "ERROR bad row" in out
    assert cli.main(["logs", RUN, "clean", "--map-index", "1", "--try", "2"]) == 1
    assert "has no try 2 (tries so far: 1)" in capsys.readouterr().err


def test_logs_errors_name_what_is_missing(view, capsys):
    assert cli.main(["logs", RUN, "clen"]) == 1
    assert f"Run '{RUN}' of DAG 'daily_sales' has no task 'clen'. Did you mean 'clean'?" in capsys.readouterr().err
    assert cli.main(["logs", RUN, "clean"]) == 1
    assert "Task 'clean' is mapped: pass --map-index N to read one instance's log." in capsys.readouterr().err
    assert cli.main(["logs", RUN, "extract", "--map-index", "0"]) == 1
    assert "Task 'extract' is not mapped: leave out --map-index." in capsys.readouterr().err
    assert cli.main(["logs", RUN, "load_group.load"]) == 0
    assert f"task 'load_group.load' of run '{RUN}' has not started yet: no status" in capsys.readouterr().err


def test_logs_follow_ends_with_the_task_instance_and_lines_carry_times(view, capsys):
    assert cli.main(["logs", RUN, "clean", "--map-index", "1", "--follow"]) == 0  # already failed: ends at once
    lines = capsys.readouterr().out.splitlines()
    printed = next(line for line in lines if line.endswith("row 1 is bad"))
    assert printed[:4] == "20" + printed[2:4] and printed[10] == "T"  # the printed line has its own time


def test_clear_and_mark_call_the_engine(view, capsys):
    _, engine = view
    assert cli.main(["clear", RUN, "--task", "clean", "--downstream", "--failed-only", "--dag", "daily_sales"]) == 0
    assert engine.calls[-1] == (
        "clear", ("daily_sales", RUN, ["clean"]), {"downstream": True, "failed_only": True})
    assert f"Cleared 'clean' (failed only) and downstream in run '{RUN}' of DAG 'daily_sales': clean." in capsys.readouterr().out
    assert cli.main(["mark", RUN, "extract", "failed"]) == 0
    assert engine.calls[-1] == ("mark", ("daily_sales", RUN, "extract", "failed"), {})
    assert f"Marked task 'extract' in run '{RUN}' of DAG 'daily_sales' as failed." in capsys.readouterr().out


def test_mark_rejects_other_states(view, capsys):
    with pytest.raises(SystemExit):
        cli.main(["mark", RUN, "extract", "skipped"])
    assert "invalid choice: 'skipped'" in capsys.readouterr().err


def test_without_a_target_the_commands_say_what_to_start(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STRATUS_STACK", raising=False)
    for argv in (["runs", "daily_sales"], ["show", RUN], ["logs", RUN, "extract"], ["ui", "--port", "0"]):
        assert cli.main(argv) == 1
        assert "error: No cloud to talk to: start `stratus dev` in this folder" in capsys.readouterr().err

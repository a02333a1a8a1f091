from __future__ import annotations

import json
import textwrap
from dataclasses import replace

import pytest

from orchestrator.cli import trigger_commands
from orchestrator.cli.main import main
from orchestrator.engine.engine import Engine
from orchestrator.store import RunStore
from orchestrator.triggers import api, backfill
from orchestrator.triggers import runs as runs_mod

DAG = """
from datetime import datetime, timezone
from orchestrator import Param, dag, task

@dag(schedule="0 6 * * *", start_date=datetime(2026, 1, 1, tzinfo=timezone.utc), max_active_runs=2,
     params={"limit": Param(10, type="integer", minimum=1)})
def cli_daily():
    @task
    def work(params=None):
        return params["limit"]
    work()

cli_daily()
"""


class NullDispatcher:
    def invoke_worker(self, msg, function_name=None):
        pass

    def schedule_retry(self, msg, delay_s):
        pass


@pytest.fixture
def env(aws, tmp_path, monkeypatch):
    clients, resources = aws
    resources = replace(resources, trigger_function="arn:aws:lambda:us-east-1:123456789012:function:stratus-trigger")
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "cli_daily.py").write_text(textwrap.dedent(DAG))
    monkeypatch.setattr(trigger_commands, "_resolve", lambda args: (clients, resources))

    def engine(c, r):
        return Engine(RunStore(c, r), NullDispatcher())

    for mod in (runs_mod, api, backfill):
        monkeypatch.setattr(mod, "make_engine", engine)
    return clients, resources, str(dags)


def test_sync_dry_run_then_sync(env, capsys):
    clients, resources, dags = env
    assert main(["sync", "--dags", dags, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would register 1 DAG(s): cli_daily" in out
    assert "+ create schedule cli_daily [DAG 'cli_daily'] cron(0 6 * * ? *)" in out
    assert RunStore(clients, resources).list_dags() == []
    assert main(["sync", "--dags", dags]) == 0
    assert main(["sync", "--dags", dags]) == 0
    assert "schedules already match" in capsys.readouterr().out


def test_trigger_with_conf_and_errors(env, capsys):
    clients, resources, dags = env
    main(["sync", "--dags", dags])
    capsys.readouterr()
    assert main(["trigger", "cli_daily", "--conf", '{"limit": 3}', "--logical-date", "2026-02-01T06:00:00Z"]) == 0
    assert "run 'manual__2026-02-01T06:00:00+00:00'" in capsys.readouterr().out
    assert main(["trigger", "cli_daily", "--conf", "{oops"]) == 1
    assert "error: --conf for DAG 'cli_daily' is not valid JSON" in capsys.readouterr().err
    assert main(["trigger", "cli_daily", "--conf", '{"limit": 0}']) == 1
    err = capsys.readouterr().err
    assert "DAG 'cli_daily'" in err and "limit" in err
    assert main(["trigger", "nope"]) == 1
    assert "DAG 'nope' is not registered" in capsys.readouterr().err


def test_backfill_json_and_pause(env, capsys):
    clients, resources, dags = env
    main(["sync", "--dags", dags])
    capsys.readouterr()
    assert main(["backfill", "cli_daily", "--start", "2026-01-01", "--end", "2026-01-03", "--no-wait", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in body["runs"]] == [f"backfill__2026-01-0{d}T06:00:00+00:00" for d in (1, 2, 3)]
    states = [r["state"] for r in RunStore(clients, resources).list_runs("cli_daily", newest_first=False)]
    assert states == ["running", "running", "queued"]
    assert main(["pause", "cli_daily"]) == 0
    out = capsys.readouterr().out
    assert "DAG 'cli_daily' is paused." in out and "- delete schedule cli_daily" in out
    assert main(["unpause", "cli_daily"]) == 0
    assert "+ create schedule cli_daily" in capsys.readouterr().out


def test_backfill_bad_range(env, capsys):
    clients, resources, dags = env
    main(["sync", "--dags", dags])
    capsys.readouterr()
    assert main(["backfill", "cli_daily", "--start", "2026-01-05", "--end", "2026-01-01"]) == 1
    assert "is before --start" in capsys.readouterr().err


BROKEN = {
    "bad_cron": 'schedule="0 25 * * *"',
    "bad_zone": 'schedule=CronTriggerTimetable("0 6 * * *", timezone="Mars/Olympus")',
    "reserved_scheme": 'schedule=[Asset("airflow://bucket/data/")]',  # the one scheme Airflow refuses
}


def test_sync_reports_bad_schedules_clearly(env, capsys, tmp_path):
    clients, resources, _ = env
    dags = tmp_path / "broken"
    dags.mkdir()
    for name, schedule in BROKEN.items():
        (dags / f"{name}.py").write_text(textwrap.dedent(f"""
            from datetime import datetime
            from orchestrator import Asset, CronTriggerTimetable, dag, task

            @dag({schedule}, start_date=datetime(2026, 1, 1))
            def {name}():
                @task
                def t():
                    return 1
                t()

            {name}()
        """))
    assert main(["sync", "--dags", str(dags)]) == 1
    out = capsys.readouterr().out
    errors = [line for line in out.splitlines() if line.startswith("! ")]
    assert len(errors) == 3, out
    joined = "\n".join(errors)
    assert "bad_cron" in joined and "'0 25 * * *'" in joined
    assert "bad_zone" in joined and "Mars/Olympus" in joined
    assert "reserved_scheme" in joined and "airflow://bucket/data/" in joined
    assert RunStore(clients, resources).list_dags() == []


def test_sync_on_a_stack_refreshes_the_dashboard_without_failing(env, capsys):
    clients, resources, dags = env
    assert main(["sync", "--dags", dags, "--stack", "no-such-stack"]) == 0
    out = capsys.readouterr().out
    assert "+ create schedule cli_daily" in out
    assert "! dashboard not updated:" in out


def test_trigger_conf_too_deep_or_not_storable_is_a_clean_error(env, capsys):
    """Issue #15: the CLI printed a RecursionError for a deeply nested conf; DynamoDB stores 32 levels."""
    clients, resources, dags = env
    main(["sync", "--dags", dags])
    capsys.readouterr()
    for conf, expected in (('{"a": ' * 900 + "1" + "}" * 900, "nests 900 levels deep; DynamoDB stores at most 30"),
                           ('{"a": ' * 40 + "1" + "}" * 40, "nests 40 levels deep; DynamoDB stores at most 30"),
                           ('{"a": ' + '[' * 100000 + ']' * 100000 + "}", "is not valid JSON (the JSON nests too deeply)"),
                           ('{"limit": NaN}', "NaN is not valid JSON"),
                           ('{"big": 1234567890123456789012345678901234567890}', "field conf.big: a number of 40 digits")):
        assert main(["trigger", "cli_daily", "--conf", conf]) == 1
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err and "RecursionError" not in err, err[:300]
    assert RunStore(clients, resources).list_runs("cli_daily") == []

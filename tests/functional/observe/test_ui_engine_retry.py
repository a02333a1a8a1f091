"""The UI's retry button through the real engine: a failed task is cleared and succeeds on its next try.

Workers run inline from a queue (the worker's code path, Engine.handle_task, minus the Lambda hop).
"""

from __future__ import annotations

import html
import json
import re
import urllib.parse
import urllib.request

import pytest
from observe_builders import UIClient

from orchestrator.observe.ui import UIServer

FLAKY = '''
from __future__ import annotations
from datetime import datetime
from pathlib import Path
from orchestrator import dag, task

MARKER = Path(__file__).with_name("flaky.attempted")


@dag(schedule=None, start_date=datetime(2026, 1, 1))
def flaky():
    @task
    def extract():
        return [1, 2]

    @task
    def load(rows):
        if not MARKER.exists():
            MARKER.write_text("1")
            raise RuntimeError("warehouse offline")
        return len(rows)

    load(extract())


flaky()
'''


@pytest.fixture
def setup(inline_engine, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    engine, drain, store, view = inline_engine({"flaky.py": FLAKY}, "flaky")
    with UIServer(view, port=0) as server:
        yield server, engine, drain, store


def _page(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read().decode()


def test_retry_button_reruns_the_failed_task(setup):
    server, engine, drain, store = setup
    run = engine.start_run("flaky")
    drain()
    run_id = run["run_id"]
    assert store.get_run("flaky", run_id)["state"] == "failed"
    page = _page(f"{server.url}/dags/flaky")
    assert f'data-task="load" data-run="{html.escape(run_id)}" data-state="failed"' in page
    assert "RuntimeError: warehouse offline" in page
    # The Retry form of the failed task, exactly as the page renders it.
    forms = [json.loads(html.unescape(p)) for p in
             re.findall(r'name="params" value="([^"]+)"><input type="hidden" name="csrf" value="[0-9a-f]+">'
                        r'<button type="submit" class="btn clear"', page)]
    retry = next(p for p in forms if p.get("task_id") == "load")
    client = UIClient(server.url)
    after_click = client.post("/action", {"params": json.dumps(retry)})[1]
    assert "Cleared task &#x27;load&#x27;" in after_click
    drain()
    page = _page(f"{server.url}/dags/flaky?" + urllib.parse.urlencode({"run_id": run_id}))
    assert f'<h4 class="run" data-run="{html.escape(run_id)}" data-state="success">' in page
    assert f'data-task="load" data-run="{html.escape(run_id)}" data-state="success"' in page
    load = store.get_ti("flaky", run_id, "load")
    assert load["state"] == "success" and int(load["try_number"]) == 2
    assert "#1 failed" in html.unescape(page) and "#2 success" in html.unescape(page)


def test_cli_clear_and_mark_through_the_engine(inline_engine, monkeypatch, capsys):
    from orchestrator.cli import main as cli
    from orchestrator.cli import view_commands

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    engine, drain, store, view = inline_engine({"flaky.py": FLAKY}, "flaky")
    monkeypatch.setattr(view_commands, "view_for", lambda args: view)
    run_id = engine.start_run("flaky")["run_id"]
    drain()
    assert cli.main(["show", run_id]) == 0
    assert "load  ✘ failed  try 1/1" in capsys.readouterr().out
    assert cli.main(["clear", run_id, "--task", "load", "--failed-only"]) == 0
    out = capsys.readouterr().out
    assert out == f"Cleared 'load' (failed only) in run '{run_id}' of DAG 'flaky': load.\n"  # engine lines went to stderr
    drain()
    assert cli.main(["show", run_id]) == 0
    shown = capsys.readouterr().out
    assert f"flaky  {run_id}  ✔ success" in shown and "load  ✔ success  try 2/2" in shown
    assert cli.main(["mark", run_id, "load", "failed"]) == 0
    drain()
    assert store.get_run("flaky", run_id)["state"] == "failed"
    assert cli.main(["clear", run_id, "--task", "extract"]) == 0
    assert "Cleared 'extract'" in capsys.readouterr().out

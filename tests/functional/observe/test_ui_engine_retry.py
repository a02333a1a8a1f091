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
             re.findall(r'name="params" value="([^"]+)"><button type="submit" class="btn clear"', page)]
    retry = next(p for p in forms if p.get("task_id") == "load")
    data = urllib.parse.urlencode({"params": json.dumps(retry)}).encode()
    with urllib.request.urlopen(urllib.request.Request(server.url + "/action", data=data), timeout=10) as resp:
        after_click = resp.read().decode()
    assert "Cleared task &#x27;load&#x27;" in after_click
    drain()
    page = _page(f"{server.url}/dags/flaky?" + urllib.parse.urlencode({"run_id": run_id}))
    assert f'<h4 class="run" data-run="{html.escape(run_id)}" data-state="success">' in page
    assert f'data-task="load" data-run="{html.escape(run_id)}" data-state="success"' in page
    load = store.get_ti("flaky", run_id, "load")
    assert load["state"] == "success" and int(load["try_number"]) == 2
    assert "#1 failed" in html.unescape(page) and "#2 success" in html.unescape(page)

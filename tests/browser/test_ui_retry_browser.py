"""`stratus ui` in headless Chromium on a local cloud: a failed task, Retry (confirmed), success.

The DAG's ``load`` task fails on its first try and succeeds on the next (a marker file next to
the DAG file remembers the first attempt). The run fails; the grid shows ``load`` failed; the
Retry button asks for confirmation (accepted), clears the task, and the local cloud runs it
again; the page (refreshing itself while the run is active) then shows the run in success.
A screenshot goes to tests/browser/artifacts/ui-grid.png.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from orchestrator.observe.service import RunsView
from orchestrator.observe.ui import UIServer

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

FLAKY = '''
from __future__ import annotations
from datetime import datetime
from pathlib import Path
from orchestrator import dag, task

MARKER = Path(__file__).with_name("flaky_ui.attempted")


@dag(schedule=None, start_date=datetime(2026, 1, 1))
def flaky_ui():
    @task
    def extract():
        return [1, 2, 3]

    @task
    def load(rows):
        if not MARKER.exists():
            MARKER.write_text("1")
            raise RuntimeError("warehouse offline")
        return len(rows)

    load(extract())


flaky_ui()
'''


@pytest.fixture
def cloud(tmp_path, monkeypatch):
    from orchestrator.local import cloud as local

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    root = tmp_path / "dags"
    root.mkdir()
    (root / "flaky_ui.py").write_text(textwrap.dedent(FLAKY))
    with local.LocalCloud(str(root)) as lc:
        yield lc


def test_retry_from_the_grid_reruns_the_failed_task(cloud, chromium_page):
    run = cloud.run_dag("flaky_ui")
    cloud.wait_idle(60)
    run_id = run["run_id"]
    view = RunsView(cloud.clients, cloud.resources)
    assert view.run(run_id, "flaky_ui")["state"] == "failed"
    page = chromium_page
    dialogs: list[str] = []

    def accept(dialog) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    with UIServer(view, port=0) as server:
        page.goto(f"{server.url}/dags/flaky_ui")
        failed = page.locator(f'.grid .sq[data-task="load"][data-run="{run_id}"]')
        assert failed.get_attribute("data-state") == "failed"
        assert page.locator('h4.run[data-state="failed"]').count() == 1
        retry = page.locator('tr.ti[data-task="load"] button[data-action="clear"]')
        assert retry.inner_text() == "Retry"
        with page.expect_navigation():
            retry.click()
        assert dialogs == [f"Clear task 'load' in run '{run_id}' of DAG 'flaky_ui' so that it runs again?"]
        # The page refreshes itself every 2 s while the run is active.
        page.wait_for_selector(f'h4.run[data-run="{run_id}"][data-state="success"]', timeout=60_000)
        assert page.locator(f'.grid .sq[data-task="load"][data-run="{run_id}"]').get_attribute("data-state") == "success"
        assert "#1 failed" in page.locator('tr.ti[data-task="load"]').inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "ui-grid.png"), full_page=True)
        # Each try's log is one click away: try 1 holds the failure.
        href = page.locator('tr.ti[data-task="load"] a.log[data-try="1"]').get_attribute("href")
        page.goto(server.url + href)  # the link opens a new tab; follow it here
        log_text = page.locator("pre.log").inner_text()
        assert "warehouse offline" in log_text and "task started" in log_text
    ti = view.ti("flaky_ui", run_id, "load")
    assert ti["state"] == "success" and int(ti["try_number"]) == 2

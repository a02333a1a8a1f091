"""The dashboard seen before deploying: the local cloud's dashboard body rendered by `stratus dashboard`.

Real runs on a local cloud with metrics on (the functions' EMF lines are the metrics), the
dashboard put as `stratus dev` / `stratus sync` put it, then the page: the grid drawn by the real
widget function, the charts from the recorded metrics. A screenshot goes to
tests/browser/artifacts/dashboard-preview.png (the README's docs/img/dashboard-preview.png).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

DAG = '''
from datetime import datetime
from pathlib import Path
from orchestrator import dag, task

MARKER = Path(__file__).with_name("dash_demo.attempted")


@dag(schedule="@daily", start_date=datetime(2026, 1, 1), catchup=False, default_args={"retries": 1, "retry_delay": 0})
def dash_demo():
    @task
    def extract():
        return list(range(5))

    @task
    def work(x):
        if x == 3 and not MARKER.exists():
            MARKER.write_text("1")
            raise RuntimeError("flaky shop 3")
        return x * 2

    work.expand(x=extract())


dash_demo()
'''


def test_dashboard_preview_draws_the_grid_and_the_recorded_metrics(tmp_path, monkeypatch, chromium_page):
    from orchestrator.local.cloud import LocalCloud
    from orchestrator.local.dev import sync_registry
    from orchestrator.observe.dashpreview import render_preview

    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    root = tmp_path / "dags"
    root.mkdir()
    (root / "dash_demo.py").write_text(textwrap.dedent(DAG))
    with LocalCloud(str(root), auto_advance=True) as cloud:
        sync_registry(cloud)  # what `stratus dev` does at start and on every change: registry, schedules, dashboard
        for _ in range(2):
            run = cloud.run_dag("dash_demo", timeout=120)
            assert run["state"] == "success"
        body = json.loads(cloud.clients.client("cloudwatch").get_dashboard(DashboardName=cloud.stack_name)["DashboardBody"])
        kinds = [w["type"] for w in body["widgets"]]
        assert "custom" in kinds and "metric" in kinds
        page = render_preview(body, clients=cloud.clients, resources=cloud.resources)
    out = tmp_path / "dashboard.html"
    out.write_text(page)
    assert "cdn" not in page.lower() and "<script" not in page
    browser = chromium_page
    browser.goto(out.as_uri())
    grid = browser.locator('section[data-type="custom"] .sg[data-dag="dash_demo"]')
    assert grid.count() == 1  # drawn by the deployed widget function
    assert grid.locator(".grid .bar").count() == 2
    charts = browser.locator('section[data-type="metric"]')
    assert charts.count() >= 2
    runs_chart = browser.locator('section[data-type="metric"]', has_text="Runs succeeded")
    points = [int(x) for x in runs_chart.locator(".lg").evaluate_all("els => els.map(e => e.dataset.points)")]
    assert sum(points) >= 1  # RunsSucceeded from the worker's EMF lines
    retries = browser.locator('section[data-type="metric"]', has_text="Task failures and retries")
    assert "dash_demo retried" in retries.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    browser.set_viewport_size({"width": 1400, "height": 900})
    browser.screenshot(path=str(ARTIFACTS / "dashboard-preview.png"), full_page=True)

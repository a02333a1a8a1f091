"""Every `stratus ui` page in headless Chromium over a local cloud with real runs; each leaves a screenshot.

One local cloud (module scope) holds two DAGs: ``sales_pipeline`` (cron in Europe/Berlin, tags,
doc_md, a task group, a 12-way map, a task that fails once then succeeds, an outlet asset) and
``sales_report`` (scheduled on that asset). Screenshots go to tests/browser/artifacts/ (git-ignored);
the README's come from here too (copied to docs/img/ by hand).
"""

from __future__ import annotations

import re
import textwrap
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

import pytest

from orchestrator.observe.service import RunsView
from orchestrator.observe.ui import UIServer

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

PIPELINE = '''
from __future__ import annotations
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo
from orchestrator import Asset, dag, task, task_group

MARKER = Path(__file__).with_name("sales_pipeline.attempted")
SALES = Asset("s3://lake/sales/")


@dag(schedule="0 6 * * *", start_date=datetime(2026, 1, 1, tzinfo=ZoneInfo("Europe/Berlin")), catchup=False,
     tags=["sales", "daily"], description="Daily sales from the shops to the lake",
     doc_md="""
# Sales pipeline

Pulls the day's **orders** from every shop, cleans each one and loads them:

- `extract` lists the shops
- `clean` runs once per shop (*mapped*)
- `load` writes `s3://lake/sales/`
""")
def sales_pipeline():
    @task
    def extract() -> list[int]:
        return list(range(12))

    @task
    def clean(shop: int) -> dict:
        return {"shop": shop, "rows": shop * 3}

    @task_group
    def publish(rows):
        @task
        def validate(rows: list[dict]) -> int:
            if not MARKER.exists():
                MARKER.write_text("1")
                raise RuntimeError("schema registry unreachable")
            return len(rows)

        @task(outlets=[SALES])
        def load(n: int) -> str:
            print("loaded", n, "shops")
            return f"{n} shops"

        return load(validate(rows))

    publish(clean.expand(shop=extract()))


sales_pipeline()
'''

REPORT = '''
from datetime import datetime
from orchestrator import Asset, dag, task


@dag(schedule=[Asset("s3://lake/sales/")], start_date=datetime(2026, 1, 1), tags=["sales"])
def sales_report():
    @task
    def summarise(triggering_asset_events=None) -> int:
        return len(triggering_asset_events or {})

    summarise()


sales_report()
'''

EXPORT = '''
from datetime import datetime
from orchestrator import BashOperator, Param, dag


@dag(schedule=None, start_date=datetime(2026, 1, 1), params={"shop": Param("berlin", type="string")})
def sales_export():
    BashOperator(task_id="export",
                 bash_command="echo exporting {{ ds }} for {{ params.shop }}, conf {{ dag_run.conf }}",
                 env={"DB_PASS": "{{ var.value.warehouse_password }}", "SHOP": "{{ params.shop }}"})


sales_export()
'''
EXPORT_SECRET = "hunter2-browser-pw"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from orchestrator.local import cloud as local

    mp = pytest.MonkeyPatch()
    mp.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    root = tmp_path_factory.mktemp("dags")
    (root / "sales_pipeline.py").write_text(textwrap.dedent(PIPELINE))
    (root / "sales_report.py").write_text(textwrap.dedent(REPORT))
    (root / "sales_export.py").write_text(textwrap.dedent(EXPORT))
    mp.setenv("AIRFLOW_VAR_WAREHOUSE_PASSWORD", EXPORT_SECRET)
    with local.LocalCloud(str(root)) as cloud:
        from orchestrator.triggers.sync import sync_folder

        report = sync_folder(cloud.clients, cloud.resources, str(root), now=cloud.now())
        assert not report.errors, report.errors
        failed = cloud.run_dag("sales_pipeline", timeout=120)
        assert failed["state"] == "failed"
        engine = cloud.engine()
        engine.clear("sales_pipeline", failed["run_id"], ["publish.validate"], downstream=True)
        cloud.wait_idle(120)
        second = cloud.run_dag("sales_pipeline", timeout=120)
        cloud.wait_idle(120)
        exported = cloud.run_dag("sales_export", conf={"batch": 7}, logical_date=datetime(2026, 3, 14, 6, tzinfo=timezone.utc),
                                 timeout=120)
        assert exported["state"] == "success"
        view = RunsView(cloud.clients, cloud.resources)
        with UIServer(view, port=0) as server:
            yield cloud, server, view, failed["run_id"], second["run_id"]
    mp.undo()


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_dag_list_shows_schedule_tags_runs_and_filters(world, chromium_page):
    cloud, server, view, first, second = world
    page = chromium_page
    page.goto(server.url + "/")
    row = page.locator('tr.dagrow[data-dag="sales_pipeline"]')
    text = row.inner_text()
    assert "every day at 06:00" in text and "0 6 * * *" in text and "Europe/Berlin" in text
    assert "sales" in text and "daily" in text and "Daily sales from the shops" in text
    assert row.locator("td.next").inner_text().endswith(("CET", "CEST", "UTC"))
    assert row.locator(".pill").inner_text() == "success"
    report = page.locator('tr.dagrow[data-dag="sales_report"]').inner_text()
    assert "when assets update" in report and "s3://lake/sales/" in report
    _shot(page, "dag-list")
    page.fill("input.search", "report")
    assert page.locator('tr.dagrow[data-dag="sales_pipeline"]').is_hidden()
    assert page.locator('tr.dagrow[data-dag="sales_report"]').is_visible()


def test_pause_toggle_stops_the_schedule(world, chromium_page):
    cloud, server, view, first, second = world
    from orchestrator.triggers.sync import read_existing

    assert "sales_pipeline" in read_existing(cloud.clients, cloud.resources.scheduler_group)
    page = chromium_page
    page.goto(server.url + "/")
    toggle = page.locator('tr.dagrow[data-dag="sales_pipeline"] button.toggle')
    assert toggle.get_attribute("data-paused") == "false"
    with page.expect_navigation():
        toggle.click()
    assert "Paused DAG 'sales_pipeline': its schedule stopped" in page.locator(".notice").inner_text()
    row = page.locator('tr.dagrow[data-dag="sales_pipeline"]')
    assert row.locator("button.toggle").get_attribute("data-paused") == "true"
    assert row.locator("td.next").inner_text() == "paused"
    _shot(page, "dag-list-paused")
    # The schedule is gone from EventBridge Scheduler and the registry says paused.
    assert "sales_pipeline" not in read_existing(cloud.clients, cloud.resources.scheduler_group)
    assert view.store.get_dag("sales_pipeline")["paused"] is True
    with page.expect_navigation():
        row.locator("button.toggle").click()
    assert "sales_pipeline" in read_existing(cloud.clients, cloud.resources.scheduler_group)
    assert view.store.get_dag("sales_pipeline")["paused"] is False


def test_grid_has_dates_on_the_axis_and_a_clean_succeeded_row(world, chromium_page):
    cloud, server, view, first, second = world
    page = chromium_page
    page.goto(f"{server.url}/dags/sales_pipeline?" + urlencode({"run_id": first}))
    assert page.locator("tr.dates th.date span").count() == page.locator(".grid .bar").count() >= 2
    assert re.fullmatch(r"\d\d-\d\d \d\d:\d\d", page.locator("tr.dates th.date span").first.inner_text())
    validate = page.locator('tr.ti[data-task="publish.validate"]')
    assert validate.get_attribute("data-state") == "success"
    assert validate.locator("td.err").inner_text() == ""  # try 1's error is not shown in red any more
    assert "#1 failed" in validate.inner_text() and "#2 success" in validate.inner_text()
    assert page.locator('.grid .sq[data-task="clean"]').first.inner_text() == "12"
    _shot(page, "grid")


def test_grid_pages_through_older_runs(world, chromium_page):
    cloud, server, view, first, second = world
    page = chromium_page
    newest_first = [r["run_id"] for r in view.runs("sales_pipeline", 10)]
    page.goto(f"{server.url}/dags/sales_pipeline?limit=1")
    assert page.locator(".grid .bar").count() == 1
    assert page.locator(".grid .bar").get_attribute("data-run") == newest_first[0]
    assert page.locator("a.newer").count() == 0
    page.click("a.older")
    assert page.locator(".grid .bar").get_attribute("data-run") == newest_first[1]
    assert page.locator("a.newer").count() == 1


def test_graph_colours_states_and_collapses_groups(world, chromium_page):
    cloud, server, view, first, second = world
    page = chromium_page
    page.goto(f"{server.url}/dags/sales_pipeline/graph?" + urlencode({"run_id": first}))
    node = page.locator('.graph .node[data-task="publish.validate"]')
    assert node.get_attribute("data-state") == "success" and "st-success" in node.get_attribute("class")
    assert "[12]" in page.locator('.graph .node[data-task="clean"]').inner_text()
    page.wait_for_selector(".graph[data-drawn]")
    assert int(page.locator(".graph").get_attribute("data-drawn")) == 3  # extract>clean>validate>load
    _shot(page, "graph")
    page.click('button[data-toggle-group="publish"]')
    assert node.is_hidden() and page.locator('.groupnode[data-group-node="publish"]').is_visible()
    assert int(page.locator(".graph").get_attribute("data-drawn")) == 2  # extract>clean>publish
    _shot(page, "graph-collapsed")
    page.click('.groupnode[data-group-node="publish"]')
    assert node.is_visible()


def test_gantt_of_a_finished_run(world, chromium_page):
    cloud, server, view, first, second = world
    assert view.run(first, "sales_pipeline")["state"] == "success"
    page = chromium_page
    page.goto(f"{server.url}/dags/sales_pipeline")
    page.click('nav.tabs a[data-tab="gantt"]')
    page.select_option("select[name=run_id]", first)
    page.wait_for_selector(f'.gantt[data-run="{first}"]')
    rows = page.locator(".gantt .row")
    assert rows.count() == 1 + 12 + 2 + 2  # extract, 12 cleans, validate's two tries, load (twice: cleared downstream)
    tries = page.locator('.gantt .row[data-task="publish.validate"]')
    assert tries.count() == 2 and "st-failed" in tries.first.locator(".gbar").get_attribute("class")
    _shot(page, "gantt")


def test_code_and_doc_md(world, chromium_page):
    cloud, server, view, first, second = world
    page = chromium_page
    page.goto(f"{server.url}/dags/sales_pipeline/code")
    code = page.locator("pre.code").inner_text()
    assert "def sales_pipeline():" in code and page.locator("pre.code .hl").count() >= 2
    _shot(page, "code")
    page.click('nav.tabs a[data-tab="details"]')
    assert page.locator(".doc h1").inner_text() == "Sales pipeline"
    assert page.locator(".doc strong").inner_text() == "orders" and page.locator(".doc li").count() == 3
    _shot(page, "details")


def test_task_instance_page(world, chromium_page):
    cloud, server, view, first, second = world
    page = chromium_page
    page.goto(f"{server.url}/dags/sales_pipeline?" + urlencode({"run_id": first}))
    page.goto(f"{server.url}/dags/sales_pipeline/runs/{first}/tasks/publish.load")
    assert page.locator("h2").get_attribute("data-state") == "success"
    assert page.locator("table.tries tr[data-try]").count() >= 1
    log = page.locator("pre.log").inner_text()
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", log) and "loaded 12 shops" in log
    assert '"12 shops"' in page.locator("table.xcoms").inner_text()
    _shot(page, "task-instance")
    page.goto(f"{server.url}/dags/sales_pipeline/runs/{first}/tasks/publish.validate")
    tries = page.locator("table.tries").inner_text()
    assert "schema registry unreachable" in tries and "success" in tries
    # Rendered template, per try: validate's two tries each ran with the upstream's 12 rows.
    assert page.locator(".rendered[data-try]").count() == 2
    assert '"rows": 33' in page.locator('.rendered[data-try="1"] tr[data-field="op_args"]').inner_text()


def test_task_instance_page_shows_the_rendered_template(world, chromium_page):
    cloud, server, view, first, second = world
    run_id = view.runs("sales_export", 1)[0]["run_id"]
    page = chromium_page
    page.goto(f"{server.url}/dags/sales_export/runs/{run_id}/tasks/export")
    assert page.locator("h2").get_attribute("data-state") == "success"
    rendered = page.locator('.rendered[data-try="1"]')
    command = rendered.locator('tr[data-field="bash_command"] pre').inner_text()
    assert command == "echo exporting 2026-03-14 for berlin, conf {'batch': 7}"
    env = rendered.locator('tr[data-field="env"] pre').inner_text()
    assert '"DB_PASS": "***"' in env and '"SHOP": "berlin"' in env
    assert EXPORT_SECRET not in page.content()
    _shot(page, "task-instance-rendered")


def test_assets_view(world, chromium_page):
    cloud, server, view, first, second = world
    page = chromium_page
    page.goto(server.url + "/assets")
    flow = page.locator('.flow[data-asset="s3://lake/sales/"]')
    text = flow.inner_text()
    assert "sales_pipeline.publish.load" in text and "sales_report" in text
    assert flow.locator("table.events tr").count() >= 2  # header + the outlet events
    _shot(page, "assets")

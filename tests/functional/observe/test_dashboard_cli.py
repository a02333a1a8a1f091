"""`stratus dashboard` against a local cloud: the dashboard `stratus dev` put, written as one local page."""

from __future__ import annotations

import textwrap

DAG = '''
from datetime import datetime
from orchestrator import dag, task


@dag(schedule="@daily", start_date=datetime(2026, 1, 1), catchup=False)
def cli_dash():
    @task
    def hello():
        return 1

    hello()


cli_dash()
'''


def test_stratus_dashboard_writes_the_local_preview(tmp_path, monkeypatch, capsys):
    from orchestrator.cli.main import main
    from orchestrator.local import target
    from orchestrator.local.cloud import LocalCloud
    from orchestrator.local.dev import sync_registry

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    root = tmp_path / "dags"
    root.mkdir()
    (root / "cli_dash.py").write_text(textwrap.dedent(DAG))
    with LocalCloud(str(root)) as cloud:
        sync_registry(cloud)
        assert cloud.run_dag("cli_dash", timeout=60)["state"] == "success"
        monkeypatch.setattr(target, "resolve_target", lambda args: (cloud.clients, cloud.resources))
        out = tmp_path / "dash.html"
        assert main(["dashboard", "--stack", cloud.stack_name, "--out", str(out)]) == 0
    assert f"written to {out}" in capsys.readouterr().out
    page = out.read_text()
    assert page.startswith("<!doctype html>") and 'data-type="custom"' in page
    assert 'class="sg" data-dag="cli_dash"' in page  # the grid, from the widget function
    assert "Runs succeeded / failed" in page and "cli_dash-runs-failed" in page

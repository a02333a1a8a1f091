"""The widget function deployed from template.yaml in the local cloud, invoked through Lambda."""

from __future__ import annotations

import html
import json
import textwrap
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "widget"

DAG = '''
from __future__ import annotations
from datetime import datetime
from orchestrator import dag, task


@dag(schedule=None, start_date=datetime(2026, 1, 1))
def widget_demo():
    @task
    def hello():
        return "hi"

    hello()


widget_demo()
'''


@pytest.fixture
def cloud(tmp_path, monkeypatch):
    from orchestrator.local.cloud import LocalCloud

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    root = tmp_path / "dags"
    root.mkdir()
    (root / "widget_demo.py").write_text(textwrap.dedent(DAG))
    with LocalCloud(str(root)) as lc:
        yield lc


def _invoke(cloud, event: dict) -> tuple[str | None, object]:
    resp = cloud.clients.client("lambda").invoke(
        FunctionName=cloud.function_name("WidgetFunction"), Payload=json.dumps(event).encode()
    )
    return resp.get("FunctionError"), json.loads(resp["Payload"].read())


def test_widget_lambda_renders_the_grid_and_describes_itself(cloud):
    plan = cloud.sync_dag("widget_demo")
    store = cloud.engine().store
    run_id = "manual__2026-01-01T00:00:00+00:00"
    store.create_run({"dag_id": "widget_demo", "run_id": run_id, "state": "failed", "run_type": "manual",
                      "plan_hash": plan.hash, "logical_date": "2026-01-01T00:00:00+00:00",
                      "start_date": "2026-01-01T00:00:01+00:00", "end_date": "2026-01-01T00:00:02+00:00"})
    event = json.loads((FIXTURES / "widget_event.json").read_text())
    event["dag_id"] = "widget_demo"
    event["widgetContext"]["params"] = {"dag_id": "widget_demo"}
    error, body = _invoke(cloud, event)
    assert error is None and isinstance(body, str)
    assert f'<h4 class="run" data-run="{html.escape(run_id)}" data-state="failed">' in body
    # The buttons call the deployed function back (its ARN, from the Lambda context).
    arn = cloud.clients.client("lambda").get_function(FunctionName=cloud.function_name("WidgetFunction"))[
        "Configuration"]["FunctionArn"]
    assert f'endpoint="{arn}"' in body
    error, docs = _invoke(cloud, {"describe": True})
    assert error is None and docs.startswith("## Stratus run grid")

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
from pathlib import Path
from orchestrator import dag, task

MARKER = Path(__file__).with_name("widget_demo.attempted")


@dag(schedule=None, start_date=datetime(2026, 1, 1))
def widget_demo():
    @task
    def hello():
        if not MARKER.exists():
            MARKER.write_text("1")
            raise RuntimeError("first try fails")
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


def test_widget_renders_describes_and_its_retry_button_reruns_the_task(cloud):
    run = cloud.run_dag("widget_demo", timeout=120)
    assert run["state"] == "failed"
    base = json.loads((FIXTURES / "widget_event.json").read_text())
    base["widgetContext"]["params"] = {"dag_id": "widget_demo"}
    base["widgetContext"]["timeRange"] = {"mode": "relative", "start": 0, "end": 4102444800000}
    base["dag_id"] = "widget_demo"
    error, body = _invoke(cloud, base)
    assert error is None and 'data-task="hello"' in body and 'data-state="failed"' in body
    # The buttons call the deployed function back (its ARN, from the Lambda context).
    arn = cloud.clients.client("lambda").get_function(FunctionName=cloud.function_name("WidgetFunction"))[
        "Configuration"]["FunctionArn"]
    assert f'endpoint="{arn}"' in body
    error, docs = _invoke(cloud, {"describe": True})
    assert error is None and docs.startswith("## Stratus run grid")
    # What the Retry button's cwdb-action sends: its JSON params at the top level.
    action = {**base, "action": "clear", "run_id": run["run_id"], "task_id": "hello"}
    error, body = _invoke(cloud, action)
    assert error is None and "Cleared task &#x27;hello&#x27;" in body
    cloud.wait_idle(120)
    error, body = _invoke(cloud, base)
    assert f'<h4 class="run" data-run="{html.escape(run["run_id"])}" data-state="success">' in body
    assert "#1 failed" in body and "#2 success" in body

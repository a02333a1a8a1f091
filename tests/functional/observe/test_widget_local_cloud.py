"""The widget functions deployed from template.yaml in the local cloud, invoked through Lambda.

By default the stack's widget is read-only (no buttons, every action refused, a role that
cannot write); with ``WidgetActions=on`` the buttons call the separate widget-actions function.
"""

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


def _cloud(tmp_path, monkeypatch, **parameters):
    from orchestrator.local.cloud import LocalCloud

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    root = tmp_path / "dags"
    root.mkdir()
    (root / "widget_demo.py").write_text(textwrap.dedent(DAG))
    return LocalCloud(str(root), parameters=parameters)


def _invoke(cloud, event: dict, function: str = "WidgetFunction") -> tuple[str | None, object]:
    resp = cloud.clients.client("lambda").invoke(
        FunctionName=cloud.function_name(function), Payload=json.dumps(event).encode()
    )
    return resp.get("FunctionError"), json.loads(resp["Payload"].read())


def _arn(cloud, function: str) -> str:
    return cloud.clients.client("lambda").get_function(FunctionName=cloud.function_name(function))[
        "Configuration"]["FunctionArn"]


def _base() -> dict:
    base = json.loads((FIXTURES / "widget_event.json").read_text())
    base["widgetContext"]["params"] = {"dag_id": "widget_demo"}
    base["widgetContext"]["timeRange"] = {"mode": "relative", "start": 0, "end": 4102444800000}
    base["dag_id"] = "widget_demo"
    return base


def test_default_stack_widget_is_read_only_and_refuses_actions(tmp_path, monkeypatch):
    with _cloud(tmp_path, monkeypatch) as cloud:
        run = cloud.run_dag("widget_demo", timeout=120)
        assert run["state"] == "failed"
        names = [f["FunctionName"] for f in cloud.clients.client("lambda").list_functions()["Functions"]]
        assert not any(n.endswith("-widget-actions") for n in names)  # no acting function deployed
        error, body = _invoke(cloud, _base())
        assert error is None and 'data-task="hello"' in body and 'data-state="failed"' in body
        assert 'class="btn' not in body and '"action": "clear"' not in body
        assert f'endpoint="{_arn(cloud, "WidgetFunction")}"' in body  # selecting a run still works
        # A reader crafting the Retry button's call by hand: refused, nothing cleared.
        error, body = _invoke(cloud, {**_base(), "action": "clear", "run_id": run["run_id"], "task_id": "hello"})
        assert error is None and "clear refused: Actions are off on this dashboard" in html.unescape(body)
        cloud.wait_idle(60)
        ti = cloud.engine().store.get_ti("widget_demo", run["run_id"], "hello")
        assert ti["state"] == "failed" and int(ti["try_number"]) == 1


@pytest.fixture
def cloud(tmp_path, monkeypatch):
    with _cloud(tmp_path, monkeypatch, WidgetActions="on") as lc:
        yield lc


def test_widget_renders_describes_and_its_retry_button_reruns_the_task(cloud):
    run = cloud.run_dag("widget_demo", timeout=120)
    assert run["state"] == "failed"
    base = _base()
    error, body = _invoke(cloud, base)
    assert error is None and 'data-task="hello"' in body and 'data-state="failed"' in body
    # The buttons call the separately authorised widget-actions function; run selection the widget.
    assert f'endpoint="{_arn(cloud, "WidgetActionsFunction")}"' in body
    assert f'endpoint="{_arn(cloud, "WidgetFunction")}"' in body
    error, docs = _invoke(cloud, {"describe": True})
    assert error is None and docs.startswith("## Stratus run grid")
    # What the Retry button's cwdb-action sends: its JSON params at the top level.
    action = {**base, "action": "clear", "run_id": run["run_id"], "task_id": "hello"}
    error, body = _invoke(cloud, action)  # the read-only widget refuses it
    assert error is None and "clear refused" in body
    error, body = _invoke(cloud, action, "WidgetActionsFunction")
    assert error is None and "Cleared task &#x27;hello&#x27;" in body
    cloud.wait_idle(120)
    error, body = _invoke(cloud, base)
    assert f'<h4 class="run" data-run="{html.escape(run["run_id"])}" data-state="success">' in body
    assert "#1 failed" in body and "#2 success" in body

"""functions/widget/app.py against moto: the real handler, the real store, the fixture event."""

from __future__ import annotations

import html
import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

from observe_builders import make_plan

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "widget"
ARN = "arn:aws:lambda:us-east-1:123456789012:function:stratus-widget"
RUN = "manual__2026-01-01T06:00:00+00:00"


def _handler():
    spec = importlib.util.spec_from_file_location("stratus_widget_app_under_test", ROOT / "functions" / "widget" / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


def _context():
    return SimpleNamespace(function_name="stratus-widget", memory_limit_in_mb=512, invoked_function_arn=ARN,
                           aws_request_id="req-1", log_stream_name="2026/01/01/[$LATEST]abc", function_version="$LATEST")


def _seed(store):
    store.put_plan(make_plan())
    store.create_run({"dag_id": "daily_sales", "run_id": RUN, "state": "failed", "run_type": "manual",
                      "plan_hash": make_plan().hash, "logical_date": "2026-01-01T06:00:00+00:00",
                      "queued_at": "2026-01-01T06:00:00+00:00", "start_date": "2026-01-01T06:00:01+00:00",
                      "end_date": "2026-01-01T06:02:00+00:00", "conf": "{}"})
    pk = f"RUN#daily_sales#{RUN}"
    store._put({"pk": pk, "sk": "TI#extract#-00001", "dag_id": "daily_sales", "run_id": RUN, "task_id": "extract",
                "map_index": -1, "state": "failed", "try_number": 2, "max_tries": 2,
                "start_date": "2026-01-01T06:00:30+00:00", "end_date": "2026-01-01T06:00:31.5+00:00", "duration": 1.5,
                "error": "Traceback...\nRuntimeError: source offline", "log_stream": "2026/01/01/[$LATEST]try2",
                "history": [{"try_number": 1, "state": "up_for_retry", "start": "2026-01-01T06:00:02+00:00",
                             "end": "2026-01-01T06:00:03+00:00", "error": "x", "log_stream": "2026/01/01/[$LATEST]try1"}]})


def test_handler_renders_store_state_for_the_fixture_event(stack):
    _, _, store = stack
    _seed(store)
    event = json.loads((FIXTURES / "widget_event.json").read_text())
    out = _handler()(event, _context())
    assert isinstance(out, str)
    assert f'data-task="extract" data-run="{html.escape(RUN)}" data-state="failed"' in out
    assert "RuntimeError: source offline" in out
    text = html.unescape(out)
    assert "#1 up_for_retry 1.0s" in text and "#2 failed 1.5s" in text
    assert "log-group/$252Faws$252Flambda$252Fstratus-worker/log-events/2026$252F01$252F01$252F$255B$2524LATEST$255Dtry1" in text
    assert f'endpoint="{ARN}"' in out


def test_handler_describe(stack):
    assert _handler()({"describe": True}, _context()).startswith("## Stratus run grid")


def test_handler_unknown_dag_message(stack):
    event = json.loads((FIXTURES / "widget_event.json").read_text())
    event["dag_id"] = "missing_dag"
    out = _handler()(event, _context())
    assert "DAG &#x27;missing_dag&#x27; is not registered; run `stratus sync`" in out

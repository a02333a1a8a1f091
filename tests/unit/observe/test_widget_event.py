"""The custom widget's event handling with the real widgetContext shape (store and engine faked)."""

from __future__ import annotations

import html
import json
from pathlib import Path

from observe_builders import FakeEngine, FakeStore, make_plan, make_run, make_ti

from orchestrator.config import Clients, Resources
from orchestrator.observe.service import RunsView
from orchestrator.observe.widget import DOCS, handle_event, merged_params, runs_that_fit, time_range_of

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "widget"
ARN = "arn:aws:lambda:us-east-1:123456789012:function:stratus-widget"
R_IN = "manual__2026-01-01T06:00:00+00:00"
R_OUT = "manual__2025-06-01T06:00:00+00:00"


def _event(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def _view():
    runs = [make_run(R_IN, state="failed"),
            make_run(R_OUT, logical_date="2025-06-01T06:00:00+00:00", queued_at="2025-06-01T06:00:00+00:00",
                     start_date="2025-06-01T06:00:01+00:00", end_date="2025-06-01T06:01:00+00:00")]
    tis = {R_IN: [make_ti("extract", R_IN, state="failed", error="ValueError: no rows")], R_OUT: [make_ti("extract", R_OUT)]}
    engine = FakeEngine()
    view = RunsView(Clients(), Resources(table="t", artefact_bucket="b", worker_function="stratus-worker"),
                    store=FakeStore([make_plan()], runs, tis), engine=engine)
    return view, engine


ACTIONS_ARN = "arn:aws:lambda:us-east-1:123456789012:function:stratus-widget-actions"


def _handle(event, *, acting=True):
    """``acting``: the widget-actions function of a stack with WidgetActions=on; else the read-only widget."""
    view, engine = _view()
    out = handle_event(event, view_factory=lambda: view, endpoint=ARN, region="us-east-1",
                       actions_endpoint=ACTIONS_ARN if acting else None, acting=acting)
    return out, engine


def test_read_only_widget_refuses_every_action_and_draws_no_buttons():
    for extra in ({"action": "clear", "run_id": R_IN, "task_id": "extract"}, {"action": "trigger"},
                  {"action": "mark", "run_id": R_IN, "task_id": "extract", "state": "success"}):
        out, engine = _handle({**_event("widget_event.json"), **extra}, acting=False)
        assert engine.calls == [], extra
        assert "refused: Actions are off on this dashboard" in html.unescape(out)
        assert 'class="btn' not in out and ACTIONS_ARN not in out
        assert 'class="sg" data-dag="daily_sales"' in out  # the grid is still drawn


def test_actions_function_checks_every_action():
    cases = [
        ({"action": "clear", "run_id": R_IN, "task_id": "nope"}, "has no task &#x27;nope&#x27;"),
        ({"action": "clear", "run_id": "manual__missing"}, "does not exist"),
        ({"action": "clear", "run_id": 7}, "run_id must be an id"),
        ({"action": "clear", "run_id": R_IN, "downstream": "yes please"}, "downstream must be true or false"),
        ({"action": "trigger", "conf": {"injected": 1}}, "does not take &#x27;conf&#x27;"),
        ({"action": "clear", "run_id": R_IN, "state": "success"}, "does not take &#x27;state&#x27;"),
    ]
    for extra, expected in cases:
        out, engine = _handle({**_event("widget_event.json"), **extra})
        assert engine.calls == [] and expected in out, (extra, out[-600:])


def test_describe_returns_markdown_documentation():
    out, engine = _handle({"describe": True})
    assert out == DOCS and out.startswith("## Stratus run grid") and "dag_id" in out
    assert engine.calls == []


def test_fixture_event_renders_the_grid_of_the_dag_in_params():
    out, engine = _handle(_event("widget_event.json"))
    assert 'class="sg" data-dag="daily_sales"' in out
    assert 'data-task="extract" data-run="manual__2026-01-01T06:00:00+00:00" data-state="failed"' in out
    assert engine.calls == []
    # cwdb-action buttons call this function back, with its ARN as endpoint.
    assert f'<cwdb-action action="call" endpoint="{ARN}" display="widget"' in out
    assert "/aws/lambda/stratus-worker" in html.unescape(out).replace("$252F", "/")


def test_dashboard_time_range_selects_runs():
    out, _ = _handle(_event("widget_event.json"))  # 2025-12-31 .. 2026-01-03
    assert R_IN in html.unescape(out) and R_OUT not in html.unescape(out)
    ctx = _event("widget_action_clear.json")["widgetContext"]
    rng = time_range_of(ctx)  # zoom wins: 2026-01-01 .. 2026-01-02
    assert (rng.start.isoformat(), rng.end.isoformat()) == ("2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00")


def test_action_call_clears_then_rerenders_with_notice():
    event = _event("widget_action_clear.json")
    assert merged_params(event) == {"action": "clear", "dag_id": "daily_sales", "run_id": R_IN, "task_id": "extract"}
    out, engine = _handle(event)
    assert engine.calls == [("clear", ("daily_sales", R_IN, ["extract"]), {"downstream": False, "failed_only": False})]
    assert f"Cleared task &#x27;extract&#x27; in run &#x27;{html.escape(R_IN)}&#x27; of DAG &#x27;daily_sales&#x27; (1 task" in out
    assert f'<h4 class="run" data-run="{html.escape(R_IN)}"' in out


def test_trigger_action():
    event = {**_event("widget_event.json"), "action": "trigger", "dag_id": "daily_sales"}
    out, engine = _handle(event)
    assert engine.calls == [("start_run", ("daily_sales",), {"conf": {}, "run_type": "manual"})]
    assert "Triggered run &#x27;manual__new&#x27;" in out


def test_mark_is_not_a_widget_action_and_bad_params_are_reported():
    out, engine = _handle({**_event("widget_event.json"), "action": "mark", "run_id": R_IN, "task_id": "extract", "state": "success"})
    assert engine.calls == [] and "Unknown action &#x27;mark&#x27;" in out
    out, engine = _handle({**_event("widget_event.json"), "action": "clear"})
    assert engine.calls == [] and "clear failed: Action &#x27;clear&#x27; needs &#x27;run_id&#x27;." in out


def test_missing_dag_and_unknown_dag():
    event = _event("widget_event.json")
    event.pop("dag_id")
    event["widgetContext"]["params"] = {}
    out, _ = _handle(event)
    assert "Set the widget parameter dag_id" in out
    out, _ = _handle({**_event("widget_event.json"), "dag_id": "nope"})
    assert "DAG &#x27;nope&#x27; is not registered" in out


def test_runs_fit_the_widget_width():
    assert runs_that_fit(1180) == 48 and runs_that_fit(300) == 5 and runs_that_fit(None) == 25


def test_dark_dashboard_theme_gets_light_text():
    event = _event("widget_event.json")
    event["widgetContext"]["theme"] = "dark"
    out, _ = _handle(event)
    assert out.startswith("<style>.sg{color:#d1d5db}</style>")
    assert not _handle(_event("widget_event.json"))[0].startswith("<style>.sg{color:#d1d5db}")


def test_trigger_takes_its_conf_from_the_widget_form():
    event = {**_event("widget_event.json"), "action": "trigger", "dag_id": "daily_sales"}
    event["widgetContext"]["forms"] = {"all": {"conf": '{"day": "2026-01-01"}'}}
    out, engine = _handle(event)
    assert engine.calls == [("start_run", ("daily_sales",), {"conf": {"day": "2026-01-01"}, "run_type": "manual"})]
    assert '<input name="conf"' in out
    event["widgetContext"]["forms"] = {"all": {"conf": "[1]"}}
    out, engine = _handle(event)
    assert engine.calls == [] and "trigger failed: The conf field must be a JSON object, got list." in out

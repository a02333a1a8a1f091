"""The dashboard body built from plans: valid JSON, every widget present, grid widget -> function ARN."""

from __future__ import annotations

import json

import pytest
from observe_builders import make_plan

from orchestrator.errors import StratusError
from orchestrator.observe.dashboard import build_dashboard_body, errors_query

ARN = "arn:aws:lambda:eu-west-1:123456789012:function:stack-WidgetFunction-abc"
LOG_GROUP = "/aws/lambda/stack-WorkerFunction-xyz"


def _body(**kw):
    plans = [make_plan("daily_sales"), make_plan("hourly_clicks")]
    args = {"region": "eu-west-1", "widget_function_arn": ARN, "log_group": LOG_GROUP,
            "alarm_arns": ["arn:aws:cloudwatch:eu-west-1:123456789012:alarm:stratus-daily_sales-runs-failed"]}
    args.update(kw)
    return json.loads(json.dumps(build_dashboard_body(plans, **args)))


def test_body_is_json_with_all_widget_kinds():
    body = _body()
    kinds = [w["type"] for w in body["widgets"]]
    assert kinds.count("custom") == 2
    assert {"text", "metric", "alarm", "log", "custom"} == set(kinds)
    for w in body["widgets"]:
        assert {"x", "y", "width", "height", "properties"} <= set(w)
        assert 0 <= w["x"] and w["x"] + w["width"] <= 24


def test_custom_widgets_point_at_the_widget_function_per_dag():
    customs = [w for w in _body()["widgets"] if w["type"] == "custom"]
    assert [w["properties"]["params"] for w in customs] == [{"dag_id": "daily_sales"}, {"dag_id": "hourly_clicks"}]
    for w in customs:
        assert w["properties"]["endpoint"] == ARN
        assert w["properties"]["updateOn"] == {"refresh": True, "resize": True, "timeRange": True}


def test_metric_widgets_chart_the_emitted_metrics_by_dag():
    metrics = {w["properties"]["title"]: w["properties"]["metrics"] for w in _body()["widgets"] if w["type"] == "metric"}
    runs = metrics["Runs succeeded / failed"]
    assert ["Stratus", "RunsSucceeded", "DagId", "daily_sales", "service", "stratus", {"label": "daily_sales succeeded"}] in runs
    assert ["Stratus", "RunsFailed", "DagId", "hourly_clicks", "service", "stratus", {"label": "hourly_clicks failed"}] in runs
    failures = metrics["Task failures and retries"]
    assert {m[1] for m in failures} == {"TasksFailed", "TasksRetried"}
    duration = metrics["Task duration p50 / p95 (ms)"]
    assert {m[-1]["stat"] for m in duration} == {"p50", "p95"}
    assert {m[1] for m in metrics["Scheduling delay p50 / p95 (ms)"]} == {"SchedulingDelay"}


def test_logs_insights_widget_queries_task_errors_in_the_worker_group():
    [log] = [w for w in _body()["widgets"] if w["type"] == "log"]
    query = log["properties"]["query"]
    assert query == errors_query(LOG_GROUP)
    assert query.startswith(f"SOURCE '{LOG_GROUP}' |") and 'level = "ERROR"' in query and "sort @timestamp desc" in query
    assert log["properties"]["region"] == "eu-west-1"


def test_alarm_widget_lists_alarms_and_is_left_out_without_any():
    [alarm] = [w for w in _body()["widgets"] if w["type"] == "alarm"]
    assert alarm["properties"]["alarms"][0].endswith(":alarm:stratus-daily_sales-runs-failed")
    assert "alarm" not in [w["type"] for w in _body(alarm_arns=[])["widgets"]]


def test_widget_function_must_be_an_arn():
    with pytest.raises(StratusError, match=r"needs the widget function's ARN, got 'WidgetFunction'"):
        _body(widget_function_arn="WidgetFunction")

"""The CloudWatch dashboard: built from the DAG plans, put by `stratus sync` or a deploy.

``build_dashboard_body`` is pure (plans in, JSON-able dict out); ``put_dashboard`` creates
one failure alarm per DAG and puts the dashboard through the clients it is given.

Layout, top to bottom:

1. a text header;
2. per-DAG charts of the telemetry metrics (namespace ``Stratus``, dimension ``DagId``):
   runs succeeded/failed, task failures and retries, task duration p50/p95, scheduling
   delay p50/p95;
3. the alarms widget (one ``RunsFailed >= 1`` alarm per DAG);
4. a Logs Insights table of recent task errors in the worker's log group;
5. one custom widget per DAG, backed by the widget Lambda, drawing the run grid
   (``orchestrator.observe.grid``), refreshed with the dashboard's time range.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from orchestrator.config import Clients, Resources
from orchestrator.constants import METRICS_NAMESPACE, SERVICE_NAME
from orchestrator.errors import StratusError
from orchestrator import telemetry as t
from orchestrator.plan.model import StepPlan

DEFAULT_DASHBOARD_NAME = "stratus"
PERIOD_S = 300
FULL_WIDTH = 24

# Dashboard names: letters, digits, '-' and '_' (CloudWatch's rule), at most 255 characters.
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


def errors_query(log_group: str, limit: int = 50) -> str:
    """Logs Insights query for the most recent failed task tries in the worker's log group."""
    return (
        f"SOURCE '{log_group}' | fields @timestamp, dag_id, run_id, task_id, map_index, try_number, message"
        ' | filter level = "ERROR" and ispresent(task_id)'
        f" | sort @timestamp desc | limit {limit}"
    )


def alarm_name(dashboard_name: str, dag_id: str) -> str:
    """The failure alarm of one DAG (CloudWatch alarm names allow any printable ASCII)."""
    return f"{dashboard_name}-{dag_id}-runs-failed"


def _metric_widget(
    title: str, metrics: list[list[Any]], region: str, *, stat: str = "Sum", x: int, y: int, width: int = 12, unit_label: str | None = None
) -> dict[str, Any]:
    props: dict[str, Any] = {
        "title": title,
        "view": "timeSeries",
        "stacked": False,
        "region": region,
        "stat": stat,
        "period": PERIOD_S,
        "metrics": metrics,
    }
    if unit_label:
        props["yAxis"] = {"left": {"label": unit_label, "showUnits": False, "min": 0}}
    return {"type": "metric", "x": x, "y": y, "width": width, "height": 6, "properties": props}


def _series(metric: str, dag_ids: Sequence[str], *, stat: str | None = None, label: str = "{dag}") -> list[list[Any]]:
    out: list[list[Any]] = []
    for dag_id in dag_ids:
        opts: dict[str, Any] = {"label": label.format(dag=dag_id)}
        if stat:
            opts["stat"] = stat
        out.append([METRICS_NAMESPACE, metric, t.DIMENSION, dag_id, t.SERVICE_DIMENSION, SERVICE_NAME, opts])
    return out


def build_dashboard_body(
    plans: Sequence[StepPlan],
    *,
    region: str,
    widget_function_arn: str,
    log_group: str,
    alarm_arns: Sequence[str] = (),
) -> dict[str, Any]:
    """The dashboard body (``DashboardBody`` as a dict) for these DAGs.

    ``widget_function_arn``: the widget Lambda the custom grid widgets call;
    ``log_group``: the worker function's log group (``/aws/lambda/<worker>``);
    ``alarm_arns``: listed in the alarms widget (omitted when empty: CloudWatch rejects an
    alarm widget without alarms).
    """
    if not widget_function_arn.startswith("arn:"):
        raise StratusError(
            f"The dashboard's grid widget needs the widget function's ARN, got {widget_function_arn!r}; "
            "pass the WidgetFunction ARN from the stack outputs."
        )
    dag_ids = sorted(p.dag_id for p in plans)
    widgets: list[dict[str, Any]] = [
        {
            "type": "text",
            "x": 0,
            "y": 0,
            "width": FULL_WIDTH,
            "height": 2,
            "properties": {
                "markdown": "# Stratus\n"
                + (", ".join(f"`{d}`" for d in dag_ids) or "No DAGs registered yet.")
                + "  \nGrid: click a run's bar to select it; Retry/Clear re-runs a task, Trigger run starts one."
            },
        }
    ]
    y = 2
    runs = _series(t.RUNS_SUCCEEDED, dag_ids, label="{dag} succeeded") + _series(t.RUNS_FAILED, dag_ids, label="{dag} failed")
    failures = _series(t.TASKS_FAILED, dag_ids, label="{dag} failed") + _series(t.TASKS_RETRIED, dag_ids, label="{dag} retried")
    widgets.append(_metric_widget("Runs succeeded / failed", runs, region, x=0, y=y))
    widgets.append(_metric_widget("Task failures and retries", failures, region, x=12, y=y))
    y += 6
    duration = _series(t.TASK_DURATION, dag_ids, stat="p50", label="{dag} p50") + _series(
        t.TASK_DURATION, dag_ids, stat="p95", label="{dag} p95"
    )
    delay = _series(t.SCHEDULING_DELAY, dag_ids, stat="p50", label="{dag} p50") + _series(
        t.SCHEDULING_DELAY, dag_ids, stat="p95", label="{dag} p95"
    )
    widgets.append(_metric_widget("Task duration p50 / p95 (ms)", duration, region, stat="p50", x=0, y=y, unit_label="ms"))
    widgets.append(_metric_widget("Scheduling delay p50 / p95 (ms)", delay, region, stat="p50", x=12, y=y, unit_label="ms"))
    y += 6
    if alarm_arns:
        widgets.append(
            {
                "type": "alarm",
                "x": 0,
                "y": y,
                "width": FULL_WIDTH,
                "height": 3,
                "properties": {"title": "Failed runs", "alarms": list(alarm_arns), "sortBy": "stateUpdatedTimestamp"},
            }
        )
        y += 3
    widgets.append(
        {
            "type": "log",
            "x": 0,
            "y": y,
            "width": FULL_WIDTH,
            "height": 6,
            "properties": {
                "title": "Recent task errors",
                "region": region,
                "view": "table",
                "query": errors_query(log_group),
            },
        }
    )
    y += 6
    for dag_id in dag_ids:
        widgets.append(
            {
                "type": "custom",
                "x": 0,
                "y": y,
                "width": FULL_WIDTH,
                "height": 10,
                "properties": {
                    "title": f"Runs of {dag_id}",
                    "endpoint": widget_function_arn,
                    "params": {"dag_id": dag_id},
                    "updateOn": {"refresh": True, "resize": True, "timeRange": True},
                },
            }
        )
        y += 10
    return {"start": "-PT24H", "periodOverride": "inherit", "widgets": widgets}


def put_alarms(clients: Clients, plans: Sequence[StepPlan], dashboard_name: str = DEFAULT_DASHBOARD_NAME) -> list[str]:
    """Create or update one ``RunsFailed >= 1`` alarm per DAG; returns their ARNs."""
    cw = clients.client("cloudwatch")
    names = []
    for plan in sorted(plans, key=lambda p: p.dag_id):
        name = alarm_name(dashboard_name, plan.dag_id)
        cw.put_metric_alarm(
            AlarmName=name,
            AlarmDescription=f"A run of DAG '{plan.dag_id}' failed (Stratus).",
            Namespace=METRICS_NAMESPACE,
            MetricName=t.RUNS_FAILED,
            Dimensions=[{"Name": k, "Value": v} for k, v in t.dimensions(plan.dag_id).items()],
            Statistic="Sum",
            Period=PERIOD_S,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            TreatMissingData="notBreaching",
        )
        names.append(name)
    if not names:
        return []
    arns: dict[str, str] = {}
    for start in range(0, len(names), 100):  # DescribeAlarms takes at most 100 names
        resp = cw.describe_alarms(AlarmNames=names[start : start + 100], AlarmTypes=["MetricAlarm"])
        arns.update({a["AlarmName"]: a["AlarmArn"] for a in resp.get("MetricAlarms", [])})
    return [arns[n] for n in names if n in arns]


def put_dashboard(
    clients: Clients,
    resources: Resources,
    plans: Sequence[StepPlan],
    widget_function_arn: str,
    log_group: str,
    *,
    dashboard_name: str = DEFAULT_DASHBOARD_NAME,
    alarms: bool = True,
) -> dict[str, Any]:
    """Create the per-DAG alarms and put the dashboard; returns the body that was put.

    ``resources`` is accepted for symmetry with the other `sync` steps (the dashboard reads
    no table or bucket). Raises ``StratusError`` if the name is invalid or CloudWatch
    reports validation messages.
    """
    del resources
    if not _NAME_RE.match(dashboard_name):
        raise StratusError(
            f"Dashboard name {dashboard_name!r} is invalid: use letters, digits, '-' and '_' (at most 255)."
        )
    cw = clients.client("cloudwatch")
    alarm_arns = put_alarms(clients, plans, dashboard_name) if alarms else []
    body = build_dashboard_body(
        plans,
        region=cw.meta.region_name,
        widget_function_arn=widget_function_arn,
        log_group=log_group,
        alarm_arns=alarm_arns,
    )
    resp = cw.put_dashboard(DashboardName=dashboard_name, DashboardBody=json.dumps(body))
    problems = resp.get("DashboardValidationMessages") or []
    if problems:
        details = "; ".join(f"{m.get('DataPath')}: {m.get('Message')}" for m in problems)
        raise StratusError(f"CloudWatch rejected dashboard '{dashboard_name}': {details}")
    return body


def put_stack_dashboard(
    clients: Clients,
    resources: Resources,
    stack_name: str,
    plans: Sequence[StepPlan],
    *,
    alarms: bool = True,
) -> dict[str, Any]:
    """``put_dashboard`` for a deployed stack: the widget ARN, the worker's log group and the
    dashboard name come from its outputs (``WidgetFunctionArn``, ``WorkerLogGroupName``,
    ``DashboardName``). What `stratus sync` calls after registering the DAGs."""
    stacks = clients.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in (stacks[0].get("Outputs") or [])} if stacks else {}
    missing = [k for k in ("WidgetFunctionArn", "WorkerLogGroupName") if not outputs.get(k)]
    if missing:
        raise StratusError(
            f"Stack '{stack_name}' has no output {', '.join(repr(m) for m in missing)}: "
            "deploy the current template.yaml (`stratus deploy`) before syncing the dashboard."
        )
    return put_dashboard(
        clients,
        resources,
        plans,
        outputs["WidgetFunctionArn"],
        outputs["WorkerLogGroupName"],
        dashboard_name=outputs.get("DashboardName") or stack_name,
        alarms=alarms,
    )

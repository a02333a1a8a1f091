"""The CloudWatch dashboard, seen before deploying: its body rendered locally as one HTML page.

``render_preview(body, clients=..., resources=...)`` lays the widgets out on CloudWatch's
24-column grid and draws each the way the console would, from the local cloud:

- ``custom`` (the run grid): the real widget function is invoked (``lambda:Invoke`` with the
  console's event shape: ``widgetContext`` with params, size and time range) and its HTML shown;
- ``metric``: the series the widget names, from the metrics the local cloud recorded: the EMF
  lines the functions logged (what CloudWatch turns into metrics) and PutMetricData calls
  (``GetMetricData`` on the local CloudWatch), summed or percentiled per period, as SVG lines;
- ``alarm``: the alarms' states (``DescribeAlarms``); ``text``: its Markdown; ``log``: the query,
  and the newest matching task errors from the worker's log group.

What `stratus dashboard` writes (``--open`` opens it); the page needs nothing from the network.
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from orchestrator.config import Clients, Resources
from orchestrator.observe.markdown import render_markdown

ROW_PX = 44  # CloudWatch: one height unit is about this many pixels
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
MAX_LOG_EVENTS = 20_000


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


# ---------------------------------------------------------------------- metrics


Series = dict[tuple[str, tuple[tuple[str, str], ...]], list[tuple[float, float]]]


def emf_points(messages: Sequence[str]) -> Series:
    """(metric name, sorted dimensions) -> [(epoch s, value)] from EMF log lines."""
    out: Series = defaultdict(list)
    for text in messages:
        if '"_aws"' not in text:
            continue
        try:
            record = json.loads(text[text.index("{"):])
        except ValueError:
            continue
        meta = record.get("_aws") or {}
        when = float(meta.get("Timestamp") or 0) / 1000.0
        for directive in meta.get("CloudWatchMetrics") or []:
            for dims in directive.get("Dimensions") or [[]]:
                key_dims = tuple(sorted((d, str(record.get(d, ""))) for d in dims))
                for metric in directive.get("Metrics") or []:
                    name = metric.get("Name")
                    values = record.get(name)
                    for value in values if isinstance(values, list) else [values]:
                        if isinstance(value, (int, float)):
                            out[(name, key_dims)].append((when, float(value)))
    return out


def log_messages(clients: Clients, group: str, limit: int = MAX_LOG_EVENTS) -> list[str]:
    """The newest messages of a log group (all its streams), at most ``limit``."""
    logs = clients.client("logs")
    messages: list[str] = []
    try:
        streams = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True,
                                            limit=50).get("logStreams", [])
    except Exception:  # noqa: BLE001 - no such group yet: nothing recorded
        return []
    for stream in streams:
        events = logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"],
                                     startFromHead=False, limit=10_000).get("events", [])
        messages += [e["message"] for e in events]
        if len(messages) >= limit:
            break
    return messages[:limit]


def _stat(values: list[float], stat: str) -> float:
    if stat == "Sum":
        return sum(values)
    if stat == "Average":
        return sum(values) / len(values)
    if stat == "Maximum":
        return max(values)
    if stat == "Minimum":
        return min(values)
    if stat == "SampleCount":
        return float(len(values))
    if stat.startswith("p"):
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(round(float(stat[1:]) / 100.0 * (len(ordered) - 1))))]
    return sum(values)


def _series_of(entry: list[Any], points: Series, default_stat: str, period: int) -> tuple[str, list[tuple[float, float]]]:
    options = entry[-1] if entry and isinstance(entry[-1], dict) else {}
    plain = entry[:-1] if options else entry
    name = str(plain[1])
    dims = tuple(sorted((str(plain[i]), str(plain[i + 1])) for i in range(2, len(plain) - 1, 2)))
    stat = str(options.get("stat") or default_stat)
    buckets: dict[float, list[float]] = defaultdict(list)
    for when, value in points.get((name, dims), []):
        buckets[when - when % period].append(value)
    line = sorted((t, _stat(v, stat)) for t, v in buckets.items())
    return str(options.get("label") or name), line


def _chart(title: str, lines: list[tuple[str, list[tuple[float, float]]]], width: int, height: int,
           start: float, end: float) -> str:
    w, h, pad = max(200, width - 24), max(120, height - 70), 34
    top = max((v for _, line in lines for _, v in line), default=0.0) or 1.0
    svg = [f'<svg class="chart" width="{w}" height="{h}" viewBox="0 0 {w} {h}">',
           f'<line x1="{pad}" y1="{h - 18}" x2="{w - 4}" y2="{h - 18}" stroke="#999"/>',
           f'<line x1="{pad}" y1="4" x2="{pad}" y2="{h - 18}" stroke="#999"/>',
           f'<text x="2" y="12" font-size="10">{_e(f"{top:g}")}</text><text x="2" y="{h - 20}" font-size="10">0</text>']
    span = max(1.0, end - start)
    for i, (label, line) in enumerate(lines):
        color = COLORS[i % len(COLORS)]
        pts = [(pad + (t - start) / span * (w - pad - 8), (h - 18) - v / top * (h - 26)) for t, v in line]
        if len(pts) == 1:
            svg.append(f'<circle cx="{pts[0][0]:.1f}" cy="{pts[0][1]:.1f}" r="3" fill="{color}"/>')
        elif pts:
            svg.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="'
                       + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts) + '"/>')
    for i, label in enumerate(("-" + _ago(end - start), "now")):
        svg.append(f'<text x="{pad if i == 0 else w - 30}" y="{h - 4}" font-size="10">{label}</text>')
    svg.append("</svg>")
    legend = "".join(f'<span class="lg" data-points="{len(line)}"><i style="background:{COLORS[i % len(COLORS)]}"></i>'
                     f"{_e(label)}</span>" for i, (label, line) in enumerate(lines))
    return f'<div class="legend">{legend}</div>' + "".join(svg)


def _ago(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:g}h" if hours >= 1 else f"{seconds / 60:g}m"


# ---------------------------------------------------------------------- page


def render_preview(
    body: Mapping[str, Any],
    *,
    clients: Clients,
    resources: Resources,
    invoke_widget: Callable[[str, dict[str, Any]], str] | None = None,
    now: datetime | None = None,
    hours: float = 3.0,
    title: str = "Stratus dashboard (local preview)",
) -> str:
    """The dashboard ``body`` as a standalone HTML page (see the module doc)."""
    now = now or datetime.now(timezone.utc)
    start = now - timedelta(hours=hours)
    invoke = invoke_widget or _lambda_invoker(clients)
    groups = {resources.worker_function, resources.conductor_function, resources.trigger_function}
    messages: list[str] = []
    for fn in sorted(g for g in groups if g):
        messages += log_messages(clients, f"/aws/lambda/{fn}")
    points = emf_points(messages)
    _add_put_metrics(clients, points, body, start, now)
    cells = []
    for index, widget in enumerate(body.get("widgets") or []):
        x, y = int(widget.get("x", 0)), int(widget.get("y", 0))
        width, height = int(widget.get("width", 6)), int(widget.get("height", 6))
        props = widget.get("properties") or {}
        px_w, px_h = width * 50, height * ROW_PX
        kind = widget.get("type")
        inner = _draw(kind, props, index, px_w, px_h, points, messages, start, now, invoke, clients)
        title_text = props.get("title") or ""
        cells.append(
            f'<section class="w w-{_e(kind)}" data-type="{_e(kind)}" style="grid-column:{x + 1} / span {width};'
            f'grid-row:{y + 1} / span {height}">' + (f"<h4>{_e(title_text)}</h4>" if title_text and kind != "text" else "")
            + f'<div class="body">{inner}</div></section>')
    style = (
        "body{font-family:Arial,Helvetica,sans-serif;margin:0;background:#f2f3f3;color:#16191f}"
        "header{background:#232f3e;color:#fff;padding:10px 16px;font-size:16px}"
        f".dash{{display:grid;grid-template-columns:repeat(24,1fr);grid-auto-rows:{ROW_PX}px;gap:8px;padding:12px}}"
        ".w{background:#fff;border:1px solid #d5dbdb;border-radius:2px;overflow:auto;padding:6px 10px}"
        ".w h4{margin:2px 0 6px;font-size:14px} .legend{font-size:11px} .lg{margin-right:10px}"
        ".lg i{display:inline-block;width:10px;height:3px;margin-right:4px;vertical-align:middle}"
        "table.al td,table.lq td{font-size:12px;padding:2px 6px;border-bottom:1px solid #eee}"
        ".ALARM{color:#d13212;font-weight:bold} .OK{color:#1d8102} .INSUFFICIENT_DATA{color:#777}"
        # The console turns <cwdb-action> into the button's behaviour and never shows its JSON.
        "cwdb-action{display:none} .w-text h1{font-size:20px;margin:2px 0} .w-text p{margin:4px 0}"
    )
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{style}</style></head><body><header>{_e(title)} <small>&middot; last {hours:g} h &middot; "
            f"{_e(now.strftime('%Y-%m-%d %H:%M UTC'))}</small></header>"
            f'<div class="dash">{"".join(cells)}</div></body></html>')


def _draw(kind: Any, props: Mapping[str, Any], index: int, px_w: int, px_h: int, points: Series, messages: list[str],
          start: datetime, now: datetime, invoke: Callable[[str, dict[str, Any]], str], clients: Clients) -> str:
    if kind == "text":
        return render_markdown(str(props.get("markdown") or ""))
    if kind == "metric":
        period = int(props.get("period") or 300)
        lines = [_series_of(list(m), points, str(props.get("stat") or "Sum"), period) for m in props.get("metrics") or []]
        return _chart(str(props.get("title") or ""), lines, px_w, px_h, start.timestamp(), now.timestamp())
    if kind == "alarm":
        names = [str(a).split(":alarm:")[-1] for a in props.get("alarms") or []]
        found = {}
        try:
            for alarm in clients.client("cloudwatch").describe_alarms(AlarmNames=names[:100]).get("MetricAlarms", []):
                found[alarm["AlarmName"]] = alarm.get("StateValue", "INSUFFICIENT_DATA")
        except Exception:  # noqa: BLE001 - shown as unknown
            pass
        rows = "".join(f'<tr><td>{_e(n)}</td><td class="{_e(found.get(n, "INSUFFICIENT_DATA"))}">'
                       f'{_e(found.get(n, "INSUFFICIENT_DATA"))}</td></tr>' for n in names)
        return f'<table class="al">{rows}</table>'
    if kind == "log":
        errors = []
        for text in messages:
            if '"ERROR"' in text and '"task_id"' in text:
                try:
                    rec = json.loads(text[text.index("{"):])
                except ValueError:
                    continue
                errors.append(rec)
        rows = "".join(f"<tr><td>{_e(r.get('timestamp'))}</td><td>{_e(r.get('dag_id'))}</td><td>{_e(r.get('task_id'))}</td>"
                       f"<td>{_e(r.get('try_number'))}</td><td>{_e(r.get('message'))}</td></tr>" for r in errors[-20:][::-1])
        return (f'<div class="muted"><code>{_e(props.get("query"))}</code></div>'
                f'<table class="lq"><tr><td>time</td><td>dag</td><td>task</td><td>try</td><td>message</td></tr>{rows}</table>')
    if kind == "custom":
        params = dict(props.get("params") or {})
        event = {
            **params,
            "widgetContext": {
                "dashboardName": "local-preview", "widgetId": f"widget-{index}", "accountId": "123456789012",
                "locale": "en", "timezone": {"label": "UTC", "offsetISO": "+00:00", "offsetInMinutes": 0},
                "period": 300, "isAutoPeriod": True, "theme": "light", "linkCharts": True,
                "title": props.get("title") or "", "forms": {"all": {}}, "params": params,
                "width": px_w, "height": px_h,
                "timeRange": {"mode": "relative", "start": int(start.timestamp() * 1000),
                              "end": int(now.timestamp() * 1000), "relativeStart": int((now - start).total_seconds() * 1000)},
            },
        }
        try:
            return invoke(str(props.get("endpoint") or ""), event)
        except Exception as exc:  # noqa: BLE001 - one widget's failure is shown in its place
            return f'<p class="error">The widget function failed: {_e(exc)}</p>'
    return f"<p>Widget type {_e(kind)} is not drawn locally.</p>"


def _lambda_invoker(clients: Clients) -> Callable[[str, dict[str, Any]], str]:
    def invoke(endpoint: str, event: dict[str, Any]) -> str:
        resp = clients.client("lambda").invoke(FunctionName=endpoint, Payload=json.dumps(event).encode())
        payload = json.loads(resp["Payload"].read() or b'""')
        if resp.get("FunctionError"):
            raise RuntimeError(str(payload)[:300])
        return payload if isinstance(payload, str) else json.dumps(payload)

    return invoke


def _add_put_metrics(clients: Clients, points: Series, body: Mapping[str, Any], start: datetime, now: datetime) -> None:
    """Data points sent with PutMetricData (runs started from the CLI) for the metrics the body names."""
    try:
        cw = clients.client("cloudwatch")
        wanted = set()
        for widget in body.get("widgets") or []:
            for m in (widget.get("properties") or {}).get("metrics") or []:
                plain = m[:-1] if m and isinstance(m[-1], dict) else m
                if len(plain) >= 2:
                    wanted.add((str(plain[0]), str(plain[1]),
                                tuple(sorted((str(plain[i]), str(plain[i + 1])) for i in range(2, len(plain) - 1, 2)))))
        for namespace, name, dims in sorted(wanted):
            stats = cw.get_metric_statistics(Namespace=namespace, MetricName=name,
                                             Dimensions=[{"Name": k, "Value": v} for k, v in dims],
                                             StartTime=start, EndTime=now, Period=60, Statistics=["Sum"])
            for dp in stats.get("Datapoints", []):
                points.setdefault((name, dims), []).append((dp["Timestamp"].timestamp(), float(dp["Sum"])))
    except Exception:  # noqa: BLE001 - metrics sent by PutMetricData are optional in the preview
        return

"""`stratus ui` pages as HTML: DAG list, a DAG's tabs (grid, graph, Gantt, code, details), a task
instance, assets. Pure renderers over the read model (``readmodel``, ``gridmodel``); the server
(``ui.py``) reads the cloud and routes.

Every value is escaped; actions are the ``LocalLinks`` POST forms carrying the session's CSRF token.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode

from orchestrator.observe.grid import LocalLinks
from orchestrator.observe.gridmodel import NO_STATUS, format_duration, parse_time
from orchestrator.observe.markdown import render_markdown
from orchestrator.observe.readmodel import AssetView, DagSummary, Gantt, Graph, TaskInstanceView
from orchestrator.plan.model import StepPlan

TABS = (("grid", "Grid"), ("graph", "Graph"), ("gantt", "Gantt"), ("code", "Code"), ("details", "Details"))


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _st(state: str | None) -> str:
    return f"st-{state or NO_STATUS}"


def _pill(state: str | None) -> str:
    return f'<span class="pill {_st(state)}">{_e(state or "no status")}</span>'


def dag_href(dag_id: str, tab: str = "grid", **query: Any) -> str:
    path = f"/dags/{quote(dag_id, safe='')}" + ("" if tab == "grid" else f"/{tab}")
    query = {k: v for k, v in query.items() if v not in (None, "")}
    return path + (f"?{urlencode(query)}" if query else "")


def ti_href(dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
    query = {"map_index": map_index} if map_index >= 0 else {}
    return (f"/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}/tasks/{quote(task_id, safe='')}"
            + (f"?{urlencode(query)}" if query else ""))


def shell(title: str, body: str, *, refresh_s: int | None = None) -> bytes:
    """The page around ``body``: header (DAGs, Assets), the local stylesheet and script."""
    meta = f'<meta http-equiv="refresh" content="{refresh_s}">' if refresh_s else ""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title>{meta}"
        '<link rel="stylesheet" href="/static/stratus.css"></head><body>'
        '<header><a class="brand" href="/">Stratus</a><a href="/">DAGs</a><a href="/assets">Assets</a></header>'
        f"<main>{body}</main>"
        '<script src="/static/stratus.js"></script></body></html>'
    ).encode()


def dag_header(plan: StepPlan, summary: DagSummary | None, tab: str, links: LocalLinks, run_id: str | None = None) -> str:
    toggle = pause_toggle(plan.dag_id, summary.paused, links) if summary else ""
    tags = "".join(f'<span class="tag">{_e(t)}</span>' for t in plan.tags)
    sched = ""
    if summary:
        sched = (f'<span class="muted">{_e(summary.schedule_words)} <code class="expr">{_e(summary.schedule_expr)}</code> '
                 f'{_e(summary.timezone)}</span>')
    tabs = "".join(
        f'<a class="{"on" if key == tab else ""}" data-tab="{key}" href="{_e(dag_href(plan.dag_id, key, run_id=run_id if key in ("graph", "gantt") else None))}">{label}</a>'
        for key, label in TABS)
    return (f'<h2 data-dag="{_e(plan.dag_id)}">{toggle} {_e(plan.dag_id)} {tags}</h2>'
            f'<div>{sched}</div><nav class="tabs">{tabs}</nav>')


def pause_toggle(dag_id: str, paused: bool, links: LocalLinks) -> str:
    action = "unpause" if paused else "pause"
    title = f"DAG '{dag_id}' is {'paused' if paused else 'active'}: click to {action} it"
    payload = _e(json.dumps({"action": action, "dag_id": dag_id}, sort_keys=True))
    return (f'<form class="act" method="post" action="/action" style="display:inline">'
            f'<input type="hidden" name="params" value="{payload}">{links.csrf_field()}'
            f'<button type="submit" class="toggle{" off" if paused else ""}" title="{_e(title)}" '
            f'data-action="{action}" data-dag="{_e(dag_id)}" data-paused="{str(paused).lower()}"></button></form>')


# ---------------------------------------------------------------------- DAG list


def dag_list(summaries: Sequence[DagSummary], links: LocalLinks, *, query: str = "", notice: str | None = None,
             error: str | None = None) -> bytes:
    q = query.lower().strip()
    rows = []
    for s in summaries:
        haystack = " ".join([s.dag_id, *s.tags, s.schedule_words, s.schedule_expr, s.description or ""]).lower()
        if q and q not in haystack:
            continue
        last = "" if not s.last_run_id else (
            f'<a href="{_e(dag_href(s.dag_id, run_id=s.last_run_id))}">{_pill(s.last_run_state)}</a> '
            f'<span class="muted">{_e(_short(s.last_run_date))}</span>')
        rows.append(
            f'<tr class="dagrow" data-dag="{_e(s.dag_id)}" data-search="{_e(haystack)}">'
            f"<td>{pause_toggle(s.dag_id, s.paused, links)}</td>"
            f'<td><a href="{_e(dag_href(s.dag_id))}"><b>{_e(s.dag_id)}</b></a>'
            + (f'<div class="muted">{_e(s.description)}</div>' if s.description else "")
            + f'</td><td>{"".join(f"<span class=tag>{_e(t)}</span>" for t in s.tags)}</td>'
            f'<td>{_e(s.schedule_words)}<br><code class="expr">{_e(s.schedule_expr)}</code></td>'
            f"<td>{_e(s.timezone)}</td><td>{last}</td>"
            f'<td class="next">{_e(_short(s.next_run)) if s.next_run else ("paused" if s.paused else "-")}</td></tr>')
    banner = (f'<div class="notice">{_e(notice)}</div>' if notice else "") + (f'<div class="error">{_e(error)}</div>' if error else "")
    body = (banner + '<h2>DAGs</h2><form method="get" action="/">'
            f'<input class="search" type="search" name="q" value="{_e(query)}" placeholder="Search DAGs, tags, schedules"></form>'
            '<table class="list dags"><tr><th></th><th>DAG</th><th>tags</th><th>schedule</th><th>time zone</th>'
            "<th>last run</th><th>next run</th></tr>" + "".join(rows) + "</table>")
    if not summaries:
        body += "<p>No DAGs registered yet: run <code>stratus sync</code> or <code>stratus dev</code>.</p>"
    return shell("DAGs - Stratus", body)


def _short(iso: str | None) -> str:
    when = parse_time(iso) if iso else None
    return when.strftime("%Y-%m-%d %H:%M %Z") if when else ""


# ---------------------------------------------------------------------- graph


def graph_page(head: str, graph: Graph, runs: Sequence[Mapping[str, Any]]) -> str:
    choose = _run_picker(graph.dag_id, "graph", runs, graph.run_id)
    buttons = "".join(f'<button type="button" data-toggle-group="{_e(g)}">&#9662; {_e(g)}</button>' for g in sorted(graph.groups))
    layers = []
    for layer in graph.layers:
        nodes = []
        placed: set[str] = set()
        for node in layer:
            if node.group:  # a collapsed group shows as one node, in the layer of its first member
                parts = node.group.split(".")
                for i in range(len(parts)):
                    g = ".".join(parts[: i + 1])
                    if g not in placed and graph.groups.get(g, ("",))[0] == node.task_id:
                        placed.add(g)
                        nodes.append(f'<div class="node groupnode" id="g-{_e(g)}" data-group-node="{_e(g)}" style="display:none">'
                                     f'&#9656; {_e(g)}<div class="op">{len(graph.groups[g])} tasks</div></div>')
            mapped = f" [{node.map_size}]" if node.mapped and node.map_size else (" [ ]" if node.mapped else "")
            nodes.append(
                f'<div class="node {_st(node.state) if graph.run_id else ""}" id="n-{_e(node.task_id)}" data-task="{_e(node.task_id)}" '
                f'data-group="{_e(node.group or "")}" data-state="{_e(node.state or NO_STATUS)}" title="{_e(node.task_id)}">'
                + (f'<div class="grp">{_e(node.group)}</div>' if node.group else "")
                + f'{_e(node.label)}{_e(mapped)}<div class="op">{_e(node.operator.lstrip("_"))}</div></div>')
        layers.append('<div class="layer">' + "".join(nodes) + "</div>")
    edges = _e(json.dumps([list(e) for e in graph.edges]))
    groups = f'<div class="groups">Task groups: {buttons}</div>' if buttons else ""
    return head + choose + groups + f'<div class="graph" data-edges="{edges}">' + "".join(layers) + "</div>" + _legend()


def _legend() -> str:
    names = ["queued", "running", "success", "failed", "up_for_retry", "upstream_failed", "skipped", "no_status"]
    return '<p class="muted">' + " ".join(_pill(None if n == NO_STATUS else n) for n in names) + "</p>"


def _run_picker(dag_id: str, tab: str, runs: Sequence[Mapping[str, Any]], selected: str | None) -> str:
    if not runs:
        return '<p class="muted">No runs yet.</p>'
    options = "".join(
        f'<option value="{_e(r["run_id"])}"{" selected" if str(r["run_id"]) == selected else ""}>'
        f'{_e(r["run_id"])} ({_e(r.get("state"))})</option>' for r in runs)
    return (f'<form method="get" action="{_e(dag_href(dag_id, tab))}">Run: <select name="run_id" '
            f'onchange="this.form.submit()">{options}</select> <noscript><button>show</button></noscript></form>')


# ---------------------------------------------------------------------- Gantt


def gantt_page(head: str, gantt: Gantt | None, runs: Sequence[Mapping[str, Any]], dag_id: str) -> str:
    choose = _run_picker(dag_id, "gantt", runs, gantt.run_id if gantt else None)
    if gantt is None or not gantt.bars:
        return head + choose + '<p class="muted">No task has started in this run.</p>'
    rows = []
    for bar in gantt.bars:
        left = 100.0 * bar.start_s / gantt.span_s
        width = max(0.2, 100.0 * (bar.end_s - bar.start_s) / gantt.span_s)
        name = bar.task_id + (f"[{bar.map_index}]" if bar.map_index >= 0 else "")
        label = f"{name} try {bar.try_number}: {bar.state or 'no status'}, {format_duration(bar.end_s - bar.start_s)}"
        rows.append(
            f'<div class="row" data-task="{_e(bar.task_id)}" data-map-index="{bar.map_index}" data-try="{bar.try_number}">'
            f'<div class="label"><a href="{_e(ti_href(dag_id, gantt.run_id, bar.task_id, bar.map_index))}">{_e(name)}</a>'
            + (f' <span class="muted">#{bar.try_number}</span>' if bar.try_number > 1 else "")
            + f'</div><div class="track"><div class="gbar {_st(bar.state)}" title="{_e(label)}" '
            f'style="left:{left:.3f}%;width:{width:.3f}%"></div></div></div>')
    ticks = "".join(f"<span>+{_e(format_duration(gantt.span_s * i / 4))}</span>" for i in range(5))
    start = f'<p class="muted">Run {_e(gantt.run_id)} started {_e(_short(gantt.start))}; one bar per try.</p>'
    return head + choose + start + f'<div class="gantt" data-run="{_e(gantt.run_id)}">' + "".join(rows) + \
        f'<div class="axis">{ticks}</div></div>'


# ---------------------------------------------------------------------- code and details


def code_page(head: str, plan: StepPlan, source: str | None, problem: str | None = None) -> str:
    if source is None:
        return head + f'<div class="error">{_e(problem or "The DAG file is not readable here.")}</div>'
    marks = {s.line for s in plan.steps if s.line and s.module == plan.fileloc}
    lines = source.splitlines()
    body = "".join(
        f'<div class="{"hl" if n in marks else ""}" id="L{n}"><span class="ln">{n}</span>{_e(text) or "&nbsp;"}</div>'
        for n, text in enumerate(lines, start=1))
    return head + f'<p class="muted">{_e(plan.fileloc)} &middot; {len(lines)} lines &middot; highlighted: task definitions</p>' \
        + f'<pre class="code">{body}</pre>'


def details_page(head: str, plan: StepPlan, summary: DagSummary | None) -> str:
    doc = render_markdown(plan.doc_md) if plan.doc_md else '<p class="muted">This DAG has no doc_md.</p>'
    facts = [
        ("description", plan.description or ""), ("file", plan.fileloc), ("start date", plan.start_date or ""),
        ("end date", plan.end_date or ""), ("catchup", str(plan.catchup)), ("max active runs", str(plan.max_active_runs)),
        ("max active tasks", str(plan.max_active_tasks)), ("tasks", str(len(plan.steps))), ("plan hash", plan.hash[:12]),
        ("next run", (summary.next_run or "-") if summary else "-"),
    ]
    params = "".join(f"<tr><td>{_e(k)}</td><td><code>{_e(json.dumps(v.default, default=str))}</code></td>"
                     f"<td>{_e(v.description or '')}</td></tr>" for k, v in plan.params.items())
    table = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in facts)
    return (head + f'<div class="doc">{doc}</div><h3>DAG</h3><table class="list">{table}</table>'
            + (f'<h3>Params</h3><table class="list"><tr><th>name</th><th>default</th><th>description</th></tr>{params}</table>'
               if params else ""))


# ---------------------------------------------------------------------- task instance


def task_instance_page(view: TaskInstanceView, log_text: str, links: LocalLinks) -> bytes:
    inst = view.instance
    name = inst.task_id + (f"[{inst.map_index}]" if inst.map_index >= 0 else "")
    back = dag_href(view.dag_id, run_id=view.run_id)
    tries = "".join(
        f'<tr data-try="{t.number}"><td>{t.number}</td><td>{_pill(t.state)}</td><td>{_e(_short(t.start))}</td>'
        f"<td>{_e(_short(t.end))}</td><td>{_e(format_duration(t.duration_s))}</td>"
        f'<td class="err">{_e((t.error or "").strip().splitlines()[-1] if t.error else "")}</td></tr>' for t in inst.tries)
    xcoms = "".join(f"<tr><th>{_e(k)}</th><td><pre>{_e(json.dumps(v, indent=2, default=str))}</pre></td></tr>"
                    for k, v in view.xcoms.items()) or '<tr><td class="muted">no XComs</td></tr>'
    fields = _rendered_section(view)
    body = (
        f'<p><a href="{_e(back)}">&larr; {_e(view.dag_id)} / {_e(view.run_id)}</a></p>'
        f'<h2 data-task="{_e(inst.task_id)}" data-state="{_e(inst.state or NO_STATUS)}">{_e(name)} {_pill(inst.state)}</h2>'
        f'<p class="muted">{_e(view.operator.lstrip("_"))}'
        + (f" &middot; {_e(view.doc)}" if view.doc else "") + "</p>"
        + (f'<p class="waiting"><b>Dependencies not met:</b> {_e(inst.waiting)}</p>'
           if getattr(inst, "waiting", None) else "")
        + "<h3>Tries</h3><table class=\"list tries\"><tr><th>#</th><th>state</th><th>start</th><th>end</th>"
        f"<th>duration</th><th>error</th></tr>{tries}</table>"
        f'<h3>Log <span class="muted">(latest try, every line with its time)</span></h3><pre class="log">{_e(log_text)}</pre>'
        f'<h3>XComs</h3><table class="list xcoms">{xcoms}</table>{fields}')
    return shell(f"{name} - {view.run_id}", body)


def _field_rows(values: Mapping[str, Any], truncated: Sequence[str] = ()) -> str:
    def text(v: Any) -> str:
        return v if isinstance(v, str) else "None" if v is None else json.dumps(v, indent=2, default=str)

    return "".join(
        f'<tr data-field="{_e(k)}"><th>{_e(k)}'
        + (' <span class="muted trunc">(truncated)</span>' if k in truncated else "")
        + f"</th><td><pre>{_e(text(v))}</pre></td></tr>" for k, v in values.items())


def _rendered_section(view: TaskInstanceView) -> str:
    """Airflow's "Rendered Template": each try's fields as it ran with them; before any try
    rendered them, the fields as written."""
    if not view.rendered:
        rows = _field_rows(view.template_fields) or '<tr><td class="muted">no template fields</td></tr>'
        return ('<h3>Rendered template <span class="muted">(no try has rendered them yet: the fields as written in the '
                f'DAG file)</span></h3><table class="list fields" data-rendered="false">{rows}</table>')
    parts = ['<h3>Rendered template <span class="muted">(each try\'s template fields as it ran with them: Jinja '
             "rendered, upstream values resolved, secrets masked)</span></h3>"]
    for r in view.rendered:
        rows = _field_rows(r.fields, r.truncated) or '<tr><td class="muted">no template fields</td></tr>'
        problem = f'<p class="err">{_e(r.error)}</p>' if r.error else ""
        parts.append(f'<div class="rendered" data-try="{r.try_number}"><h4>Try {r.try_number} {_pill(r.state)}</h4>'
                     f'{problem}<table class="list fields" data-rendered="true">{rows}</table></div>')
    return "".join(parts)


# ---------------------------------------------------------------------- assets


def assets_page(assets: Sequence[AssetView]) -> bytes:
    parts = ['<h2>Assets</h2><p class="muted">Producers (task outlets) &rarr; asset &rarr; consumers (DAGs scheduled on it), '
             "and the asset's newest events.</p><div class=\"assets\">"]
    for a in assets:
        prod = "".join(f'<div class="box"><a href="{_e(dag_href(d))}">{_e(d)}</a>.{_e(t)}</div>' for d, t in a.producers) \
            or '<div class="box muted">S3 object arrival</div>'
        cons = "".join(f'<div class="box"><a href="{_e(dag_href(d))}">{_e(d)}</a></div>' for d in a.consumers) \
            or '<div class="box muted">no consumer</div>'
        events = "".join(
            f"<tr><td>{_e(_short(e.get('timestamp')))}</td><td>{_e(e.get('key'))}</td><td>{_e(e.get('size'))}</td>"
            f"<td>{_e(e.get('source_dag_id') or 's3')}</td></tr>" for e in a.events) or '<tr><td class="muted">no events yet</td></tr>'
        parts.append(
            f'<div class="flow" data-asset="{_e(a.uri)}"><div>{prod}</div><div class="arrow">&rarr;</div>'
            f'<div class="box asset">{_e(a.uri)}</div><div class="arrow">&rarr;</div><div>{cons}</div>'
            f'<table class="list events"><tr><th>time</th><th>key</th><th>size</th><th>from</th></tr>{events}</table></div>')
    if not assets:
        parts.append('<p class="muted">No DAG produces or consumes an asset.</p>')
    parts.append("</div>")
    return shell("Assets - Stratus", "".join(parts))

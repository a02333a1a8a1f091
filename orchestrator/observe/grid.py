"""The run grid as HTML: one renderer for the CloudWatch custom widget and for `stratus ui`.

Pure: ``render_grid(plan, runs, tis, links=...)`` returns an HTML fragment (a ``<style>``
block and the markup, no script). What differs between the two hosts is behind ``Links``:

- ``WidgetLinks`` (CloudWatch): actions are ``<a class="btn">`` followed by
  ``<cwdb-action action="call" endpoint="<widget function ARN>" confirmation="...">``
  carrying JSON params, so the dashboard calls the widget Lambda, which acts and re-renders;
  log links open the try's log stream in the CloudWatch console.
- ``LocalLinks`` (`stratus ui`): actions are small POST forms guarded by ``confirm()``;
  log links go to the UI's ``/logs`` route.

Layout, as Airflow's grid: columns are runs (oldest left), each headed by a bar coloured by
the run's state whose height is its duration; rows are tasks, groups first then members.
Under the grid, the selected run (the newest by default) lists its task instances with
every try, its log link and the actions.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from orchestrator.observe.gridmodel import (
    NO_STATUS,
    NO_STATUS_COLOR,
    STATE_COLORS,
    Cell,
    Grid,
    Instance,
    RunColumn,
    TimeRange,
    Try,
    build_grid,
    format_duration,
    parse_time,
    run_time,
)
from orchestrator.plan.model import StepPlan


MAX_MAPPED_ROWS = 50


class Links(Protocol):
    """How the rendered page links and acts; one implementation per host."""

    # Whether every cell selects its run (else only the run's bar does, keeping pages small).
    select_from_cells: bool

    def select_run(self, dag_id: str, run_id: str, inner: str, title: str) -> str:
        """``inner`` HTML made clickable so that it selects run ``run_id``."""
        ...

    def log_url(self, dag_id: str, run_id: str, inst: Instance, attempt: Try) -> str | None:
        """Where one try's log can be read, or None."""
        ...

    def action(self, label: str, params: Mapping[str, Any], confirmation: str, css: str = "") -> str:
        """A button performing ``params["action"]`` after ``confirmation``."""
        ...


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def console_log_url(region: str, log_group: str, log_stream: str, filter_pattern: str | None = None) -> str:
    """The CloudWatch console URL of one log stream (the console's ``$25``-escaped fragment)."""

    def enc(text: str) -> str:
        return quote(text, safe="").replace("%", "$25")

    url = (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#logsV2:log-groups/log-group/{enc(log_group)}/log-events/{enc(log_stream)}"
    )
    if filter_pattern:
        url += "$3FfilterPattern$3D" + enc(filter_pattern)
    return url


def try_filter_pattern(run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
    """The CloudWatch Logs JSON filter pattern matching one try's structured log lines."""
    pattern = f'{{ $.run_id = "{run_id}" && $.task_id = "{task_id}" && $.try_number = {try_number}'
    if map_index >= 0:
        pattern += f" && $.map_index = {map_index}"
    return pattern + " }"


class WidgetLinks:
    """Links and actions for the CloudWatch custom widget (no script: ``cwdb-action``)."""

    # One cwdb-action per cell would make a wide grid's HTML large: the bars select runs.
    select_from_cells = False

    def __init__(self, endpoint: str, region: str, log_group: str, *, actions_endpoint: str | None = None) -> None:
        self.endpoint = endpoint  # the read-only widget function: selecting a run
        self.actions_endpoint = actions_endpoint  # the widget-actions function, None: no buttons
        self.region = region
        self.log_group = log_group

    def _call(self, params: Mapping[str, Any], confirmation: str | None = None, endpoint: str | None = None) -> str:
        confirm = f' confirmation="{_e(confirmation)}"' if confirmation else ""
        body = html.escape(json.dumps(dict(params), sort_keys=True), quote=False)
        target = endpoint or self.endpoint
        return f'<cwdb-action action="call" endpoint="{_e(target)}" display="widget"{confirm}>{body}</cwdb-action>'

    def select_run(self, dag_id: str, run_id: str, inner: str, title: str) -> str:
        return f'<a title="{_e(title)}">{inner}</a>' + self._call({"action": "select", "dag_id": dag_id, "run_id": run_id})

    def log_url(self, dag_id: str, run_id: str, inst: Instance, attempt: Try) -> str | None:
        if not attempt.log_stream or not self.log_group:
            return None
        pattern = try_filter_pattern(run_id, inst.task_id, attempt.number, inst.map_index)
        return console_log_url(self.region, self.log_group, attempt.log_stream, pattern)

    def action(self, label: str, params: Mapping[str, Any], confirmation: str, css: str = "") -> str:
        if not self.actions_endpoint:
            return ""  # read-only dashboard: no buttons at all
        button = f'<a class="btn {_e(css)}">{_e(label)}</a>' + self._call(params, confirmation, self.actions_endpoint)
        if params.get("action") == "trigger":
            # Form fields reach the function in widgetContext.forms.all: the run's conf, as JSON.
            return '<input name="conf" size="24" placeholder="conf (JSON, optional)"> ' + button
        return button


class LocalLinks:
    """Links and actions for `stratus ui`: plain hrefs and POST forms with ``confirm()``."""

    select_from_cells = True

    def __init__(self, base: str = "", csrf: str = "") -> None:
        self.base = base.rstrip("/")
        self.csrf = csrf  # the session's token: every state-changing form carries it

    def select_run(self, dag_id: str, run_id: str, inner: str, title: str) -> str:
        href = f"{self.base}/dags/{quote(dag_id, safe='')}?{urlencode({'run_id': run_id})}"
        return f'<a href="{_e(href)}" title="{_e(title)}">{inner}</a>'

    def log_url(self, dag_id: str, run_id: str, inst: Instance, attempt: Try) -> str | None:
        query = {"dag_id": dag_id, "run_id": run_id, "task_id": inst.task_id, "try": attempt.number}
        if inst.map_index >= 0:
            query["map_index"] = inst.map_index
        return f"{self.base}/logs?{urlencode(query)}"

    def csrf_field(self) -> str:
        return f'<input type="hidden" name="csrf" value="{_e(self.csrf)}">' if self.csrf else ""

    def action(self, label: str, params: Mapping[str, Any], confirmation: str, css: str = "") -> str:
        payload = json.dumps(dict(params), sort_keys=True)
        # The confirmation goes through json.dumps so quotes inside it cannot end the JS string.
        return (
            f'<form class="act" method="post" action="{_e(self.base)}/action" '
            f'onsubmit="return confirm({_e(json.dumps(confirmation))})">'
            f'<input type="hidden" name="params" value="{_e(payload)}">{self.csrf_field()}'
            f'<button type="submit" class="btn {_e(css)}" data-action="{_e(params.get("action"))}">{_e(label)}</button></form>'
        )


STYLE = (
    "<style>"
    ".sg{font-family:Arial,Helvetica,sans-serif;font-size:12px;color:#16191f}"
    ".sg table.grid{border-collapse:collapse}"
    ".sg td,.sg th{padding:1px 3px;border:0;text-align:left;vertical-align:bottom}"
    ".sg .task{white-space:nowrap;padding-right:12px}"
    ".sg .group{font-weight:bold}"
    ".sg .sq{display:inline-block;width:14px;height:14px;border:1px solid #999;border-radius:2px;"
    "box-sizing:border-box;font-size:9px;line-height:12px;text-align:center;color:#000}"
    ".sg .bar{display:inline-block;width:14px;border-radius:2px 2px 0 0;border:1px solid #777;box-sizing:border-box}"
    ".sg .sel{outline:2px solid #0972d3}"
    ".sg tr.dates th{vertical-align:top;padding-top:2px}"
    ".sg tr.dates span{writing-mode:vertical-rl;transform:rotate(180deg);font-size:9px;color:#555;font-weight:normal}"
    ".sg .legend span{margin-right:8px;white-space:nowrap}"
    ".sg table.tis{border-collapse:collapse;margin-top:6px}"
    ".sg table.tis td,.sg table.tis th{border-bottom:1px solid #ddd;padding:2px 6px;vertical-align:top}"
    ".sg .err{color:#b00;white-space:pre-wrap;max-width:480px;overflow:hidden}"
    ".sg form.act{display:inline;margin:0 2px}"
    ".sg .btn{font-size:11px;padding:1px 6px;margin:0 2px}"
    ".sg .pill{display:inline-block;padding:0 5px;border-radius:8px;color:#000;border:1px solid #999}"
    ".sg .pill.st-success,.sg .pill.st-failed,.sg .pill.st-queued,.sg .pill.st-deferred{color:#fff}"
    ".sg .notice{background:#f2f8fd;border:1px solid #0972d3;color:#16191f;padding:4px 8px;margin:6px 0}"
    + "".join(f".sg .st-{name}{{background:{color}}}" for name, color in STATE_COLORS.items())
    + f".sg .st-{NO_STATUS}{{background:{NO_STATUS_COLOR}}}"
    + "</style>"
)


def _st(state: str | None) -> str:
    return f"st-{state or NO_STATUS}"


def _cell_title(cell: Cell) -> str:
    if cell.mapped:
        parts = ", ".join(f"{n} {s}" for s, n in sorted(cell.counts.items()))
        return f"{cell.task_id} [mapped x{cell.size}]: {parts}"
    inst = cell.instance
    if inst is None:
        return f"{cell.task_id}: {cell.state or 'no status'}"
    text = f"{cell.task_id}: {inst.state or 'no status'}, try {inst.try_number}"
    if inst.attempts is not None:
        text += f" of {inst.attempts}"
    if inst.duration_s is not None:
        text += f", {format_duration(inst.duration_s)}"
    return text


def _square(cell: Cell, selected: bool) -> str:
    text = str(cell.size) if cell.mapped else ""
    sel = " sel" if selected else ""
    return (
        f'<span class="sq {_st(cell.state)}{sel}" data-task="{_e(cell.task_id)}" data-run="{_e(cell.run_id)}" '
        f'data-state="{_e(cell.state or NO_STATUS)}">{_e(text)}</span>'
    )


def _run_title(col: RunColumn) -> str:
    bits = [col.run_id, f"state: {col.state or 'no status'}", f"type: {col.run_type}"]
    if col.logical_date:
        bits.append(f"logical date: {col.logical_date}")
    if col.duration_s is not None:
        bits.append(f"duration: {format_duration(col.duration_s)}")
    return "\n".join(bits)


def _grid_table(grid: Grid, links: Links, selected: str | None) -> str:
    longest = max((c.duration_s or 0.0 for c in grid.runs), default=0.0) or 1.0
    head = ['<tr><th class="task"></th>']
    for col in grid.runs:
        height = 6 + int(50 * (col.duration_s or 0.0) / longest)
        bar = f'<span class="bar {_st(col.state)}" style="height:{height}px" data-run="{_e(col.run_id)}"></span>'
        head.append(f"<th>{links.select_run(grid.dag_id, col.run_id, bar, _run_title(col))}</th>")
    head.append("</tr>")
    # Dates on the axis, as in Airflow's grid: each run's logical date (its start when it has none).
    head.append('<tr class="dates"><th class="task"></th>')
    for col in grid.runs:
        when = parse_time(col.logical_date or col.start_date)
        label = when.strftime("%m-%d %H:%M") if when else ""
        head.append(f'<th class="date" data-run="{_e(col.run_id)}"><span>{_e(label)}</span></th>')
    head.append("</tr>")
    body = []
    for row in grid.rows:
        indent = 12 * row.depth
        label = ("&#9662; " if row.is_group else "") + _e(row.label) + (" [ ]" if row.mapped else "")
        klass = "task group" if row.is_group else "task"
        tds = [f'<td class="{klass}" style="padding-left:{indent}px" title="{_e(row.key)}">{label}</td>']
        for col in grid.runs:
            cell = grid.cell(row.key, col.run_id)
            square = _square(cell, selected == col.run_id)
            if links.select_from_cells:
                tds.append(f"<td>{links.select_run(grid.dag_id, col.run_id, square, _cell_title(cell))}</td>")
            else:
                tds.append(f'<td title="{_e(_cell_title(cell))}">{square}</td>')
        body.append(f'<tr data-row="{_e(row.key)}">' + "".join(tds) + "</tr>")
    return '<table class="grid">' + "".join(head) + "".join(body) + "</table>"


def _legend() -> str:
    names = [*STATE_COLORS, NO_STATUS]
    return '<div class="legend">' + "".join(
        f'<span><span class="sq {_st(None if n == NO_STATUS else n)}"></span> {_e(n.replace("_", " "))}</span>' for n in names
    ) + "</div>"


def _tries_html(dag_id: str, run_id: str, inst: Instance, links: Links) -> str:
    parts = []
    for attempt in inst.tries:
        text = f"#{attempt.number} {attempt.state or ''} {format_duration(attempt.duration_s)}".strip()
        url = links.log_url(dag_id, run_id, inst, attempt)
        inner = f'<span class="pill {_st(attempt.state)}">{_e(text)}</span>'
        if url:
            inner += f' <a href="{_e(url)}" target="_blank" class="log" data-try="{attempt.number}">log</a>'
        parts.append(inner)
    return "<br>".join(parts)


def _ti_actions(
    dag_id: str, run_id: str, task_id: str, state: str | None, links: Links, can_mark: bool, *, mapped: int = 0
) -> str:
    """Buttons of one task (a mapped task's act on all its map indexes, as the engine does)."""
    target = f"{task_id}' (all {mapped} map indexes)" if mapped else f"{task_id}'"
    base = {"dag_id": dag_id, "run_id": run_id, "task_id": task_id}
    failed = state in ("failed", "upstream_failed")
    out = []
    if mapped and failed:
        out.append(
            links.action(
                "Retry failed",
                {**base, "action": "clear", "failed_only": True},
                f"Clear the failed map indexes of task '{task_id}' in run '{run_id}' of DAG '{dag_id}' so that they run again?",
                "clear",
            )
        )
    out.append(
        links.action(
            "Retry" if failed and not mapped else "Clear",
            {**base, "action": "clear"},
            f"Clear task '{target} in run '{run_id}' of DAG '{dag_id}' so that it runs again?",
            "clear",
        )
    )
    if can_mark:
        for new_state in ("success", "failed"):
            if state != new_state:
                out.append(
                    links.action(
                        f"Mark {new_state}",
                        {**base, "action": "mark", "state": new_state},
                        f"Mark task '{target} in run '{run_id}' as {new_state}?",
                        f"mark-{new_state}",
                    )
                )
    return "".join(out)


def _error_line(error: str | None) -> str:
    if not error:
        return ""
    lines = [ln for ln in str(error).strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def render_run_detail(
    plan: StepPlan,
    column: RunColumn,
    grid: Grid,
    links: Links,
    *,
    can_mark: bool = False,
) -> str:
    """The selected run: its state and every task instance with tries, logs and actions."""
    dag_id = plan.dag_id
    run_id = column.run_id
    head = (
        f'<h4 class="run" data-run="{_e(run_id)}" data-state="{_e(column.state)}">Run {_e(run_id)} '
        f'<span class="pill {_st(column.state)}">{_e(column.state or "no status")}</span> '
        f"<small>{_e(column.run_type)} &middot; logical date {_e(column.logical_date or '-')} &middot; "
        f"{_e(format_duration(column.duration_s))}</small></h4>"
    )
    clear_failed = links.action(
        "Clear failed",
        {"action": "clear", "dag_id": dag_id, "run_id": run_id, "failed_only": True},
        f"Clear every failed task in run '{run_id}' of DAG '{dag_id}' (and what they block) so they run again?",
        "clear-failed",
    )
    rows = ["<tr><th>task</th><th>state</th><th>tries</th><th>duration</th><th>error</th><th></th></tr>"]
    for row in grid.rows:
        if row.is_group:
            continue
        cell = grid.cell(row.key, run_id)
        if cell.mapped:
            summary = ", ".join(f"{n} {s}" for s, n in sorted(cell.counts.items()))
            # A wide map lists its unfinished and failed instances first, at most MAX_MAPPED_ROWS rows.
            ordered = sorted(cell.instances, key=lambda i: (i.state == "success", i.map_index))
            inner = "".join(_ti_row(dag_id, run_id, i, links, False, f"[{i.map_index}]", actions=False)
                            for i in ordered[:MAX_MAPPED_ROWS])
            if len(ordered) > MAX_MAPPED_ROWS:
                inner += (f'<tr class="more"><td colspan="6">{len(ordered) - MAX_MAPPED_ROWS} more map indexes '
                          "(all in the counts above)</td></tr>")
            buttons = _ti_actions(dag_id, run_id, row.key, cell.state, links, can_mark, mapped=cell.size)
            rows.append(
                f'<tr class="ti" data-task="{_e(row.key)}" data-state="{_e(cell.state or NO_STATUS)}"><td>{_e(row.key)}</td>'
                f'<td colspan="4"><details><summary><span class="pill {_st(cell.state)}">mapped x{cell.size}</span> '
                f"{_e(summary)}</summary><table class=\"tis\">{inner}</table></details></td><td>{buttons}</td></tr>"
            )
        elif cell.instance is not None:
            rows.append(_ti_row(dag_id, run_id, cell.instance, links, can_mark, ""))
        else:
            rows.append(
                f'<tr class="ti" data-task="{_e(row.key)}" data-state="{NO_STATUS}"><td>{_e(row.key)}</td>'
                f'<td><span class="pill {_st(None)}">no status</span></td><td></td><td></td><td></td><td></td></tr>'
            )
    return head + f"<div>{clear_failed}</div>" + '<table class="tis">' + "".join(rows) + "</table>"


def _ti_row(
    dag_id: str, run_id: str, inst: Instance, links: Links, can_mark: bool, suffix: str, *, actions: bool = True
) -> str:
    tries = ""
    if inst.try_number > 0:  # an EmptyOperator is decided without a try
        tries = f"{inst.try_number}" + (f"/{inst.attempts}" if inst.attempts is not None else "")
    buttons = _ti_actions(dag_id, run_id, inst.task_id, inst.state, links, can_mark) if actions else ""
    return (
        f'<tr class="ti" data-task="{_e(inst.task_id)}" data-map-index="{inst.map_index}" '
        f'data-state="{_e(inst.state or NO_STATUS)}"><td>{_e(inst.task_id + suffix)}</td>'
        f'<td><span class="pill {_st(inst.state)}">{_e(inst.state or "no status")}</span></td>'
        f"<td>{'<br>'.join(x for x in (_e(tries), _tries_html(dag_id, run_id, inst, links)) if x)}</td>"
        f"<td>{_e(format_duration(inst.duration_s))}</td>"
        f'<td class="err">{_e(_error_line(inst.error))}</td>'
        f"<td>{buttons}</td></tr>"
    )


def render_grid(
    plan: StepPlan,
    runs: Sequence[Mapping[str, Any]],
    tis: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    links: Links,
    selected_run: str | None = None,
    time_range: TimeRange | None = None,
    max_runs: int = 25,
    now: datetime | None = None,
    can_mark: bool = False,
    notice: str | None = None,
) -> str:
    """Render one DAG's grid and its selected run as an HTML fragment.

    ``runs``: run items; ``tis``: run_id -> task-instance items (docs/internals.md shapes).
    ``selected_run`` defaults to the newest run shown. ``notice`` (e.g. the result of an
    action) is shown above the grid.
    """
    in_range = sorted((r for r in runs if (time_range or TimeRange()).contains(run_time(r))),
                      key=lambda r: (run_time(r) or datetime.min.replace(tzinfo=timezone.utc), str(r.get("run_id"))))
    shown = [str(r["run_id"]) for r in (in_range[-max_runs:] if max_runs > 0 else in_range)]
    detail = selected_run if selected_run in shown else (shown[-1] if shown else None)
    grid = build_grid(plan, runs, tis, time_range=time_range, max_runs=max_runs, now=now, detail_run=detail)
    ids = [c.run_id for c in grid.runs]
    selected = selected_run if selected_run in ids else (ids[-1] if ids else None)
    trigger = links.action(
        "Trigger run",
        {"action": "trigger", "dag_id": plan.dag_id},
        f"Trigger a new run of DAG '{plan.dag_id}' now?",
        "trigger",
    )
    out = [
        STYLE,
        f'<div class="sg" data-dag="{_e(plan.dag_id)}">',
        f"<h3>{_e(plan.dag_id)} <small>{_e(len(grid.runs))} run(s) shown</small> {trigger}</h3>",
    ]
    if notice:
        out.append(f'<div class="notice">{_e(notice)}</div>')
    if not grid.runs:
        out.append("<p>No runs in this time range.</p>")
    else:
        out.append(_grid_table(grid, links, selected))
        out.append(_legend())
        column = next(c for c in grid.runs if c.run_id == selected)
        out.append(render_run_detail(plan, column, grid, links, can_mark=can_mark))
    out.append("</div>")
    return "".join(out)

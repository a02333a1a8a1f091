"""Runs in the terminal: the run list (`stratus runs`) and one run as a tree (`stratus show`).

Pure: items in, text out. ``color=True`` adds ANSI colours close to Airflow's state colours;
the CLI turns it on only when stdout is a terminal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from orchestrator.observe.gridmodel import (
    NO_STATUS,
    build_grid,
    format_duration,
    normal_state,
    seconds_between,
)
from orchestrator.plan.model import StepPlan

# SGR codes approximating airflow.settings.STATE_COLORS on a terminal.
ANSI: dict[str, str] = {
    "success": "32",
    "failed": "31",
    "running": "92",
    "queued": "90",
    "scheduled": "33",
    "up_for_retry": "93",
    "up_for_reschedule": "96",
    "upstream_failed": "38;5;208",
    "skipped": "95",
    "removed": "37",
}
_SYMBOL: dict[str, str] = {
    "success": "✔",
    "failed": "✘",
    "running": "▶",
    "queued": "…",
    "scheduled": "…",
    "up_for_retry": "↻",
    "up_for_reschedule": "⏲",
    "upstream_failed": "✘",
    "skipped": "↷",
    "removed": "-",
}


def paint(text: str, state: str | None, color: bool) -> str:
    """``text`` in the state's colour when ``color``; unchanged otherwise."""
    code = ANSI.get(state or "")
    return f"\x1b[{code}m{text}\x1b[0m" if color and code else text


def _state_label(state: str | None, color: bool) -> str:
    name = state or NO_STATUS.replace("_", " ")
    return paint(f"{_SYMBOL.get(state or '', '○')} {name}", state, color)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], plain_rows: Sequence[Sequence[str]]) -> str:
    widths = [len(h) for h in headers]
    for row in plain_rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    for row, plain in zip(rows, plain_rows):
        lines.append("  ".join(c + " " * (w - len(p)) for c, p, w in zip(row, plain, widths)).rstrip())
    return "\n".join(lines)


def _in_zone(value: Any, tz: Any) -> str:
    """An ISO date from the store shown in ``tz`` (the DAG's time zone); unchanged without one."""
    if not value or tz is None:
        return str(value or "")
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(tz).isoformat(timespec="seconds")


def render_runs(runs: Sequence[Mapping[str, Any]], *, color: bool = False, now: datetime | None = None,
                tz: Any = None) -> str:
    """The runs of one DAG as a table, in the order given (the store returns newest first);
    dates in ``tz`` (the DAG's time zone) when given."""
    if not runs:
        return "No runs."
    now = now or datetime.now(timezone.utc)
    headers = ["RUN ID", "STATE", "TYPE", "LOGICAL DATE", "STARTED", "DURATION", "TASKS"]
    rows, plain = [], []
    for run in runs:
        state = normal_state(run.get("state"))
        duration = seconds_between(run.get("start_date"), run.get("end_date"), now if state == "running" else None)
        done, total = run.get("tasks_done"), run.get("tasks_total")
        tasks = f"{int(done)}/{int(total)}" if done is not None and total is not None else ""
        cells = [
            str(run.get("run_id", "")),
            state or "no status",
            str(run.get("run_type") or ""),
            _in_zone(run.get("logical_date"), tz),
            _in_zone(run.get("start_date"), tz),
            format_duration(duration),
            tasks,
        ]
        plain.append(cells)
        rows.append([cells[0], paint(cells[1], state, color), *cells[2:]])
    return _table(headers, rows, plain)


def render_run_tree(
    plan: StepPlan,
    run: Mapping[str, Any],
    tis: Sequence[Mapping[str, Any]],
    *,
    color: bool = False,
    now: datetime | None = None,
    tz: Any = None,
) -> str:
    """One run: a header line, then every task as a tree (groups, mapped summaries, tries); the
    logical date in ``tz`` (the DAG's time zone) when given."""
    run_id = str(run["run_id"])
    grid = build_grid(plan, [run], {run_id: tis}, time_range=None, max_runs=1, now=now)
    column = grid.runs[0]
    header = (
        f"{plan.dag_id}  {run_id}  {_state_label(column.state, color)}  {column.run_type}"
        f"  logical date {_in_zone(column.logical_date, tz) or '-'}  {format_duration(column.duration_s)}".rstrip()
    )
    lines = [header]
    for row in grid.rows:
        cell = grid.cell(row.key, run_id)
        indent = "  " * (row.depth + 1)
        if row.is_group:
            lines.append(f"{indent}▾ {row.label}  {_state_label(cell.state, color)}")
            continue
        if cell.mapped:
            counts = ", ".join(f"{n} {s}" for s, n in sorted(cell.counts.items()))
            lines.append(f"{indent}{row.label} [mapped x{cell.size}]  {_state_label(cell.state, color)}  ({counts})")
            for child in cell.instances:
                lines.append(f"{indent}  [{child.map_index}]  {_ti_text(child, color)}")
            continue
        single = cell.instance
        if single is None:
            lines.append(f"{indent}{row.label}  {_state_label(None, color)}")
        else:
            lines.append(f"{indent}{row.label}  {_ti_text(single, color)}")
    return "\n".join(lines)


def _ti_text(inst: Any, color: bool) -> str:
    parts = [_state_label(inst.state, color)]
    if inst.try_number:
        tries = f"try {inst.try_number}" + (f"/{inst.attempts}" if inst.attempts else "")
        parts.append(tries)
    if inst.duration_s is not None:
        parts.append(format_duration(inst.duration_s))
    text = "  ".join(parts)
    if inst.error and inst.state in ("failed", "up_for_retry"):
        last = [ln for ln in str(inst.error).strip().splitlines() if ln.strip()]
        if last:
            text += "  " + paint(last[-1][:160], "failed", color)
    if getattr(inst, "waiting", None):
        text += "  waiting: " + str(inst.waiting)[:240]
    return text

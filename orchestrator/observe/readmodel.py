"""The views' read model: DAG list, graph, Gantt, task-instance detail and assets as plain values.

One model serves `stratus ui`, the widget and the CLI: the grid lives in ``gridmodel``; this
module adds what the other pages show. Each builder is pure (plans, registry items, run and
task-instance items in; frozen dataclasses out) except :func:`asset_events`, which reads the
asset event items of the run store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from orchestrator.observe.gridmodel import (
    Cell,
    Instance,
    build_grid,
    format_duration,
    instance_from_item,
    normal_state,
    parse_time,
)
from orchestrator.plan.model import AssetCondition, Schedule, StepPlan

_DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
_PRESETS = {
    "@hourly": "every hour", "@daily": "every day at 00:00", "@weekly": "every Sunday at 00:00",
    "@monthly": "on day 1 of every month at 00:00", "@yearly": "every year on 1 January at 00:00",
    "@annually": "every year on 1 January at 00:00", "@once": "once",
}


def describe_cron(expression: str) -> str:
    """A cron expression in words for the common shapes (``0 6 * * *``: every day at 06:00), else the cron."""
    if expression in _PRESETS:
        return _PRESETS[expression]
    parts = expression.split()
    if len(parts) != 5:
        return f"cron {expression}"
    minute, hour, dom, month, dow = parts
    if minute.startswith("*/") and hour == dom == month == dow == "*":
        return f"every {minute[2:]} minutes"
    if minute == "*" and hour == dom == month == dow == "*":
        return "every minute"
    if minute.isdigit() and hour == dom == month == dow == "*":
        return f"every hour at minute {int(minute)}"
    if minute.isdigit() and hour.startswith("*/") and dom == month == dow == "*":
        return f"every {hour[2:]} hours at minute {int(minute)}"
    if minute.isdigit() and all(h.isdigit() for h in hour.split(",")) and month == "*":
        times = ", ".join(f"{int(h):02d}:{int(minute):02d}" for h in hour.split(","))
        if dom == "*" and dow == "*":
            return f"every day at {times}"
        if dom == "*" and dow in ("1-5", "MON-FRI"):
            return f"every weekday at {times}"
        if dom == "*" and all(d.isdigit() and int(d) < 7 for d in dow.split(",")):
            return f"every {', '.join(_DAYS[int(d)] for d in dow.split(','))} at {times}"
        if dow == "*" and dom.isdigit():
            return f"on day {int(dom)} of every month at {times}"
    return f"cron {expression}"


def describe_schedule(schedule: Schedule) -> tuple[str, str]:
    """``(words, expression)`` of a plan's schedule, e.g. ``("every day at 06:00", "0 6 * * *")``."""
    if schedule.kind == "cron":
        expr = schedule.expression or ""
        return describe_cron(schedule.preset or expr), expr
    if schedule.kind == "timedelta":
        seconds = float(schedule.interval_s or 0)
        return f"every {format_duration(seconds)}", f"timedelta({seconds:g} s)"
    if schedule.kind == "once":
        return "once", "@once"
    if schedule.kind == "assets":
        if schedule.expression:  # AssetOrTimeSchedule: the cron, or the assets, whichever comes first
            return (f"{describe_cron(schedule.expression)}, or when assets update",
                    f"{schedule.expression} | {asset_condition_text(schedule.assets)}")
        return "when assets update", asset_condition_text(schedule.assets)
    return "manual only", "None"


def asset_condition_text(cond: AssetCondition | None) -> str:
    if cond is None:
        return ""
    if cond.uri:
        return cond.uri
    parts = [asset_condition_text(c) for c in (cond.all or cond.any or [])]
    return "(" + (" & " if cond.all else " | ").join(parts) + ")"


def asset_uris(cond: AssetCondition | None) -> list[str]:
    """Every asset URI a schedule condition names (iterative)."""
    out: list[str] = []
    stack = [cond] if cond else []
    while stack:
        c = stack.pop()
        if c.uri:
            out.append(c.uri)
        stack.extend(c.all or c.any or [])
    return sorted(set(out))


# ---------------------------------------------------------------------- DAG list


@dataclass(frozen=True)
class DagSummary:
    """One row of the DAG list."""

    dag_id: str
    schedule_words: str
    schedule_expr: str
    timezone: str
    paused: bool
    tags: tuple[str, ...]
    description: str | None
    last_run_id: str | None
    last_run_state: str | None
    last_run_date: str | None
    next_run: str | None  # ISO, None when not periodic or paused
    fileloc: str


def next_run_of(plan: StepPlan, now: datetime) -> str | None:
    """When the next scheduled run is due (ISO), or None (manual, asset-triggered, ended)."""
    from orchestrator.triggers.timetable import timetable_for

    try:
        info = timetable_for(plan).next_run(now)
    except Exception:  # noqa: BLE001 - a display value: a plan the timetable refuses shows no next run
        return None
    return info.run_after.isoformat() if info else None


def dag_summary(plan: StepPlan, registry: Mapping[str, Any], last_run: Mapping[str, Any] | None,
                now: datetime | None = None) -> DagSummary:
    words, expr = describe_schedule(plan.schedule)
    paused = bool(registry.get("paused"))
    return DagSummary(
        dag_id=plan.dag_id, schedule_words=words, schedule_expr=expr, timezone=plan.schedule.timezone,
        paused=paused, tags=tuple(plan.tags), description=plan.description,
        last_run_id=str(last_run["run_id"]) if last_run else None,
        last_run_state=normal_state(last_run.get("state")) if last_run else None,
        last_run_date=str(last_run.get("logical_date") or "") if last_run else None,
        next_run=None if paused else next_run_of(plan, now or datetime.now(timezone.utc)),
        fileloc=plan.fileloc,
    )


# ---------------------------------------------------------------------- graph


@dataclass(frozen=True)
class GraphNode:
    task_id: str
    label: str
    group: str | None
    operator: str
    mapped: bool
    state: str | None
    map_size: int = 0
    outlets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Graph:
    """Tasks in layers (longest path from a root), edges, and the task groups' members."""

    dag_id: str
    layers: tuple[tuple[GraphNode, ...], ...]
    edges: tuple[tuple[str, str], ...]
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    run_id: str | None = None


def build_graph(plan: StepPlan, run: Mapping[str, Any] | None = None,
                tis: Sequence[Mapping[str, Any]] = ()) -> Graph:
    """The DAG's graph; states from ``run``'s task instances when given."""
    cells: dict[str, Cell] = {}
    if run is not None:
        grid = build_grid(plan, [run], {str(run["run_id"]): list(tis)}, max_runs=1)
        cells = {key: cell for (key, _), cell in grid.cells.items()}
    depth: dict[str, int] = {}
    for step in plan.steps:  # topological order
        depth[step.task_id] = max((depth[u] + 1 for u in step.upstream if u in depth), default=0)
    layers: dict[int, list[GraphNode]] = {}
    groups: dict[str, list[str]] = {}
    for step in plan.steps:
        cell = cells.get(step.task_id)
        label = step.task_id[len(step.group) + 1:] if step.group and step.task_id.startswith(step.group + ".") else step.task_id
        layers.setdefault(depth[step.task_id], []).append(GraphNode(
            task_id=step.task_id, label=label, group=step.group, operator=step.operator,
            mapped=step.mapping is not None, state=cell.state if cell else None,
            map_size=cell.size if cell and cell.mapped else 0, outlets=tuple(step.outlets)))
        if step.group:
            parts = step.group.split(".")
            for i in range(len(parts)):
                groups.setdefault(".".join(parts[: i + 1]), []).append(step.task_id)
    edges = tuple((u, s.task_id) for s in plan.steps for u in s.upstream)
    return Graph(dag_id=plan.dag_id, layers=tuple(tuple(layers[d]) for d in sorted(layers)), edges=edges,
                 groups={g: tuple(m) for g, m in groups.items()},
                 run_id=str(run["run_id"]) if run is not None else None)


# ---------------------------------------------------------------------- Gantt


@dataclass(frozen=True)
class GanttBar:
    task_id: str
    map_index: int
    try_number: int
    state: str | None
    start_s: float  # seconds after the run's start
    end_s: float


@dataclass(frozen=True)
class Gantt:
    run_id: str
    start: str | None
    span_s: float
    bars: tuple[GanttBar, ...]


def build_gantt(plan: StepPlan, run: Mapping[str, Any], tis: Sequence[Mapping[str, Any]],
                now: datetime | None = None, max_bars: int = 400, spread: int = 25) -> Gantt:
    """One bar per try (not started tries are left out), in plan order, at most ``max_bars``.

    A mapped task of more than ``spread`` instances is one bar (map index -1) from its first
    start to its last end, so a 1,000-way map stays one row.
    """
    now = now or datetime.now(timezone.utc)
    run_start = parse_time(run.get("start_date") or run.get("queued_at"))
    order = {s.task_id: i for i, s in enumerate(plan.steps)}
    instances = sorted((instance_from_item(t, now) for t in tis),
                       key=lambda i: (order.get(i.task_id, len(order)), i.map_index))
    bars: list[GanttBar] = []
    first = run_start
    sizes: dict[str, int] = {}
    for inst in instances:
        sizes[inst.task_id] = sizes.get(inst.task_id, 0) + 1
    wide: dict[str, list[Any]] = {}
    for inst in instances:
        if sizes[inst.task_id] > spread and inst.map_index >= 0:
            wide.setdefault(inst.task_id, []).append(inst)
    done: set[str] = set()
    for inst in instances:
        if inst.task_id in wide:
            if inst.task_id in done:
                continue
            done.add(inst.task_id)
            group = wide[inst.task_id]
            starts = [parse_time(t.start) for i in group for t in i.tries if t.start]
            ends = [parse_time(t.end) or now for i in group for t in i.tries if t.start]
            if not starts:
                continue
            lo, hi = min(x for x in starts if x), max(x for x in ends if x)
            first = first or lo
            state = build_grid(plan, [run], {str(run["run_id"]): [t for t in tis if t.get("task_id") == inst.task_id]},
                               max_runs=1).cell(inst.task_id, str(run["run_id"])).state
            bars.append(GanttBar(inst.task_id, -1, 1, state, (lo - first).total_seconds(), (hi - first).total_seconds()))
            continue
        for attempt in inst.tries:
            a = parse_time(attempt.start)
            if a is None:
                continue
            b = parse_time(attempt.end) or (now if attempt.state == "running" else a)
            first = first or a
            bars.append(GanttBar(inst.task_id, inst.map_index, attempt.number, attempt.state,
                                 (a - first).total_seconds(), (b - first).total_seconds()))
    bars = bars[:max_bars]
    span = max((b.end_s for b in bars), default=0.0) or 1.0
    return Gantt(run_id=str(run["run_id"]), start=first.isoformat() if first else None, span_s=span, bars=tuple(bars))


# ---------------------------------------------------------------------- task instance


@dataclass(frozen=True)
class RenderedTry:
    """One try's rendered template fields (Airflow's "Rendered Template"), as the worker stored them."""

    try_number: int
    state: str | None
    fields: Mapping[str, Any]
    truncated: tuple[str, ...] = ()  # fields cut to the length limit
    error: str | None = None  # the stored document could not be read


@dataclass(frozen=True)
class TaskInstanceView:
    dag_id: str
    run_id: str
    instance: Instance
    operator: str
    doc: str | None
    xcoms: Mapping[str, Any]
    template_fields: Mapping[str, Any]  # as written in the DAG file
    rendered: tuple[RenderedTry, ...] = ()  # the tries that rendered them, newest first


def rendered_tries(instance: Instance, load: Callable[[str], Mapping[str, Any] | None]) -> tuple[RenderedTry, ...]:
    """The rendered fields of every try that stored them, newest first; ``load`` reads one stored
    document (``orchestrator.store.rendered.load``: inline, or from S3)."""
    out = []
    for t in sorted(instance.tries, key=lambda t: t.number, reverse=True):
        doc = load(t.rendered_ref) if t.rendered_ref else None
        if doc is not None:
            out.append(RenderedTry(try_number=t.number, state=t.state, fields=dict(doc.get("fields") or {}),
                                   truncated=tuple(doc.get("truncated") or ()), error=doc.get("error")))
    return tuple(out)


def task_instance_view(plan: StepPlan, run_id: str, item: Mapping[str, Any], xcoms: Mapping[str, Any],
                       load_rendered: Callable[[str], Mapping[str, Any] | None] | None = None) -> TaskInstanceView:
    """The task-instance page's model; ``load_rendered`` reads a try's stored rendered fields
    (without it the page has only the fields as written)."""
    step = plan.step(str(item["task_id"]))
    instance = instance_from_item(item)
    written = {name: step.args.get(name) for name in step.template_fields if name in step.args}
    return TaskInstanceView(dag_id=plan.dag_id, run_id=run_id, instance=instance, operator=step.operator,
                            doc=step.doc, xcoms=dict(xcoms), template_fields=written,
                            rendered=rendered_tries(instance, load_rendered) if load_rendered else ())


# ---------------------------------------------------------------------- assets


@dataclass(frozen=True)
class AssetView:
    uri: str
    producers: tuple[tuple[str, str], ...]  # (dag_id, task_id)
    consumers: tuple[str, ...]  # dag ids scheduled on it
    events: tuple[Mapping[str, Any], ...] = ()


def build_assets(plans: Iterable[StepPlan]) -> list[AssetView]:
    """Every asset some DAG produces (task outlets) or is scheduled on, with both ends."""
    producers: dict[str, list[tuple[str, str]]] = {}
    consumers: dict[str, list[str]] = {}
    for plan in plans:
        for step in plan.steps:
            for uri in step.outlets:
                producers.setdefault(uri, []).append((plan.dag_id, step.task_id))
        if plan.schedule.kind == "assets":
            for uri in asset_uris(plan.schedule.assets):
                consumers.setdefault(uri, []).append(plan.dag_id)
    return [AssetView(uri=uri, producers=tuple(sorted(producers.get(uri, []))),
                      consumers=tuple(sorted(consumers.get(uri, []))))
            for uri in sorted(set(producers) | set(consumers))]


def asset_events(ddb: Any, table: str, uri: str, limit: int = 5) -> list[dict[str, Any]]:
    """The newest delivered events of one asset (the trigger's ``ASSET#uri / EVT#`` items), newest first."""
    import json

    resp = ddb.query(TableName=table, KeyConditionExpression="pk = :pk AND begins_with(sk, :evt)",
                     ExpressionAttributeValues={":pk": {"S": f"ASSET#{uri}"}, ":evt": {"S": "EVT#"}}, Limit=200)
    out: list[dict[str, Any]] = []
    for item in resp.get("Items", []):
        if "#DAG#" in item["sk"]["S"] or "event" not in item:
            continue
        try:
            out.append(json.loads(item["event"]["S"]))
        except (ValueError, KeyError):
            continue
    out.sort(key=lambda e: str(e.get("timestamp")), reverse=True)
    return out[:limit]

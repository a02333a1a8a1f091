"""The run grid as plain values: rows of tasks (grouped), columns of runs, one cell each.

Pure: takes a ``StepPlan`` and the run and task-instance items as the store returns them
(docs/internals.md: plain dicts, numbers possibly ``Decimal``) and returns frozen dataclasses
that the HTML renderer (``grid.py``) and the terminal renderer (``terminal.py``) draw.

Airflow's grid, read the same way: columns are runs, oldest on the left; rows are tasks in
topological order, each task group a header row followed by its members, indented.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from orchestrator.engine import counters
from orchestrator.plan.model import StepPlan

# Airflow's default state colours (airflow.settings.STATE_COLORS).
STATE_COLORS: dict[str, str] = {
    "queued": "gray",
    "running": "lime",
    "success": "green",
    "failed": "red",
    "up_for_retry": "gold",
    "up_for_reschedule": "turquoise",
    "upstream_failed": "orange",
    "skipped": "hotpink",
    "removed": "lightgrey",
    "scheduled": "tan",
    "restarting": "violet",
    "deferred": "mediumpurple",
}
NO_STATUS = "no_status"
NO_STATUS_COLOR = "white"

# Which state a summary cell (a group row, a mapped task) shows: the most urgent one present.
_PRIORITY = (
    "failed",
    "upstream_failed",
    "up_for_retry",
    "running",
    "up_for_reschedule",
    "queued",
    "scheduled",
    "removed",
    "success",
    "skipped",
)


def normal_state(state: Any) -> str | None:
    """The store's cleared state ``"none"`` (and empty) is Airflow's "no status": None."""
    return None if state in (None, "", "none", NO_STATUS) else str(state)


def state_color(state: str | None) -> str:
    """The Airflow colour for a task-instance or run state (``None`` means no status)."""
    return STATE_COLORS.get(state or "", NO_STATUS_COLOR)


def summary_state(states: Iterable[str | None]) -> str | None:
    """The state a group or mapped cell shows: the most urgent present, None if all unset.

    A mix of finished and unset states (part of a group not reached yet) shows as running
    when something already ran, as Airflow does for a group in progress.
    """
    present = [s for s in states]
    real = {s for s in present if s}
    if not real:
        return None
    for state in _PRIORITY:
        if state in real:
            if state in ("success", "skipped") and None in present:
                return "running"
            return state
    return sorted(real)[0]


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 string (or epoch seconds) from an item as an aware datetime; None if absent."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)) or type(value).__name__ == "Decimal":
        return datetime.fromtimestamp(float(value), tz=timezone.utc)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def seconds_between(start: Any, end: Any, now: datetime | None = None) -> float | None:
    """Seconds from ``start`` to ``end`` (or to ``now`` while still running)."""
    a = parse_time(start)
    if a is None:
        return None
    b = parse_time(end) or now
    if b is None:
        return None
    return max(0.0, (b - a).total_seconds())


def format_duration(seconds: float | None) -> str:
    """``0.4s``, ``12s``, ``3m 05s``, ``2h 01m``; empty for None."""
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole}s"
    minutes, sec = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


@dataclass(frozen=True)
class TimeRange:
    """Runs shown: those whose start (or queue, or logical) time falls in [start, end]."""

    start: datetime | None = None
    end: datetime | None = None

    @classmethod
    def from_millis(cls, start_ms: Any, end_ms: Any) -> TimeRange:
        """From the CloudWatch widget's epoch-millisecond bounds."""

        def conv(v: Any) -> datetime | None:
            return None if v is None else datetime.fromtimestamp(float(v) / 1000.0, tz=timezone.utc)

        return cls(conv(start_ms), conv(end_ms))

    def contains(self, when: datetime | None) -> bool:
        if when is None:
            return True
        if self.start and when < self.start:
            return False
        if self.end and when > self.end:
            return False
        return True


@dataclass(frozen=True)
class Try:
    """One try of a task instance (past ones from ``history``, the last from the item)."""

    number: int
    state: str | None
    start: str | None
    end: str | None
    duration_s: float | None
    error: str | None
    log_stream: str | None
    rendered_ref: str | None = None  # its rendered template fields as stored (orchestrator.store.rendered)


@dataclass(frozen=True)
class Instance:
    """One task instance (one map index)."""

    task_id: str
    map_index: int
    state: str | None
    try_number: int
    max_tries: int | None
    duration_s: float | None
    tries: tuple[Try, ...]
    error: str | None
    waiting: str | None = None  # why a no-status instance waits (depends_on_past: engine.past)

    @property
    def attempts(self) -> int | None:
        """How many tries the instance may take in all (the store's ``max_tries`` counts retries)."""
        return None if self.max_tries is None else max(self.max_tries + 1, self.try_number)


@dataclass(frozen=True)
class Cell:
    """What one task shows in one run: a plain instance, or a summary of mapped ones."""

    run_id: str
    task_id: str
    state: str | None
    instances: tuple[Instance, ...] = ()
    mapped: bool = False
    counts: Mapping[str, int] = field(default_factory=dict)  # mapped: per-state counts
    total: int | None = None  # mapped: the instance count the expansion fixed (all, not only those created)

    @property
    def size(self) -> int:
        """How many map indexes the task has: the expansion's count, else the instances seen."""
        return max(self.total or 0, len(self.instances), sum(self.counts.values()) if self.mapped else 0)

    @property
    def instance(self) -> Instance | None:
        return self.instances[0] if self.instances and not self.mapped else None

    @property
    def duration_s(self) -> float | None:
        found = [i.duration_s for i in self.instances if i.duration_s is not None]
        return max(found) if found else None

    @property
    def try_number(self) -> int:
        return max((i.try_number for i in self.instances), default=0)


@dataclass(frozen=True)
class Row:
    """A task row or a task-group header row (``is_group``), at nesting ``depth``."""

    key: str  # task id, or group id
    label: str
    depth: int
    is_group: bool
    mapped: bool = False


@dataclass(frozen=True)
class RunColumn:
    run_id: str
    state: str | None
    run_type: str
    logical_date: str | None
    start_date: str | None
    end_date: str | None
    duration_s: float | None
    item: Mapping[str, Any]


@dataclass(frozen=True)
class Grid:
    dag_id: str
    rows: tuple[Row, ...]
    runs: tuple[RunColumn, ...]  # oldest first
    cells: Mapping[tuple[str, str], Cell]  # (row key, run_id) -> cell; groups included

    def cell(self, key: str, run_id: str) -> Cell:
        return self.cells.get((key, run_id)) or Cell(run_id=run_id, task_id=key, state=None)


def build_rows(plan: StepPlan) -> list[Row]:
    """Rows in the plan's topological order; a group's header goes before its first member."""
    rows: list[Row] = []
    opened: set[str] = set()
    for step in plan.steps:
        parts = step.group.split(".") if step.group else []
        for depth in range(len(parts)):
            gid = ".".join(parts[: depth + 1])
            if gid not in opened:
                opened.add(gid)
                rows.append(Row(key=gid, label=parts[depth], depth=depth, is_group=True))
        label = step.task_id[len(step.group) + 1 :] if step.group and step.task_id.startswith(step.group + ".") else step.task_id
        rows.append(Row(key=step.task_id, label=label, depth=len(parts), is_group=False, mapped=step.mapping is not None))
    return rows


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def instance_from_item(item: Mapping[str, Any], now: datetime | None = None) -> Instance:
    """A task-instance item (docs/internals.md shape) as an ``Instance`` with all its tries."""
    tries: list[Try] = []
    for n, past in enumerate(item.get("history") or [], start=1):
        tries.append(
            Try(
                number=_int(past.get("try_number"), n),
                state=normal_state(past.get("state")),
                start=past.get("start") or past.get("start_date"),
                end=past.get("end") or past.get("end_date"),
                duration_s=seconds_between(past.get("start") or past.get("start_date"), past.get("end") or past.get("end_date")),
                error=past.get("error"),
                log_stream=past.get("log_stream"),
                rendered_ref=past.get("rendered_fields"),
            )
        )
    try_number = _int(item.get("try_number"), 0)
    state = normal_state(item.get("state"))
    duration = item.get("duration")
    duration_s = float(duration) if duration is not None else seconds_between(
        item.get("start_date"), item.get("end_date"), now if state == "running" else None
    )
    if try_number > 0 and all(t.number != try_number for t in tries):
        tries.append(
            Try(
                number=try_number,
                state=state,
                start=item.get("start_date"),
                end=item.get("end_date"),
                duration_s=duration_s,
                error=item.get("error") if state not in ("success", "skipped", "running", "queued") else None,
                log_stream=item.get("log_stream"),
                rendered_ref=item.get("rendered_fields"),
            )
        )
    max_tries = item.get("max_tries")
    # A try that ended well clears the error: an earlier try's error stays on that try only.
    error = None if state in ("success", "skipped", None, "queued", "scheduled", "running") else item.get("error")
    return Instance(
        task_id=str(item["task_id"]),
        map_index=_int(item.get("map_index"), -1),
        state=state,
        try_number=try_number,
        max_tries=_int(max_tries) if max_tries is not None else None,
        duration_s=duration_s,
        tries=tuple(tries),
        error=error,
        waiting=str(item.get("note")) if state is None and item.get("past_wait") and item.get("note") else None,
    )


def _light_mapped_cell(run_id: str, task_id: str, items: Sequence[Mapping[str, Any]], total: int | None) -> Cell:
    """A mapped cell from states alone (no Instance per map index): for runs not shown in detail."""
    states = [normal_state(i.get("state")) for i in items if _int(i.get("map_index"), -1) >= 0]
    counts = Counter(s or NO_STATUS for s in states)
    missing = (total or 0) - len(states)
    if missing > 0:
        counts[NO_STATUS] += missing
        states.append(None)
    return Cell(run_id=run_id, task_id=task_id, state=summary_state(states), mapped=True, counts=dict(counts),
                total=max(total or 0, len(states) - (1 if missing > 0 else 0)))


def _cell(
    run_id: str, task_id: str, items: Sequence[Mapping[str, Any]], now: datetime | None, total: int | None = None,
    light: bool = False,
) -> Cell:
    if light and len(items) > 1 and any(_int(i.get("map_index"), -1) >= 0 for i in items):
        return _light_mapped_cell(run_id, task_id, items, total)
    instances = sorted((instance_from_item(i, now) for i in items), key=lambda i: i.map_index)
    children = [i for i in instances if i.map_index >= 0]
    if children:
        counts = Counter(i.state or NO_STATUS for i in children)
        missing = (total or 0) - len(children)
        if missing > 0:  # lanes create instances as slots free: the rest are waiting, not absent
            counts[NO_STATUS] += missing
        states = [i.state for i in children] + ([None] if missing > 0 else [])
        return Cell(
            run_id=run_id,
            task_id=task_id,
            state=summary_state(states),
            instances=tuple(children),
            mapped=True,
            counts=dict(counts),
            total=total,
        )
    if not instances:
        return Cell(run_id=run_id, task_id=task_id, state=None)
    return Cell(run_id=run_id, task_id=task_id, state=instances[0].state, instances=(instances[0],))


def run_time(run: Mapping[str, Any]) -> datetime | None:
    """The time a run is placed at on the time axis: start, else queued, else logical date."""
    return parse_time(run.get("start_date") or run.get("queued_at") or run.get("logical_date"))


def build_grid(
    plan: StepPlan,
    runs: Iterable[Mapping[str, Any]],
    tis: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    time_range: TimeRange | None = None,
    max_runs: int = 25,
    now: datetime | None = None,
    detail_run: str | None = None,
) -> Grid:
    """The grid for one DAG.

    ``runs``: run items in any order; ``tis``: run_id -> that run's task-instance items.
    Keeps the ``max_runs`` most recent runs inside ``time_range``, oldest first. With
    ``detail_run``, the mapped cells of the other runs carry counts only (no instance per map
    index), which keeps a grid of 25 runs of a 1,000-way map cheap.
    """
    now = now or datetime.now(timezone.utc)
    chosen = [r for r in runs if (time_range or TimeRange()).contains(run_time(r))]
    chosen.sort(key=lambda r: (run_time(r) or datetime.min.replace(tzinfo=timezone.utc), str(r.get("run_id"))))
    chosen = chosen[-max_runs:] if max_runs > 0 else chosen
    rows = build_rows(plan)
    members = _group_members(plan)
    columns: list[RunColumn] = []
    cells: dict[tuple[str, str], Cell] = {}
    for run in chosen:
        run_id = str(run["run_id"])
        state = normal_state(run.get("state"))
        columns.append(
            RunColumn(
                run_id=run_id,
                state=state,
                run_type=str(run.get("run_type") or "manual"),
                logical_date=run.get("logical_date"),
                start_date=run.get("start_date"),
                end_date=run.get("end_date"),
                duration_s=seconds_between(run.get("start_date"), run.get("end_date"), now if state == "running" else None),
                item=run,
            )
        )
        by_task: dict[str, list[Mapping[str, Any]]] = {}
        for item in tis.get(run_id, ()):
            by_task.setdefault(str(item["task_id"]), []).append(item)
        for row in rows:
            if not row.is_group:
                total = (_int(run.get(counters.map_count(row.key)), 0) or None) if row.mapped else None
                cells[(row.key, run_id)] = _cell(run_id, row.key, by_task.get(row.key, ()), now, total,
                                                 light=detail_run is not None and run_id != detail_run)
        for gid, task_ids in members.items():
            cells[(gid, run_id)] = Cell(
                run_id=run_id, task_id=gid, state=summary_state(cells[(t, run_id)].state for t in task_ids)
            )
    return Grid(dag_id=plan.dag_id, rows=tuple(rows), runs=tuple(columns), cells=cells)


def _group_members(plan: StepPlan) -> dict[str, list[str]]:
    members: dict[str, list[str]] = {}
    for step in plan.steps:
        parts = step.group.split(".") if step.group else []
        for depth in range(len(parts)):
            members.setdefault(".".join(parts[: depth + 1]), []).append(step.task_id)
    return members

"""Plain-text progress and result tables for `stratus run` and `stratus demo` (pure functions)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Iterable

TERMINAL = {"success", "failed", "upstream_failed", "skipped", "removed"}
FAILED = {"failed", "upstream_failed"}


@dataclass(frozen=True)
class Progress:
    """Counts over a run's task instances (mapped children counted one by one)."""

    done: int = 0
    running: int = 0
    failed: int = 0
    retrying: int = 0
    total: int = 0

    def line(self) -> str:
        return (
            f"done {self.done}/{self.total}  running {self.running}  failed {self.failed}  retrying {self.retrying}"
        )


def expected_instances(run: dict[str, Any] | None, mapped: Iterable[str], steps: int) -> int:
    """Task instances a run will have: one per plain step, ``map_count`` per expanded mapped step."""
    mapped = list(mapped)
    total = steps - len(mapped)
    for task_id in mapped:
        count = (run or {}).get(f"map_count#{task_id}")
        total += int(count) if count is not None else 1
    return total


def progress(tis: Iterable[dict[str, Any]], expected: int = 0) -> Progress:
    """Progress counts from task instance items (``expected``: the total when known)."""
    states = Counter(str(ti.get("state")) for ti in tis)
    return Progress(
        done=sum(n for s, n in states.items() if s in TERMINAL),
        running=states["queued"] + states["running"] + states["scheduled"],
        failed=sum(n for s, n in states.items() if s in FAILED),
        retrying=states["up_for_retry"],
        total=max(sum(states.values()), expected),
    )


def plain(value: Any) -> Any:
    """DynamoDB values (Decimal, sets) as JSON-able Python values."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(plain(v) for v in value)
    return value


def _seconds(ti: dict[str, Any]) -> float | None:
    if ti.get("duration") is not None:
        try:
            return float(ti["duration"])
        except (TypeError, ValueError):
            pass
    start, end = ti.get("start_date"), ti.get("end_date")
    if start and end:
        try:
            return (datetime.fromisoformat(str(end)) - datetime.fromisoformat(str(start))).total_seconds()
        except ValueError:
            return None
    return None


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.2f}s" if seconds < 60 else f"{int(seconds // 60)}m{seconds % 60:04.1f}s"


def task_rows(tis: list[dict[str, Any]], task_order: list[str] | None = None) -> list[list[str]]:
    """Rows (task, map index, state, tries, duration); a mapped task is one summary row.

    ``task_order`` (the plan's step ids) fixes the order and adds tasks that never ran.
    """
    by_task: dict[str, list[dict[str, Any]]] = {}
    for ti in tis:
        by_task.setdefault(str(ti["task_id"]), []).append(ti)
    order = list(task_order or []) + sorted(t for t in by_task if t not in (task_order or []))
    rows = []
    for task_id in order:
        items = sorted(by_task.get(task_id, []), key=lambda t: int(t.get("map_index", -1)))
        if not items:
            rows.append([task_id, "-", "no status", "0", "-"])
            continue
        mapped = [t for t in items if int(t.get("map_index", -1)) >= 0]
        if not mapped:
            ti = items[0]
            rows.append([task_id, "-", str(ti.get("state")), str(int(ti.get("try_number") or 0)), _duration(_seconds(ti))])
            continue
        states = Counter(str(t.get("state")) for t in mapped)
        state = next(iter(states)) if len(states) == 1 else ", ".join(f"{s} {n}" for s, n in states.most_common())
        tries = [int(t.get("try_number") or 0) for t in mapped]
        durations = [d for d in (_seconds(t) for t in mapped) if d is not None]
        tries_text = str(max(tries)) if min(tries) == max(tries) else f"{min(tries)}-{max(tries)}"
        longest = f"max {_duration(max(durations))}" if durations else "-"
        rows.append([task_id, f"[{len(mapped)}]", state, tries_text, longest])
    return rows


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A left-aligned text table."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
    return "\n".join(lines)


def run_table(run: dict[str, Any], tis: list[dict[str, Any]], task_order: list[str] | None = None) -> str:
    """The final table of a run with a one-line header."""
    took = _seconds({"start_date": run.get("start_date"), "end_date": run.get("end_date")})
    head = f"{run.get('dag_id')} {run.get('run_id')}: {run.get('state')} ({_duration(took)})"
    return head + "\n" + table(["task", "map index", "state", "tries", "duration"], task_rows(tis, task_order))

"""Plain-text progress and result tables for `stratus run` and `stratus demo` (pure functions)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Iterable

from orchestrator.engine import counters as ck

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
    waiting: int = 0  # sensors between pokes (up_for_reschedule)

    def line(self) -> str:
        wait = f"  waiting {self.waiting}" if self.waiting else ""
        return (
            f"done {self.done}/{self.total}  running {self.running}  failed {self.failed}  retrying {self.retrying}"
            f"{wait}"
        )


def expected_instances(run: dict[str, Any] | None, mapped: Iterable[str], steps: int) -> int:
    """Task instances a run will have: one per plain step, ``map_count`` per expanded mapped step."""
    mapped = list(mapped)
    total = steps - len(mapped)
    for task_id in mapped:
        count = (run or {}).get(ck.map_count(task_id))
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
        waiting=states["up_for_reschedule"],
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


# ---------------------------------------------------------------- failures and the public JSON shape

# `stratus run --json` / `stratus runs --json`: the documented, stable shape (README "JSON output").
# Storage keys (pk, sk, gsi1pk, counters such as c#..., lane bookkeeping) never appear.
RUN_FIELDS = ("dag_id", "run_id", "state", "run_type", "logical_date", "data_interval_start", "data_interval_end",
              "queued_at", "start_date", "end_date", "conf", "params", "plan_hash", "note", "partition_key",
              "partition_date")
TI_FIELDS = ("task_id", "map_index", "state", "try_number", "max_tries", "queued_at", "start_date", "end_date",
             "duration", "note")
OUTPUT_TAIL = 10  # lines of a failed task's output shown


def error_parts(error: Any) -> dict[str, str] | None:
    """``{"type", "message", "traceback"}`` from a stored task error (a formatted traceback or one line)."""
    if not error:
        return None
    text = str(error).rstrip()
    lines = [line for line in text.splitlines() if line.strip()]
    # The last line of a Python traceback is "Type: message" (or "Type" alone); a chained or
    # multi-line message keeps going, so look for the last line that starts at column 0 and
    # names an exception.
    last = lines[-1] if lines else text
    for i in range(len(lines) - 1, -1, -1):
        head = lines[i].split(":", 1)[0]
        if not lines[i].startswith(" ") and head and head.replace(".", "").replace("_", "").isalnum() \
                and head[:1].isalpha() and not lines[i].startswith("Traceback"):
            last = "\n".join(lines[i:])
            break
    kind, _, message = last.partition(":")
    if not message and " " in kind:
        kind, message = "Error", kind
    return {"type": kind.strip(), "message": message.strip(), "traceback": text}


def public_run(run: dict[str, Any]) -> dict[str, Any]:
    """A run item in the documented JSON shape (``RUN_FIELDS``; absent fields are null)."""
    clean = plain(run)
    out = {k: clean.get(k) for k in RUN_FIELDS}
    for k in ("conf", "params"):
        if isinstance(out[k], str):
            try:
                import json

                out[k] = json.loads(out[k])
            except ValueError:
                pass
    return out


def public_ti(ti: dict[str, Any]) -> dict[str, Any]:
    """A task-instance item in the documented JSON shape: ``TI_FIELDS``, ``tries`` (past tries),
    ``error`` (``error_parts``), and ``xcoms``/``output_tail`` when the caller added them."""
    clean = plain(ti)
    out = {k: clean.get(k) for k in TI_FIELDS}
    out["map_index"] = int(out["map_index"]) if out["map_index"] is not None else -1
    out["error"] = error_parts(clean.get("error")) if clean.get("state") in ("failed", "up_for_retry") else None
    out["tries"] = [{"try_number": h.get("try_number", n), "state": h.get("state"), "start_date": h.get("start_date"),
                     "end_date": h.get("end_date"), "error": error_parts(h.get("error"))}
                    for n, h in enumerate(clean.get("history") or [], start=1)]
    for extra in ("xcoms", "output_tail"):
        if extra in ti:
            out[extra] = ti[extra]
    return out


def failure_summary(tis: list[dict[str, Any]], *, tail: int = OUTPUT_TAIL) -> str:
    """What failed and why, for the end of `stratus run` and ``dag.test()``: per failed task
    instance its exception type and message and the last lines of its output (``output_tail``)."""
    blocks = []
    for ti in tis:
        if ti.get("state") != "failed":
            continue
        mi = int(ti.get("map_index", -1) or -1) if ti.get("map_index") is not None else -1
        name = f"{ti['task_id']}[{mi}]" if mi >= 0 else str(ti["task_id"])
        parts = ti.get("error") if isinstance(ti.get("error"), dict) else error_parts(ti.get("error"))
        head = f"FAILED {name} (try {int(ti.get('try_number') or 0)})"
        if parts:
            head += f": {parts['type']}: {parts['message']}" if parts["message"] else f": {parts['type']}"
        lines = [head]
        output = list(ti.get("output_tail") or [])[-tail:]
        if output:
            lines.append(f"  last {len(output)} line(s) of its output:")
            lines.extend("  | " + line for line in output)
        elif "output_tail" in ti:
            lines.append("  (it printed nothing)")
        blocks.append("\n".join(lines))
    return "\n".join(blocks)

"""``stratus dags``, ``stratus validate``, ``stratus plan``: look at DAG files before deploying."""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from typing import Any

from orchestrator.errors import PlanValidationError
from orchestrator.plan.compiler import compile_dag
from orchestrator.plan.loader import DagBag
from orchestrator.plan.model import StepPlan


def register(subparsers: Any) -> None:
    """Add the ``dags``, ``validate`` and ``plan`` subcommands."""
    p = subparsers.add_parser("dags", help="list the DAGs of a folder (id, schedule, tasks, file)")
    _path_arguments(p)
    p.add_argument("--all-files", action="store_true", help="also import files that do not mention 'dag'")
    p.set_defaults(func=cmd_dags)

    p = subparsers.add_parser("validate", help="import and compile every DAG; exit 1 on any error")
    _path_arguments(p)
    p.add_argument("--all-files", action="store_true", help="also import files that do not mention 'dag'")
    p.set_defaults(func=cmd_validate)

    p = subparsers.add_parser("plan", help="show the step plan of a DAG (--json for the document)")
    p.add_argument("dag", help="DAG id, or a DAG file (plans every DAG in it)")
    p.add_argument("--dags", default="dags", help="DAGs folder (default: dags)")
    p.add_argument("--json", action="store_true", help="print the plan JSON")
    p.set_defaults(func=cmd_plan)


def _path_arguments(p: argparse.ArgumentParser) -> None:
    # The positional and --dags keep separate dests: argparse gives an omitted optional
    # positional its default after the options are parsed, so one shared dest lost --dags.
    p.add_argument("path_arg", nargs="?", metavar="path", help="DAGs folder or file (default: dags)")
    p.add_argument("--dags", dest="dags_opt", metavar="PATH", help="the same as PATH (as in the other commands)")


def _folder(args: argparse.Namespace) -> str:
    """The folder ``dags``/``validate`` read: PATH, else --dags, else ``dags``."""
    if args.path_arg and args.dags_opt and os.path.abspath(args.path_arg) != os.path.abspath(args.dags_opt):
        raise SystemExit(f"error: PATH '{args.path_arg}' and --dags '{args.dags_opt}' name different folders; "
                         "pass one of them.")
    return args.path_arg or args.dags_opt or "dags"


def schedule_label(schedule: Any) -> str:
    """A short human form of a DAG's ``schedule`` value."""
    from orchestrator.authoring.assets import BaseAsset
    from orchestrator.authoring.timetables import CronTriggerTimetable

    if schedule is None:
        return "None"
    if isinstance(schedule, str):
        return schedule
    if isinstance(schedule, timedelta):
        return f"every {schedule}"
    if isinstance(schedule, CronTriggerTimetable):
        return f"{schedule.expression} ({schedule.timezone})"
    if isinstance(schedule, BaseAsset):
        return "assets: " + _asset_condition(schedule)
    if isinstance(schedule, (list, tuple)) and all(isinstance(s, BaseAsset) for s in schedule):
        return "assets: " + " & ".join(_asset_condition(s, nested=len(schedule) > 1) for s in schedule)
    return repr(schedule)


def _asset_condition(cond: Any, *, nested: bool = False) -> str:
    # A list means all of them (&), `a | b` any of them: the label keeps that difference.
    from orchestrator.authoring.assets import AssetAll, AssetAny

    if isinstance(cond, (AssetAll, AssetAny)):
        text = (" & " if isinstance(cond, AssetAll) else " | ").join(
            _asset_condition(o, nested=True) for o in cond.objects)
        return f"({text})" if nested and len(cond.objects) > 1 else text
    return ", ".join(a.uri for a in cond.iter_assets())


def _rel(path: str, root: str) -> str:
    rel = os.path.relpath(path, root)
    return (path if rel.startswith("..") else rel).replace(os.sep, "/")


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def cmd_dags(args: argparse.Namespace) -> int:
    args.path = _folder(args)
    bag = DagBag(args.path, safe_mode=not args.all_files)
    registry = _registry(args)
    rows = []
    for d in (bag.dags[i] for i in bag.dag_ids):
        item = registry.get(d.dag_id) if registry is not None else None
        paused = "-" if item is None else ("yes" if item.get("paused") else "no")
        rows.append([d.dag_id, schedule_label(d.schedule), str(len(d.task_dict)),
                     _rel(bag.files[d.dag_id], bag.dags_root), paused, _next_run(d, bag.dags_root, item)])
    if rows:
        print(_table(rows, ["DAG id", "schedule", "tasks", "file", "paused", "next run"]))
        if registry is None:
            print("(paused: '-' = not known here; start `stratus dev` or pass --stack to read the registry)",
                  file=sys.stderr)
    else:
        print(f"No DAGs found in {args.path}.")
    if bag.import_errors:
        print(
            f"\n{len(bag.import_errors)} file(s) failed to import; run `stratus validate {args.path}` for details.",
            file=sys.stderr,
        )
    return 0


def _registry(args: argparse.Namespace) -> dict[str, dict[str, Any]] | None:
    """The registry items of the targeted cloud (``stratus dev`` here, or ``STRATUS_STACK``), else None."""
    from orchestrator import constants as c
    from orchestrator.errors import StratusError
    from orchestrator.local.target import read_dev_state, state_path

    if not (os.environ.get(c.ENV_STACK) or read_dev_state(state_path())):
        return None
    try:
        from orchestrator.local.target import resolve_target
        from orchestrator.store import RunStore

        store = RunStore(*resolve_target(argparse.Namespace(stack=None, dags=args.path)))
        return {str(item["dag_id"]): item for item in store.list_dags()}
    except (StratusError, Exception):  # noqa: BLE001 - the folder listing works without a cloud
        return None


def _next_run(dag: Any, dags_root: str, item: dict[str, Any] | None) -> str:
    """When the schedule next fires, in the DAG's time zone ('paused', 'on assets', '-')."""
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo

    from orchestrator.triggers.timetable import timetable_for

    if item is not None and item.get("paused"):
        return "paused"
    try:
        plan = compile_dag(dag, dags_root)
    except PlanValidationError:
        return "-"
    if plan.schedule.kind == "assets":
        return "on asset events"
    try:
        info = timetable_for(plan).next_run(datetime.now(timezone.utc))
    except Exception:  # noqa: BLE001 - a schedule error is reported by `stratus validate`
        return "-"
    if info is None:
        return "-"
    return info.logical_date.astimezone(ZoneInfo(plan.schedule.timezone)).isoformat(timespec="minutes")


def cmd_validate(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    args.path = _folder(args)
    bag = DagBag(args.path, safe_mode=not args.all_files)
    errors: list[str] = [str(err) for _, err in sorted(bag.import_errors.items())]
    tasks = 0
    for dag_id in bag.dag_ids:
        dag = bag.dags[dag_id]
        tasks += len(dag.task_dict)
        try:
            compile_dag(dag, bag.dags_root)
        except PlanValidationError as exc:
            errors.extend(exc.problems)
    elapsed = time.perf_counter() - start
    files = len(bag.load_times)
    if errors:
        for line in errors:
            print(f"ERROR {line}")
        print(f"\n{len(errors)} error(s) in {args.path} ({files} file(s), {len(bag.dags)} DAG(s) loaded).")
        return 1
    print(f"OK: {len(bag.dags)} DAG(s), {tasks} task(s) in {files} file(s) under {args.path}: no errors ({elapsed:.2f} s).")
    return 0


def _plans(args: argparse.Namespace) -> list[StepPlan]:
    target = args.dag
    if target.endswith(".py") or os.path.isfile(target):
        root = args.dags if os.path.isdir(args.dags) else os.path.dirname(os.path.abspath(target))
        if os.path.relpath(os.path.abspath(target), os.path.abspath(root)).startswith(".."):
            root = os.path.dirname(os.path.abspath(target))
        bag = DagBag(root, load=False)
        bag.load_file(target)
        if bag.import_errors:
            raise PlanValidationError([str(e) for e in bag.import_errors.values()])
        return [compile_dag(bag.dags[i], bag.dags_root) for i in bag.dag_ids]
    bag = DagBag(args.dags)
    dag = bag.get_dag(target)
    return [compile_dag(dag, bag.dags_root)]


def render_plan(plan: StepPlan) -> str:
    """The readable summary ``stratus plan`` prints."""
    s = plan.schedule
    if s.kind == "cron":
        sched = f"{s.preset or s.expression} (cron '{s.expression}', {s.timezone})"
    elif s.kind == "timedelta":
        sched = f"every {timedelta(seconds=s.interval_s or 0)}"
    elif s.kind == "assets":
        sched = "on assets " + _condition(s.assets)
    else:
        sched = {"once": "@once", "none": "None (manual runs only)"}[s.kind]
    if s.kind != "assets" and s.assets is not None:
        sched += " or on assets " + _condition(s.assets)  # AssetOrTimeSchedule
    part = s.partitioning
    if part is not None and part.kind == "cron":
        sched += f", partitioned: key = fire time {part.run_offset:+d} intervals as '{part.key_format}'"
    elif part is not None and part.kind == "runtime":
        sched += ", partitioned at run time (outlet_events[asset].add_partitions)"
    elif part is not None:
        mappers = {**({"*": part.default_mapper} if part.default_mapper else {}), **part.mappers}
        sched += ", one run per partition key (" + ", ".join(f"{k}: {m['type']}" for k, m in mappers.items()) + ")"
    lines = [
        f"DAG {plan.dag_id}  ({plan.fileloc})  plan {plan.hash}",
        f"  schedule: {sched}",
        f"  start: {plan.start_date or '-'}  end: {plan.end_date or '-'}  catchup: {'yes' if plan.catchup else 'no'}"
        f"  max_active_runs: {plan.max_active_runs}",
    ]
    if plan.params:
        shown = ", ".join(f"{k}={v.default!r}" if v.has_default else f"{k} (required)" for k, v in plan.params.items())
        lines.append(f"  params: {shown}")
    if plan.tags:
        lines.append(f"  tags: {', '.join(plan.tags)}")
    lines.append(f"  steps ({len(plan.steps)}, in run order):")
    rows = []
    for st in plan.steps:
        notes: list[str] = []
        if st.kind != "task":
            notes.append(st.kind)
        if st.mapping is not None:
            over = ", ".join(st.mapping.expand) if st.mapping.kind == "expand" else "kwargs"
            notes.append(f"mapped over {over}")
        if st.trigger_rule != "all_success":
            notes.append(st.trigger_rule)
        if st.retry.retries:
            notes.append(f"retries={st.retry.retries}")
        if st.execution_timeout_s:
            notes.append(f"timeout={st.execution_timeout_s:g}s")
        if st.target.function != "WorkerFunction" or st.target.memory_mb or st.target.timeout_s:
            notes.append(f"lambda={st.target.function}"
                         + (f"/{st.target.memory_mb}MB" if st.target.memory_mb else "")
                         + (f"/{st.target.timeout_s}s" if st.target.timeout_s else ""))
        if st.outlets:
            notes.append("outlets=" + ",".join(st.outlets))
        rows.append([st.task_id, ", ".join(st.upstream) or "-", "; ".join(notes)])
    lines.extend("    " + line for line in _table(rows, ["task", "after", "notes"]).splitlines())
    return "\n".join(lines)


def _condition(cond: Any) -> str:
    if cond is None:
        return "-"
    if cond.uri:
        return cond.uri
    parts = cond.all if cond.all is not None else cond.any or []
    joiner = " & " if cond.all is not None else " | "
    return "(" + joiner.join(_condition(c) for c in parts) + ")"


def cmd_plan(args: argparse.Namespace) -> int:
    try:
        plans = _plans(args)
    except PlanValidationError as exc:
        for line in exc.problems:
            print(f"ERROR {line}", file=sys.stderr)
        return 1
    if args.json:
        if len(plans) == 1:
            print(plans[0].to_json(indent=2))
        else:
            print("[" + ",\n".join(p.to_json(indent=2) for p in plans) + "]")
        return 0
    print("\n\n".join(render_plan(p) for p in plans))
    return 0

"""``stratus runs|show|logs|clear|mark|ui``: look at runs and act on them.

Every command talks to the cloud ``orchestrator.local.target.resolve_target(args)`` picks:
a deployed stack, or a running `stratus dev`. Output is plain text; state colours are added
only when stdout is a terminal (``--no-color`` turns them off there too).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from orchestrator.engine import counters as ck
from orchestrator.errors import StratusError
from orchestrator.observe.service import MARK_STATES, RunsView
from orchestrator.observe.terminal import render_run_tree, render_runs


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dags", default="dags", help="DAGs folder (default: dags)")
    p.add_argument("--stack", default=None, help="CloudFormation stack to use (default: stratus dev, else the configured stack)")
    p.add_argument("--no-color", action="store_true", help="no ANSI colours even on a terminal")


def _dag_opt(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dag", default=None, help="the run's DAG id, when the run id exists in several DAGs")


def register(subparsers: Any) -> None:
    """Add the ``runs``, ``show``, ``logs``, ``clear``, ``mark`` and ``ui`` subcommands."""
    p = subparsers.add_parser("runs", help="list the runs of a DAG, newest first")
    p.add_argument("dag_id", help="DAG id")
    p.add_argument("--limit", type=int, default=25, help="most runs listed (default: 25)")
    p.add_argument("--utc", action="store_true", help="dates in UTC (default: the DAG's time zone)")
    _common(p)
    p.set_defaults(func=cmd_runs)

    p = subparsers.add_parser("show", help="show one run as a coloured tree of its tasks")
    p.add_argument("run_id", help="run id (as listed by `stratus runs`)")
    p.add_argument("--utc", action="store_true", help="dates in UTC (default: the DAG's time zone)")
    _dag_opt(p)
    _common(p)
    p.set_defaults(func=cmd_show)

    p = subparsers.add_parser("logs", help="print the log of one try of a task")
    p.add_argument("run_id", help="run id")
    p.add_argument("task_id", help="task id")
    p.add_argument("--try", dest="try_number", type=int, default=None, help="try number (default: the latest)")
    p.add_argument("--map-index", type=int, default=-1, help="map index of a mapped task (default: -1, unmapped)")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new lines until the task instance ends")
    p.add_argument("--utc", action="store_true", help="times in UTC (default: the DAG's time zone)")
    _dag_opt(p)
    _common(p)
    p.set_defaults(func=cmd_logs)

    p = subparsers.add_parser("clear", help="clear task instances so they run again (Airflow's clear)")
    p.add_argument("run_id", help="run id")
    p.add_argument("--task", "-t", action="append", dest="tasks", default=None, help="task id (repeatable; default: all tasks)")
    p.add_argument("--downstream", action="store_true", help="also clear the tasks downstream of those named")
    p.add_argument("--failed-only", action="store_true", help="only failed and upstream_failed task instances")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    _dag_opt(p)
    _common(p)
    p.set_defaults(func=cmd_clear)

    p = subparsers.add_parser("mark", help="set a task instance's state by hand")
    p.add_argument("run_id", help="run id")
    p.add_argument("task_id", help="task id")
    p.add_argument("state", choices=MARK_STATES, help="success or failed (a mapped task: every map index)")
    _dag_opt(p)
    _common(p)
    p.set_defaults(func=cmd_mark)

    p = subparsers.add_parser("ui", help="serve the run grid on 127.0.0.1 (stratus dev or a stack)")
    p.add_argument("--port", type=int, default=8780, help="port (default: 8780; 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, loopback only)")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="also answer requests for this Host name (a reverse proxy's); repeatable")
    _common(p)
    p.set_defaults(func=cmd_ui)


def register_rendered(tasks_sub: Any) -> None:
    """Add ``stratus tasks rendered`` (under ``stratus tasks``)."""
    p = tasks_sub.add_parser("rendered", help="print each try's rendered template fields (Airflow's Rendered Template)")
    p.add_argument("run_id", help="run id")
    p.add_argument("task_id", help="task id")
    p.add_argument("--map-index", type=int, default=-1, help="map index of a mapped task (default: -1, unmapped)")
    p.add_argument("--try", dest="try_number", type=int, default=None, help="only this try (default: every try)")
    p.add_argument("--json", action="store_true", help="print the tries as JSON")
    _dag_opt(p)
    _common(p)
    p.set_defaults(func=cmd_rendered)


def view_for(args: argparse.Namespace) -> RunsView:
    """The ``RunsView`` of the cloud the command targets."""
    from orchestrator.local.target import resolve_target

    clients, resources = resolve_target(args)
    return RunsView(clients, resources)


@contextlib.contextmanager
def _engine_output_to_stderr() -> Iterator[None]:
    """stdout is the command's output: the engine's log and EMF lines go to stderr meanwhile."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def _color(args: argparse.Namespace) -> bool:
    return sys.stdout.isatty() and not getattr(args, "no_color", False)


def _run(view: RunsView, args: argparse.Namespace) -> dict[str, Any]:
    return view.run(args.run_id, getattr(args, "dag", None))


def _zone(plan: Any, args: argparse.Namespace) -> Any:
    """The DAG's time zone for display (``--utc``: UTC)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = "UTC" if getattr(args, "utc", False) else (getattr(getattr(plan, "schedule", None), "timezone", None) or "UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def cmd_runs(args: argparse.Namespace, view: RunsView | None = None) -> int:
    view = view or view_for(args)
    plan = view.plan(args.dag_id)  # NotFoundError names the DAG if it is not registered
    print(render_runs(view.runs(args.dag_id, args.limit), color=_color(args), tz=_zone(plan, args)))
    return 0


def cmd_show(args: argparse.Namespace, view: RunsView | None = None) -> int:
    view = view or view_for(args)
    run = _run(view, args)
    plan = view.run_plan(run)
    print(render_run_tree(plan, run, view.tis(plan.dag_id, str(run["run_id"])), color=_color(args),
                          tz=_zone(plan, args)))
    return 0


TERMINAL_TI = frozenset({"success", "failed", "upstream_failed", "skipped", "removed"})


def _log_target(view: RunsView, args: argparse.Namespace, run: dict[str, Any]) -> tuple[Any, dict[str, Any] | None]:
    """The run's plan and the task instance ``stratus logs`` reads; errors name what is missing."""
    import difflib

    from orchestrator.errors import NotFoundError

    dag_id, run_id = str(run["dag_id"]), str(run["run_id"])
    plan = view.run_plan(run)
    ids = [s.task_id for s in plan.steps]
    if args.task_id not in ids:
        close = difflib.get_close_matches(args.task_id, ids, n=1)
        raise NotFoundError(f"Run '{run_id}' of DAG '{dag_id}' has no task '{args.task_id}'"
                            + (f". Did you mean '{close[0]}'?" if close else f" (tasks: {', '.join(ids)})."))
    step = plan.step(args.task_id)
    if step.mapping is not None and args.map_index < 0:
        count = run.get(ck.map_count(args.task_id))
        where = f" (0 to {int(count) - 1})" if count else ""
        raise StratusError(f"Task '{args.task_id}' is mapped: pass --map-index N{where} to read one instance's log.")
    if step.mapping is None and args.map_index >= 0:
        raise StratusError(f"Task '{args.task_id}' is not mapped: leave out --map-index.")
    try:
        return plan, view.ti(dag_id, run_id, args.task_id, args.map_index)
    except NotFoundError:
        return plan, None


def cmd_logs(args: argparse.Namespace, view: RunsView | None = None) -> int:
    import time

    view = view or view_for(args)
    run = _run(view, args)
    dag_id, run_id = str(run["dag_id"]), str(run["run_id"])
    plan, ti = _log_target(view, args, run)
    zone = _zone(plan, args)
    what = args.task_id + (f"[{args.map_index}]" if args.map_index >= 0 else "")
    if ti is None and not args.follow:
        print(f"(task '{what}' of run '{run_id}' has not started yet: no status; --follow waits for it)",
              file=sys.stderr)
        return 0
    shown, shown_try = 0, None
    while True:
        if ti is not None:
            current = int(ti.get("try_number") or 0)
            wanted = args.try_number or current
            if shown_try is not None and wanted != shown_try:
                shown = 0
                print(f"--- try {wanted} ---", flush=True)
            shown_try = wanted
            lines = view.log_lines(dag_id, run_id, args.task_id, map_index=args.map_index,
                                   try_number=args.try_number) if wanted >= 1 else []
            for line in lines[shown:]:
                print(line.render(zone), flush=True)
            shown = max(shown, len(lines))
        ended = ti is not None and (str(ti.get("state")) in TERMINAL_TI or bool(args.try_number))
        if not args.follow or ended:
            break
        time.sleep(1.0)
        try:
            ti = view.ti(dag_id, run_id, args.task_id, args.map_index)
        except StratusError:
            ti = None
    if ti is not None and not shown:
        print(f"(no log lines for task '{what}' try {shown_try} yet)", file=sys.stderr)
    return 0


def cmd_clear(args: argparse.Namespace, view: RunsView | None = None) -> int:
    view = view or view_for(args)
    run = _run(view, args)
    dag_id, run_id = str(run["dag_id"]), str(run["run_id"])
    what = ", ".join(repr(t) for t in args.tasks) if args.tasks else "all tasks"
    if args.failed_only:
        what += " (failed only)"
    if args.downstream:
        what += " and downstream"
    if sys.stdin.isatty() and not args.yes:
        answer = input(f"Clear {what} in run '{run_id}' of DAG '{dag_id}'? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing cleared.")
            return 1
    with _engine_output_to_stderr():
        result = view.clear(dag_id, run_id, args.tasks, downstream=args.downstream, failed_only=args.failed_only)
    cleared = _cleared_names(result)
    if not cleared:
        print(f"Nothing to clear for {what} in run '{run_id}' of DAG '{dag_id}' (queued or running tasks, and fan-out "
              "tasks whose outcome is still being counted, are left alone; try again when they end).")
        return 0
    print(f"Cleared {what} in run '{run_id}' of DAG '{dag_id}': {', '.join(cleared)}.")
    return 0


def _cleared_names(result: Any) -> list[str]:
    if not isinstance(result, (list, tuple)):
        return []
    out = []
    for item in result:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict) and "task_id" in item:
            mi = int(item.get("map_index", -1))
            out.append(item["task_id"] + (f"[{mi}]" if mi >= 0 else ""))
        elif isinstance(item, (list, tuple)) and item:
            out.append(str(item[0]) + (f"[{item[1]}]" if len(item) > 1 and int(item[1]) >= 0 else ""))
    return out


def cmd_mark(args: argparse.Namespace, view: RunsView | None = None) -> int:
    view = view or view_for(args)
    run = _run(view, args)
    dag_id, run_id = str(run["dag_id"]), str(run["run_id"])
    with _engine_output_to_stderr():
        view.mark(dag_id, run_id, args.task_id, args.state)
    print(f"Marked task '{args.task_id}' in run '{run_id}' of DAG '{dag_id}' as {args.state}.")
    return 0


def cmd_ui(args: argparse.Namespace, view: RunsView | None = None) -> int:
    from orchestrator.observe.ui import UIServer

    view = view or view_for(args)
    try:
        server = UIServer(view, port=args.port, host=args.host, allowed_hosts=tuple(getattr(args, "allow_host", ()) or ()))
    except OSError as exc:
        raise StratusError(f"Cannot serve the UI on {args.host}:{args.port}: {exc.strerror}; try --port 0.") from exc
    from orchestrator.observe.ui import is_loopback

    if not is_loopback(args.host):
        print(f"! the UI listens on {args.host}, beyond this machine: anyone who reaches it acts with your AWS "
              "credentials (the Host check and CSRF tokens stop web pages, not people on the network)", flush=True)
    print(f"Stratus UI on {server.url}  (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server.server_close()
    return 0


def cmd_rendered(args: argparse.Namespace, view: RunsView | None = None) -> int:
    """``stratus tasks rendered RUN TASK``: each try's template fields as it ran with them, newest first."""
    import json

    view = view or view_for(args)
    run = _run(view, args)
    _, ti = _log_target(view, args, run)  # errors name a missing task or a map index that does not fit
    run_id = str(run["run_id"])
    what = args.task_id + (f"[{args.map_index}]" if args.map_index >= 0 else "")
    tries = view.rendered_of(ti) if ti is not None else []
    if args.try_number is not None:
        tries = [t for t in tries if t.try_number == args.try_number]
    if args.json:
        print(json.dumps([{"try_number": t.try_number, "state": t.state, "fields": dict(t.fields),
                           "truncated": list(t.truncated), **({"error": t.error} if t.error else {})}
                          for t in tries], indent=2, default=str))
        return 0
    if not tries:
        which = f"try {args.try_number}" if args.try_number is not None else "no try"
        print(f"(task '{what}' of run '{run_id}': {which} has stored rendered template fields; a try stores "
              "them when it ends, if it got as far as rendering them)", file=sys.stderr)
        return 0
    for t in tries:
        print(f"--- try {t.try_number} ({t.state or 'no status'}) ---")
        if t.error:
            print(f"  ({t.error})")
        for name, value in t.fields.items():
            text = value if isinstance(value, str) else "None" if value is None else json.dumps(value, indent=2,
                                                                                                default=str)
            lines = str(text).splitlines() or [""]
            cut = " (truncated)" if name in t.truncated else ""
            print(f"{name}{cut}: {lines[0]}")
            for line in lines[1:]:
                print(f"    {line}")
    return 0


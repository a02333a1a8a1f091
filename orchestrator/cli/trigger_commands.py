"""``stratus sync|trigger|backfill|pause|unpause``: register DAGs, schedule them, start runs.

Commands that read or change runs talk to the cloud ``orchestrator.local.target.resolve_target(args)``
picks: the stack named by ``--stack`` (or ``STRATUS_STACK``), else a running ``stratus dev``,
else a TargetError saying what to start. ``backfill`` alone falls back to an embedded local
cloud (like ``stratus run``) when there is no target, so it works with nothing deployed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import Any, Iterator

from orchestrator.engine.start import conf_from_text
from orchestrator.errors import TargetError


def _target_opts(p: argparse.ArgumentParser, *, dags: bool = True, json_out: bool = True) -> None:
    if dags:
        p.add_argument("--dags", default="dags", help="DAGs folder (default: dags)")
    p.add_argument("--stack", default=None, help="deployed stack to use (default: $STRATUS_STACK, else stratus dev)")
    if json_out:
        p.add_argument("--json", action="store_true", help="print the result as JSON")


def register(subparsers: Any) -> None:
    """Add the ``sync``, ``trigger``, ``backfill``, ``pause`` and ``unpause`` subcommands."""
    p = subparsers.add_parser("sync", help="register every DAG and make EventBridge Scheduler match them")
    _target_opts(p)
    p.add_argument("--dry-run", action="store_true", help="print the changes (create/update/delete) and make none")
    p.set_defaults(func=cmd_sync)

    p = subparsers.add_parser("trigger", help="start a manual run of a DAG")
    p.add_argument("dag_id", help="DAG id")
    _target_opts(p)
    p.add_argument("--conf", default=None, help="run conf as a JSON object, checked against the DAG's params")
    p.add_argument("--logical-date", default=None, help="ISO-8601 logical date (default: now)")
    p.add_argument("--run-id", default=None, help="run id (default: manual__<logical date>)")
    p.add_argument("--partition-key", default=None,
                   help="the run's partition key (a DAG with CronPartitionTimetable, PartitionedAtRuntime or "
                        "PartitionedAssetTimetable)")
    p.set_defaults(func=cmd_trigger)

    p = subparsers.add_parser("backfill", help="create runs for every interval between two dates")
    p.add_argument("dag_id", help="DAG id")
    _target_opts(p)
    p.add_argument("--start", required=True, help="first logical date (a date in the DAG's time zone, or ISO-8601)")
    p.add_argument("--end", required=True, help="last logical date (a date covers the whole day, or ISO-8601)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--rerun-failed", action="store_true", help="clear and re-run failed runs in the range")
    group.add_argument("--rerun-all", action="store_true", help="clear and re-run every finished run in the range")
    p.add_argument("--conf", default=None, help="conf for the created runs (JSON object)")
    p.add_argument("--no-wait", action="store_true", help="create the runs and return without following them")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds to follow the runs (default: 3600)")
    p.set_defaults(func=cmd_backfill)

    for name, paused in (("pause", True), ("unpause", False)):
        p = subparsers.add_parser(name, help=f"{name} a DAG (its schedule is {'removed' if paused else 'restored'})")
        p.add_argument("dag_id", help="DAG id")
        _target_opts(p, dags=False)
        p.set_defaults(func=cmd_pause if paused else cmd_unpause)


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """stdout is the command's output (``--json`` included): the engine's EMF metric lines,
    printed when it starts runs from this process, go to stderr meanwhile."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


@contextlib.contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    import os

    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _resolve(args: argparse.Namespace) -> tuple[Any, Any]:
    # These commands start runs in this process (trigger, backfill, sync's catch-up, unpause): the
    # triggers get their engine from the composition root, which only its import installs.
    from orchestrator import compose  # noqa: F401

    try:
        from orchestrator.local.target import resolve_target
    except ModuleNotFoundError as exc:
        if exc.name != "orchestrator.local.target":
            raise
        return _stack_only(args)
    return resolve_target(args)


def _stack_only(args: argparse.Namespace) -> tuple[Any, Any]:
    """Without orchestrator.local.target: the deployed stack from --stack / STRATUS_STACK only."""
    import os

    from orchestrator import constants as c
    from orchestrator.config import Clients, Resources

    stack = getattr(args, "stack", None) or os.environ.get(c.ENV_STACK)
    if not stack:
        raise TargetError(
            "No cloud to talk to: pass --stack NAME (or set STRATUS_STACK) for a deployed stack, "
            "or start `stratus dev` in another terminal."
        )
    clients = Clients()
    found = clients.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}
    return clients, Resources.from_stack_outputs(outputs, dags_root=getattr(args, "dags", "dags"))


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, default=str))


def cmd_sync(args: argparse.Namespace) -> int:
    from orchestrator.triggers.sync import sync_folder

    clients, resources = _resolve(args)
    report = sync_folder(clients, resources, args.dags, dry_run=args.dry_run)
    dashboard = None if args.dry_run else _sync_dashboard(args, clients, resources, report.plans)
    if args.json:
        _print_json({"registered": report.registered, "errors": report.errors, "dry_run": report.dry_run,
                     "changes": [c.__dict__ for c in report.changes], "dashboard": dashboard})
    else:
        for line in report.lines():
            print(line)
        if dashboard:
            print(dashboard)
    return 1 if report.errors else 0


def _sync_dashboard(args: argparse.Namespace, clients: Any, resources: Any, plans: list[Any]) -> str | None:
    """On a deployed stack, refresh its CloudWatch dashboard for the synced DAGs (never fails the sync)."""
    import os

    from orchestrator import constants as c
    from orchestrator.errors import StratusError

    stack = getattr(args, "stack", None) or os.environ.get(c.ENV_STACK)
    if not stack:  # against `stratus dev`: its local stack gets the dashboard too (`stratus dashboard` draws it)
        from orchestrator.local.target import read_dev_state, state_path

        dev = read_dev_state(state_path()) or {}
        if dev.get("endpoint_url") and dev.get("endpoint_url") == getattr(clients, "endpoint_url", None):
            stack = dev.get("stack")
    if not stack:
        return None
    try:
        from orchestrator.observe.dashboard import put_stack_dashboard

        put_stack_dashboard(clients, resources, stack, plans)
    except (ImportError, StratusError) as exc:
        return f"! dashboard not updated: {exc}"
    except Exception as exc:  # noqa: BLE001 - an AWS error on the dashboard must not undo the sync
        return f"! dashboard not updated: {exc}"
    return f"dashboard of stack {stack} updated ({len(plans)} DAG(s))"


def cmd_trigger(args: argparse.Namespace) -> int:
    from orchestrator.triggers.api import trigger_dag

    conf = conf_from_text(args.conf, dag_id=args.dag_id, source="--conf")
    clients, resources = _resolve(args)
    with _quiet_stdout():
        run = trigger_dag(clients, resources, args.dag_id, conf=conf, logical_date=args.logical_date,
                          run_id=args.run_id, partition_key=args.partition_key)
    if args.json:
        from orchestrator.local.report import public_run

        _print_json(public_run(run))
    else:
        print(f"Triggered DAG '{args.dag_id}': run '{run['run_id']}' is {run.get('state')} "
              f"(logical date {run.get('logical_date')}).")
    return 0


def _rerun(args: argparse.Namespace) -> str:
    return "all" if args.rerun_all else "failed" if args.rerun_failed else "none"


def cmd_backfill(args: argparse.Namespace) -> int:
    conf = conf_from_text(args.conf, dag_id=args.dag_id, source="--conf")
    try:
        clients, resources = _resolve(args)
    except TargetError:
        return _backfill_embedded(args, conf)
    from orchestrator.store import RunStore

    plan = RunStore(clients, resources).get_current_plan(args.dag_id)
    return _backfill(args, clients, resources, plan, conf, engine=None, wait=None, quiet_stdout=True)


def _backfill(args: argparse.Namespace, clients: Any, resources: Any, plan: Any, conf: dict[str, Any], *,
              engine: Any, wait: Any, quiet_stdout: bool = False) -> int:
    from orchestrator.triggers.backfill import parse_bound, run_backfill, wait_backfill

    start = parse_bound(args.start, timezone=plan.schedule.timezone, end=False, dag_id=plan.dag_id)
    end = parse_bound(args.end, timezone=plan.schedule.timezone, end=True, dag_id=plan.dag_id)
    quiet = args.json

    out = sys.stdout

    def on_item(item: Any) -> None:
        if not quiet:
            note = f" (was {item.state})" if item.state else ""
            print(f"{item.action:>8}  {item.run_id}{note}", file=out)

    # (an embedded local cloud routes this thread's stdout itself: no redirect there)
    with _quiet_stdout() if quiet_stdout else contextlib.nullcontext():
        report = run_backfill(clients, resources, plan, start, end, rerun=_rerun(args), conf=conf, engine=engine,
                              on_item=on_item)
    states: dict[str, str] = {}
    if report.run_ids and not args.no_wait:
        from orchestrator.store import RunStore

        if wait is not None:
            wait()
        states = wait_backfill(
            RunStore(clients, resources), plan.dag_id, report.run_ids, timeout_s=args.timeout,
            on_progress=None if quiet else (lambda p: print(p.line(plan.dag_id), file=sys.stderr)),
        )
    if args.json:
        _print_json({**report.as_dict(), "states": states})
    elif not report.items:
        print(f"DAG '{plan.dag_id}' has no intervals between {start.isoformat()} and {end.isoformat()}.")
    failed = sorted(r for r, s in states.items() if s == "failed")
    if failed and not quiet:
        print(f"{len(failed)} run(s) failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _backfill_embedded(args: argparse.Namespace, conf: dict[str, Any]) -> int:
    """No stack and no `stratus dev`: backfill on an embedded local cloud, self-contained."""
    from orchestrator.local.cloud import LocalCloud

    if not args.json:
        print("No deployed stack or `stratus dev` found: backfilling on an embedded local cloud.", file=sys.stderr)
    # --json: stdout is the JSON document only; the embedded functions' EMF metric lines would
    # interleave with it (nobody reads metrics of a throw-away cloud)
    quiet = {"POWERTOOLS_METRICS_DISABLED": "true"} if args.json else {}
    with _env(quiet), LocalCloud(args.dags, auto_advance=True) as cloud:
        plan = cloud.sync_dag(args.dag_id)
        return _backfill(args, cloud.clients, cloud.resources, plan, conf, engine=cloud.engine(),
                         wait=lambda: cloud.wait_idle(args.timeout))


def _pause(args: argparse.Namespace, paused: bool) -> int:
    from orchestrator.triggers.api import set_paused

    clients, resources = _resolve(args)
    with _quiet_stdout():
        result = set_paused(clients, resources, args.dag_id, paused)
    if args.json:
        _print_json(result)
        return 0
    print(f"DAG '{args.dag_id}' is {'paused' if paused else 'unpaused'}.")
    for line in result.get("schedule_changes", []):
        print(f"  {line}")
    if result.get("schedule_note"):
        print(f"  {result['schedule_note']}")
    if result.get("started"):
        print(f"  started {len(result['started'])} run(s) that became due: {', '.join(result['started'])}")
    return 0


def cmd_pause(args: argparse.Namespace) -> int:
    return _pause(args, True)


def cmd_unpause(args: argparse.Namespace) -> int:
    return _pause(args, False)


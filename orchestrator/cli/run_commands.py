"""``stratus run|dev|demo|deploy``: local runs on the embedded cloud, the dev server, deploying.

- ``run DAG``: a self-contained local run (its own embedded cloud, like Airflow's
  ``dag.test()``) with live progress and a final table, or ``--json``; exit 1 if it fails.
- ``dev``: the long-running local cloud on 127.0.0.1 that the other commands target.
- ``demo``: every example DAG on one embedded cloud, each final table and a summary.
- ``deploy``: ``sam build`` + ``sam deploy`` + ``stratus sync``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from orchestrator.engine.start import conf_from_text
from orchestrator.errors import StratusError

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def register(subparsers: Any) -> None:
    """Add the ``run``, ``dev``, ``demo`` and ``deploy`` subcommands."""
    p = subparsers.add_parser("run", help="run a DAG once on an embedded local cloud (like Airflow's dag.test())")
    p.add_argument("dag_id", help="DAG id, or a DAG file holding one DAG (e.g. dags/etl.py)")
    p.add_argument("--dags", default=None, help="DAGs folder (default: dags, or the DAG file's folder)")
    p.add_argument("--conf", default=None, help="run conf as a JSON object, checked against the DAG's params")
    p.add_argument("--logical-date", default=None, help="logical date, ISO-8601 (default: now)")
    p.add_argument("--partition-key", default=None, help="the run's partition key (a partitioned DAG only)")
    p.add_argument("--json", action="store_true",
                   help="print the final run and its task instances as JSON (each with its decoded 'xcoms')")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for the run (default: 1800)")
    p.add_argument("--dev", action="store_true",
                   help="run on the `stratus dev` running in this folder instead of an embedded cloud "
                        "(no start-up; its DAG folder, kept in sync by it)")
    p.set_defaults(func=cmd_run)

    p = subparsers.add_parser("dev", help="serve a local cloud on 127.0.0.1 for the other commands (Ctrl-C stops)")
    p.add_argument("--dags", default="dags", help="DAGs folder (default: dags)")
    p.add_argument("--port", type=int, default=0,
                   help="port of the local AWS endpoint (default: the last session's, else a free one)")
    p.add_argument("--fresh", action="store_true",
                   help="start empty instead of restoring the last session's runs, flags, variables and logs")
    p.set_defaults(func=cmd_dev)

    p = subparsers.add_parser("demo", help="run every example DAG on one embedded local cloud")
    p.add_argument("--dags", default="dags", help="DAGs folder (default: dags)")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for each DAG (default: 1800)")
    p.set_defaults(func=cmd_demo)

    if "deploy" not in getattr(subparsers, "choices", {}):
        p = subparsers.add_parser("deploy", help="sam build + sam deploy + stratus sync")
        p.add_argument("--stack", default=None, help="stack name (default: $STRATUS_STACK, else 'stratus')")
        p.add_argument("--dags", default="dags", help="DAGs folder packaged into the DAGs layer (default: dags)")
        p.add_argument("--guided", action="store_true", help="first deploy: let sam ask for the settings")
        p.add_argument("--region", default=None, help="AWS region (default: your AWS configuration)")
        p.add_argument("--parameter", action="append", default=[], metavar="KEY=VALUE",
                       help="template parameter override (repeatable), e.g. LandingBucketName=my-landing")
        p.add_argument("--no-sync", action="store_true", help="skip `stratus sync` after the deploy")
        p.set_defaults(func=cmd_deploy)


# ---------------------------------------------------------------------------- run
def _parse_date(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise StratusError(f"--logical-date {text!r} is not an ISO-8601 date or datetime (e.g. 2026-01-31 or 2026-01-31T06:00:00Z).") from exc
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _follow_to_result(cloud: Any, store: Any, plan: Any, run_id: str, out: Any,
                      timeout: float) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Show the run's progress until the cloud is idle, then ``_result``: its last progress line
    counts the task instances read for the result (one read of them, not two)."""
    from orchestrator.local.progress import follow

    got: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []

    def result_tis() -> list[dict[str, Any]]:
        got.append(_result(cloud, plan, plan.dag_id, run_id))
        return got[-1][1]

    follow(cloud, store, plan, run_id, out, timeout, final=result_tis)
    return got[-1]


def _result(cloud: Any, plan: Any, dag_id: str, run_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from orchestrator.local.report import plain

    store = cloud.engine().store
    run = plain(store.get_run(dag_id, run_id))
    items = store.list_tis(dag_id, run_id)
    tis = plain(items)
    for ti, item in zip(tis, items):
        # The XComs decoded (the item holds them encoded, large ones in S3): {key: value}, with
        # the return value under "return_value" as in Airflow.
        keys = (["return_value"] if item.get("xcom") is not None or item.get("xcom_s3") else [])
        keys += sorted(item.get("xcom_keys") or {})
        ti["xcoms"] = plain({key: store.ti_value(item, key) for key in keys})
    return run, tis


def run_once(dags: str, dag_id: str, *, conf: dict[str, Any] | None = None, logical_date: datetime | None = None,
             out: Any = None, timeout: float = 1800.0,
             partition_key: str | None = None) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    """One run of ``dag_id`` on an embedded local cloud: ``(run, task instances, task ids in plan order)``.

    What ``stratus run`` and ``DAG.test()`` do; progress lines go to ``out`` (stdout by default).
    Each failed task instance also carries ``output_tail``: the last lines its failed try printed or
    logged (read before the embedded cloud and its logs are gone).
    """
    from orchestrator.local import heap

    with heap.kept():  # the imports and the start make what lives until the run ends (local.heap)
        from orchestrator.engine.start import start_run
        from orchestrator.local.cloud import LocalCloud
        from orchestrator.local.dev import local_parameters
        from orchestrator.local.functions import quiet_stdout

        cloud = LocalCloud(dags, auto_advance=True, parameters=local_parameters()).start()
    out = out or sys.stdout
    with cloud:
        with heap.kept():  # the plan and the clients (their service models) live as long as the run
            plan = cloud.sync_dag(dag_id)
            sync_trigger_targets(cloud, plan)
            engine = cloud.engine()
        with quiet_stdout():
            run = start_run(engine, dag_id, plan=plan, conf=conf, logical_date=logical_date,
                            partition_key=partition_key).run
        print(f"{dag_id}: run {run['run_id']} started on the local cloud", file=out, flush=True)
        final, tis = _follow_to_result(cloud, engine.store, plan, run["run_id"], out, timeout)
        _add_output_tails(cloud, dag_id, final["run_id"], tis)
    skipped = _skipped_delays(plan, tis)
    if skipped:
        print(skipped, file=out, flush=True)
    return final, tis, [s.task_id for s in plan.steps]


class _DevCloud:
    """What ``follow``, ``_result`` and ``_add_output_tails`` use of a cloud, for a running ``stratus dev``."""

    def __init__(self, clients: Any, resources: Any, dag_id: str) -> None:
        from orchestrator.compose import build_engine

        self.clients, self.resources, self.dag_id = clients, resources, dag_id
        self._engine = build_engine(clients, resources)
        self.run_id = ""

    def engine(self) -> Any:
        return self._engine

    def wait_idle(self, timeout: float) -> None:
        import time

        deadline = time.monotonic() + timeout
        while self._engine.store.get_run(self.dag_id, self.run_id).get("state") not in ("success", "failed"):
            if time.monotonic() > deadline:
                raise StratusError(f"Run {self.run_id!r} of DAG {self.dag_id!r} on `stratus dev` has not finished "
                                   f"after {timeout:.0f} s; see `stratus show {self.run_id}`.")
            time.sleep(0.05)


def run_on_dev(dags: str, dag_id: str, *, conf: dict[str, Any] | None = None,
               logical_date: datetime | None = None, out: Any = None, timeout: float = 1800.0,
               partition_key: str | None = None) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    """``run_once`` on the ``stratus dev`` running in this folder (``stratus run --dev``): nothing to start.

    The run is a manual run of the DAG as ``stratus dev`` registered it (it re-syncs its folder
    on every change), started and followed like ``stratus trigger`` + ``stratus show``; it stays
    in the dev server's history. Raises ``TargetError`` when no ``stratus dev`` runs here or it
    serves another DAG folder.
    """
    from orchestrator.errors import TargetError
    from orchestrator.local.functions import quiet_stdout
    from orchestrator.local.target import dev_target
    from orchestrator.triggers.api import trigger_dag

    out = out or sys.stdout
    found = dev_target()
    if found is None:
        raise TargetError("`stratus run --dev` needs a running `stratus dev` in this folder: start one "
                          "(`stratus dev --dags DAGS`) in another terminal, or leave out --dev for an embedded cloud.")
    clients, resources = found
    served = getattr(resources, "dags_root", None)
    if served and Path(served).resolve() != Path(dags).resolve():
        raise TargetError(f"The running `stratus dev` serves the DAG folder {served!r}, not {dags!r}: "
                          "run from its folder, or leave out --dev.")
    cloud = _DevCloud(clients, resources, dag_id)
    with quiet_stdout():
        run = trigger_dag(clients, resources, dag_id, conf=conf,
                          logical_date=logical_date.isoformat() if logical_date else None, partition_key=partition_key)
    cloud.run_id = str(run["run_id"])
    print(f"{dag_id}: run {cloud.run_id} started on `stratus dev` ({clients.endpoint_url})", file=out, flush=True)
    plan = cloud.engine().store.get_plan(dag_id, str(run["plan_hash"]))  # the plan the run pinned
    final, tis = _follow_to_result(cloud, cloud.engine().store, plan, cloud.run_id, out, timeout)
    _add_output_tails(cloud, dag_id, cloud.run_id, tis)
    return final, tis, [s.task_id for s in plan.steps]


def _add_output_tails(cloud: Any, dag_id: str, run_id: str, tis: list[dict[str, Any]]) -> None:
    failed = [ti for ti in tis if ti.get("state") == "failed"]
    if not failed:
        return  # nothing to read (the read model's import is for failures only)
    from orchestrator.observe.logs import output_lines
    from orchestrator.observe.service import RunsView

    view = RunsView(cloud.clients, cloud.resources, store=cloud.engine().store)
    for ti in failed:
        try:
            lines = view.log_lines(dag_id, run_id, str(ti["task_id"]), map_index=int(ti.get("map_index", -1)))
        except StratusError:
            lines = []
        ti["output_tail"] = output_lines(lines)[-20:]


def _skipped_delays(plan: Any, tis: list[dict[str, Any]]) -> str | None:
    """The note that the embedded cloud's clock jumped over retry delays (they are real on AWS)."""
    from orchestrator.engine.rules import retry_delay_s

    waits = []
    for ti in tis:
        tries = int(ti.get("try_number") or 0)
        if tries <= 1:
            continue
        try:
            step = plan.step(str(ti["task_id"]))
        except KeyError:
            continue
        total = sum(retry_delay_s(step.retry, n, dag_id=plan.dag_id, task_id=step.task_id) for n in range(1, tries))
        mi = int(ti.get("map_index", -1))
        waits.append(f"'{ti['task_id']}'" + (f"[{mi}]" if mi >= 0 else "") + f" {total:g}s over {tries - 1} retr"
                     + ("y" if tries == 2 else "ies"))
    if not waits:
        return None
    shown = ", ".join(waits[:5]) + (f" and {len(waits) - 5} more" if len(waits) > 5 else "")
    return (f"note: retry delays were skipped on the local cloud (its clock jumps to the next retry); "
            f"on AWS these tasks would have waited: {shown}.")


def sync_trigger_targets(cloud: Any, plan: Any) -> None:
    """Register the DAGs of the same folder that ``plan``'s TriggerDagRunOperator tasks start (and theirs),
    so ``stratus run`` runs them as a synced deployment would (their schedules are not created)."""
    seen = {plan.dag_id}
    todo = [plan]
    while todo:
        for step in todo.pop().steps:
            target = step.args.get("trigger_dag_id") if step.operator == "TriggerDagRunOperator" else None
            if not isinstance(target, str) or "{{" in target or target in seen:
                continue
            seen.add(target)
            try:
                todo.append(cloud.sync_dag(target))
            except Exception:  # noqa: BLE001 - not in the folder: the task says so when it runs
                continue


def _json_default(value: Any) -> Any:
    # Decoded XComs may hold dates (ISO text, as Airflow's API shows them) and dataclasses (their fields).
    import dataclasses
    from datetime import date

    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


def resolve_dag_target(target: str, dags: str | None) -> tuple[str, str]:
    """``(dags folder, dag id)`` for ``stratus run TARGET``: a DAG id, or a ``.py`` file with one DAG.

    A file inside ``--dags`` (default ``dags``) runs from that folder; any other file from its own
    folder. Raises ``StratusError`` when the file cannot be imported or holds no or several DAGs.
    """
    from orchestrator.errors import StratusError
    from orchestrator.plan.loader import DagBag

    if not (target.endswith(".py") or os.path.isfile(target)):
        return dags or "dags", target
    path = os.path.abspath(target)
    if not os.path.isfile(path):
        raise StratusError(f"DAG file {target!r} does not exist; pass a DAG id or the path of a DAG file.")
    root = os.path.abspath(dags or "dags")
    if not os.path.isdir(root) or os.path.relpath(path, root).startswith(".."):
        if dags:
            raise StratusError(f"DAG file {target!r} is not inside the DAGs folder {dags!r}; drop --dags or move the file.")
        root = os.path.dirname(path)
    bag = DagBag(root, load=False)
    bag.load_file(path)
    if bag.import_errors:
        raise StratusError("; ".join(str(e) for e in bag.import_errors.values()))
    ids = sorted(bag.dags)
    if len(ids) != 1:
        found = ", ".join(ids) if ids else "none"
        raise StratusError(f"DAG file {target!r} holds {len(ids)} DAGs ({found}); run one by id: "
                       f"`stratus run DAG_ID --dags {os.path.relpath(root)}`.")
    return root, ids[0]


def cmd_run(args: argparse.Namespace) -> int:
    from orchestrator.local.report import failure_summary, public_run, public_ti, run_table

    conf = conf_from_text(args.conf, dag_id=args.dag_id, source="--conf")
    logical_date = _parse_date(args.logical_date)
    out = sys.stderr if args.json else sys.stdout
    dags, dag_id = resolve_dag_target(args.dag_id, args.dags)
    runner = run_on_dev if getattr(args, "dev", False) else run_once
    final, tis, order = runner(dags, dag_id, conf=conf, logical_date=logical_date, out=out, timeout=args.timeout,
                               partition_key=getattr(args, "partition_key", None))
    if args.json:
        doc = {"run": public_run(final), "task_instances": [public_ti(ti) for ti in tis]}
        print(json.dumps(doc, indent=2, default=_json_default))
    else:
        print(run_table(final, tis, order))
        summary = failure_summary(tis)
        if summary:
            print("\n" + summary)
    return 0 if final.get("state") == "success" else 1


# ---------------------------------------------------------------------------- dev
def cmd_dev(args: argparse.Namespace) -> int:
    from orchestrator.local.dev import serve

    return serve(args.dags, port=args.port, fresh=args.fresh)


# ---------------------------------------------------------------------------- demo
def cmd_demo(args: argparse.Namespace) -> int:
    from orchestrator.local.demo import run_demo

    return run_demo(args.dags, out=sys.stdout, timeout=args.timeout)


# ---------------------------------------------------------------------------- deploy
def find_sam() -> str:
    """The ``sam`` executable: $STRATUS_SAM, the project's .venv-sam, else PATH."""
    for candidate in (os.environ.get("STRATUS_SAM"), str(PROJECT_ROOT / ".venv-sam" / "bin" / "sam"), shutil.which("sam")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise StratusError("aws-sam-cli not found: run `make sam` (installs it in .venv-sam) or `pip install aws-sam-cli`.")


def python312_dir() -> str | None:
    """Directory of a real python3.12 (sam build for python3.12 needs it on PATH)."""
    candidates = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12"))) + ["/usr/bin/python3.12"]
    for cand in candidates:
        if os.access(cand, os.X_OK):
            return str(Path(cand).parent)
    found = shutil.which("python3.12")
    return str(Path(found).parent) if found and "/shims/" not in found else None


def _sam(argv: list[str], env: dict[str, str]) -> None:
    print("$ " + " ".join(argv), flush=True)
    status = subprocess.call(argv, env=env)
    if status != 0:
        raise StratusError(f"`{' '.join(argv[:2])}` failed with exit status {status}; see its output above.")


def isolated_template(template: Path, dags: Path, stack: str, parameters: dict[str, str]) -> Path:
    """The template ``sam build`` gets: with Isolation=dag (the default) template.yaml plus one worker
    function and role per DAG or isolation group (``orchestrator.plan.isolation``), written next to
    it as ``.stratus-template.json`` (CodeUri paths stay relative); with Isolation=shared, template.yaml."""
    from orchestrator.local.template import isolated, isolation_groups, load_sam_template
    from orchestrator.plan import isolation

    groups = isolation_groups(template, dags, parameters)
    if groups is None:
        print("isolation: shared (every DAG runs in the one WorkerFunction)", flush=True)
        return template
    sam = isolated(load_sam_template(template), groups, stack_name=stack, parameters=parameters)
    out = template.parent / ".stratus-template.json"
    try:
        out.write_text(json.dumps(sam, indent=1) + "\n", encoding="utf-8")
    except OSError as exc:
        raise StratusError(f"Cannot write the generated template {str(out)!r}: {exc.strerror}. Deploy from a "
                           "project folder with its own template.yaml, or pass --parameter Isolation=shared.") from exc
    print(f"isolation: {len(groups)} worker function(s) and role(s), one per DAG or group "
          f"(a stack holds {isolation.MAX_GROUPS}); template {out}", flush=True)
    return out


def cmd_deploy(args: argparse.Namespace) -> int:
    stack = args.stack or os.environ.get("STRATUS_STACK") or "stratus"
    sam = find_sam()
    dags = Path(args.dags)
    if not dags.is_dir():
        raise StratusError(f"DAGs folder {str(dags)!r} does not exist: pass --dags PATH.")
    from orchestrator.cli.deploy_commands import preflight

    for line in preflight(args, stack, dags).lines():  # before the build: fail in seconds, not after it
        print(line, flush=True)
    template = Path.cwd() / "template.yaml"
    if not template.is_file():
        template = PROJECT_ROOT / "template.yaml"
    env = dict(os.environ, SAM_CLI_TELEMETRY=os.environ.get("SAM_CLI_TELEMETRY", "0"))
    py = python312_dir()
    if py:
        env["PATH"] = py + os.pathsep + env.get("PATH", "")
    overrides = [f"DagsPath={dags.resolve()}", *args.parameter]
    for item in overrides:
        if "=" not in item:
            raise StratusError(f"--parameter {item!r} must be KEY=VALUE, e.g. LandingBucketName=my-landing.")
    template = isolated_template(template, dags, stack, dict(item.split("=", 1) for item in overrides))
    region = ["--region", args.region] if args.region else []
    _sam([sam, "build", "--template-file", str(template), "--parameter-overrides", *overrides, *region], env)
    built = str(Path.cwd() / ".aws-sam" / "build" / "template.yaml")
    deploy = [sam, "deploy", "--template-file", built, *region]
    if args.guided:
        deploy += ["--guided", "--stack-name", stack, "--parameter-overrides", *overrides]
    else:
        deploy += [
            "--stack-name", stack, "--capabilities", "CAPABILITY_IAM", "--resolve-s3",
            "--no-fail-on-empty-changeset", "--parameter-overrides", *overrides,
        ]
    _sam(deploy, env)
    if args.no_sync:
        return 0
    from orchestrator.cli.main import main

    sync_args = ["sync", "--stack", stack, "--dags", str(dags)]
    if args.region:
        os.environ.setdefault("AWS_DEFAULT_REGION", args.region)
    print("$ stratus " + " ".join(sync_args), flush=True)
    try:
        return main(sync_args)
    except SystemExit as exc:  # argparse: no `sync` command in this installation
        print("`stratus sync` is not available here; register the DAGs with it once it is.", file=sys.stderr)
        return int(exc.code or 1)


__all__ = ["register", "cmd_run", "cmd_dev", "cmd_demo", "cmd_deploy", "find_sam", "python312_dir"]

"""`stratus demo` (and `make demo`): every example DAG, run on one embedded local cloud.

Each DAG starts the way it would on AWS: the folder is registered and scheduled with
``stratus sync``; a DAG scheduled on S3 Assets gets an object put under each asset (S3 ->
EventBridge -> trigger function); a scheduled DAG gets its EventBridge Scheduler schedule
fired by moving the local clock to its next fire time; any other DAG gets a manual run.
The demo prints each run's final table and a summary, and succeeds only when every DAG
produced at least one run and every run succeeded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from orchestrator.engine.start import start_run
from orchestrator.local.cloud import LocalCloud
from orchestrator.local.dev import local_parameters, sync_registry
from orchestrator.local.functions import quiet_stdout
from orchestrator.local.progress import follow
from orchestrator.local.report import plain, run_table, table


@dataclass
class DemoResult:
    dag_id: str
    how: str
    runs: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.runs) and all(r.get("state") == "success" for r in self.runs)


def _asset_uris(condition: Any) -> list[str]:
    if condition is None:
        return []
    if condition.uri:
        return [condition.uri]
    return [u for sub in (condition.all or condition.any or []) for u in _asset_uris(sub)]


def _object_key(prefix_or_key: str) -> str:
    if prefix_or_key.endswith("/") or not prefix_or_key:
        return f"{prefix_or_key}demo-{int(time.time())}.csv"
    return prefix_or_key.replace("*", "demo")


def _start_assets(cloud: LocalCloud, plan: Any) -> str:
    s3 = cloud.clients.client("s3")
    for uri in _asset_uris(plan.schedule.assets):
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        s3.put_object(Bucket=bucket, Key=_object_key(key), Body=b"id,amount\n1,42\n")
    return "S3 object -> EventBridge -> trigger"


def _scheduled(cloud: LocalCloud, plan: Any) -> str:
    """A scheduled DAG's runs as a schedule fire at this moment creates them: every interval due
    since ``start_date`` with ``catchup=True``, the latest one otherwise (never one dated later
    than now); the schedule's next occurrence only when nothing is due yet."""
    from orchestrator.triggers.fire import due_now

    created = due_now(cloud.clients, cloud.resources, plan.dag_id).created
    if not created:
        return _fire_schedule(cloud, plan)
    what = "catch-up" if plan.catchup else "latest interval"
    return f"schedule fire now ({what}: {len(created)} run(s))"


def _fire_schedule(cloud: LocalCloud, plan: Any) -> str:
    scheduler = cloud.clients.client("scheduler")
    group = cloud.resources.scheduler_group
    found = [s for s in scheduler.list_schedules(GroupName=group)["Schedules"] if s["Name"].startswith(plan.dag_id)]
    if not found:
        raise RuntimeError(f"`stratus sync` created no schedule for DAG '{plan.dag_id}' in group '{group}'.")
    detail = scheduler.get_schedule(GroupName=group, Name=found[0]["Name"])
    when = cloud.fire_schedule(found[0]["Name"], group)
    return f"EventBridge Scheduler {detail['ScheduleExpression']} fired for {when:%Y-%m-%d %H:%M}Z"


def run_demo(dags_root: str | Path = "dags", *, out: TextIO, timeout: float = 1800.0) -> int:
    """Run the examples; returns 0 when every DAG ran and every run succeeded."""
    results: list[DemoResult] = []
    started = time.monotonic()
    print(f"stratus demo: starting the local cloud (moto + template.yaml) for {dags_root}", file=out, flush=True)
    with LocalCloud(dags_root, auto_advance=True, parameters=local_parameters()) as cloud:
        report = sync_registry(cloud)
        for where, problem in sorted((getattr(report, "errors", {}) or {}).items()):
            results.append(DemoResult(dag_id=str(where), how="sync", error=str(problem)))
        engine = cloud.engine()
        store = engine.store
        dag_ids = sorted(getattr(report, "registered", []) or [])
        print(f"registered {len(dag_ids)} DAG(s): {', '.join(dag_ids)}\n", file=out, flush=True)
        for dag_id in dag_ids:
            result = DemoResult(dag_id=dag_id, how="manual run")
            t0 = time.monotonic()
            try:
                plan = store.get_current_plan(dag_id)
                started_run = None
                with quiet_stdout():
                    if plan.schedule.kind == "assets":
                        result.how = _start_assets(cloud, plan)
                    elif plan.schedule.kind in ("cron", "timedelta"):
                        result.how = _scheduled(cloud, plan)
                    else:
                        started_run = start_run(engine, dag_id, plan=plan).run
                print(f"-- {dag_id}: started ({result.how})", file=out, flush=True)
                if started_run is not None:
                    follow(cloud, store, plan, started_run["run_id"], out, timeout)
                else:
                    cloud.wait_idle(timeout)
                runs = sorted(plain(store.list_runs(dag_id, limit=100)), key=lambda r: str(r.get("logical_date")))
                result.runs = runs
                print(f"== {dag_id} ({result.how})", file=out)
                for run in runs:
                    tis = plain(store.list_tis(dag_id, run["run_id"]))
                    print(run_table(run, tis, [s.task_id for s in plan.steps]) + "\n", file=out, flush=True)
                if not runs:
                    result.error = "no run was started"
            except Exception as exc:  # one DAG's failure must not hide the others
                result.error = f"{type(exc).__name__}: {exc}"
            result.seconds = time.monotonic() - t0
            results.append(result)
    rows = []
    for r in results:
        states = sorted({str(run.get("state")) for run in r.runs}) or ["-"]
        rows.append([
            r.dag_id,
            str(len(r.runs)),
            ",".join(states),
            f"{r.seconds:.1f}s",
            "ok" if r.ok else f"FAILED: {r.error or 'a run did not succeed'}",
        ])
    print("Summary", file=out)
    print(table(["dag", "runs", "state", "time", "result"], rows), file=out)
    ok = bool(results) and all(r.ok for r in results)
    took = time.monotonic() - started
    print(f"\n{'All DAGs ran as expected' if ok else 'Some DAGs did not run as expected'} ({took:.1f}s).", file=out)
    return 0 if ok else 1

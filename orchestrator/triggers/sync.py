"""`stratus sync`: write every DAG's plan to the registry and make EventBridge Scheduler match.

The pipeline, Chalice-style: **compile** the DAG folder into plans; **register** them
(``RunStore.put_plan``); **plan** the schedule changes as a pure diff between the desired
schedules and the ones in the stack's schedule group (:func:`desired_schedules`,
:func:`diff_schedules`); **apply** the diff (create / update / delete). ``dry_run`` stops
after planning and changes nothing (the registry included).

One schedule per scheduled, unpaused DAG, named after the dag_id (:func:`schedule_name`),
targeting the trigger function with ``{"kind": "schedule", "dag_id": ...,
"scheduled_time": "<aws.scheduler.scheduled-time>"}`` and the stack's scheduler role.
A DAG whose next fire time falls where EventBridge would skip it (a daylight-saving gap)
also gets a one-time ``at()`` companion (``<name>.dst``), deleted by AWS after it fires.
Only schedules whose input is such a fire are managed: retry timers of the engine that
share the group are never touched. Running it twice changes nothing the second time.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from orchestrator.config import Clients, Resources
from orchestrator.errors import ScheduleError, StratusError, TargetError
from orchestrator.plan.model import StepPlan
from orchestrator.triggers.aws_schedule import AwsSchedule, at_expression, dst_companion, to_aws_schedule
from orchestrator.triggers.timetable import utc

FIRE_KIND = "schedule"
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
COMPANION_SUFFIX = ".dst"
_NAME_OK = re.compile(r"[^0-9A-Za-z\-_.]")
RETRY_POLICY = {"MaximumRetryAttempts": 20, "MaximumEventAgeInSeconds": 86400}


def schedule_name(dag_id: str, suffix: str = "") -> str:
    """A schedule name for ``dag_id`` within AWS's 64 characters of ``[0-9A-Za-z-_.]``."""
    base = _NAME_OK.sub("_", dag_id)
    if len(base) + len(suffix) > 64 or base != dag_id:
        digest = hashlib.sha256(dag_id.encode()).hexdigest()[:8]
        base = f"{base[: 64 - len(suffix) - 9]}-{digest}"
    return base + suffix


def fire_input(dag_id: str) -> str:
    """The target input of a DAG's schedule (the trigger function's schedule-fire event)."""
    return json.dumps({"kind": FIRE_KIND, "dag_id": dag_id, "scheduled_time": SCHEDULED_TIME}, sort_keys=True)


@dataclass(frozen=True)
class ScheduleSpec:
    """One desired EventBridge schedule."""

    name: str
    dag_id: str
    schedule: AwsSchedule
    companion: bool = False


@dataclass(frozen=True)
class SyncChange:
    action: str  # create | update | delete
    name: str
    dag_id: str
    expression: str = ""
    why: str = ""

    def describe(self) -> str:
        sign = {"create": "+", "update": "~", "delete": "-"}[self.action]
        tail = f" {self.expression}" if self.expression else ""
        why = f" ({self.why})" if self.why else ""
        return f"{sign} {self.action} schedule {self.name} [DAG '{self.dag_id}']{tail}{why}"


@dataclass
class SyncReport:
    registered: list[str] = field(default_factory=list)
    changes: list[SyncChange] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False
    plans: list[StepPlan] = field(default_factory=list, repr=False)  # what was compiled (for the dashboard)

    def lines(self) -> list[str]:
        verb = "would register" if self.dry_run else "registered"
        out = [f"{verb} {len(self.registered)} DAG(s): {', '.join(self.registered) or '-'}"]
        out += [c.describe() for c in self.changes] or ["schedules already match"]
        out += [f"! {where}: {msg}" for where, msg in sorted(self.errors.items())]
        return out


# ------------------------------------------------------------------ pure planning


def _once_done(item: dict[str, Any] | None) -> bool:
    return bool(item and item.get("last_scheduled_logical_date"))


def desired_schedules(
    plans: list[StepPlan], dag_items: dict[str, dict[str, Any]], *, now: datetime,
    errors: dict[str, str] | None = None,
) -> dict[str, ScheduleSpec]:
    """The schedules the stack should have: one per scheduled, unpaused DAG (+ DST companions).

    A DAG whose schedule EventBridge cannot express is left out and its ScheduleError message
    put in ``errors`` (by dag_id) when given; otherwise the error is raised.
    """
    out: dict[str, ScheduleSpec] = {}
    for plan in plans:
        try:
            out.update(_desired_for(plan, dag_items.get(plan.dag_id), now))
        except ScheduleError as err:
            if errors is None:
                raise
            errors[plan.dag_id] = str(err)
    return out


def _desired_for(plan: StepPlan, item: dict[str, Any] | None, now: datetime) -> dict[str, ScheduleSpec]:
    paused = item.get("paused") if item else bool(plan.is_paused_upon_creation)
    if paused or (plan.schedule.kind == "once" and _once_done(item)):
        return {}
    sched = to_aws_schedule(plan, now=now)
    if sched is None:
        return {}
    name = schedule_name(plan.dag_id)
    out = {name: ScheduleSpec(name, plan.dag_id, sched)}
    extra = dst_companion(plan, after=now)
    if extra is not None:
        cname = schedule_name(plan.dag_id, COMPANION_SUFFIX)
        out[cname] = ScheduleSpec(cname, plan.dag_id, AwsSchedule(expression=at_expression(extra), one_time=True),
                                  companion=True)
    return out


def _as_dt(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    return utc(value)


def _differences(spec: ScheduleSpec, have: dict[str, Any], target_arn: str, role_arn: str, now: datetime) -> list[str]:
    want = spec.schedule
    diffs = []
    if have.get("ScheduleExpression") != want.expression:
        # a one-time schedule for a @once DAG whose start passed ("at the next minute") is
        # recomputed every sync: keep the pending one instead of churning it
        late_once = want.one_time and not spec.companion and str(have.get("ScheduleExpression", "")).startswith("at(")
        if not late_once:
            diffs.append(f"expression {have.get('ScheduleExpression')} -> {want.expression}")
    if (have.get("ScheduleExpressionTimezone") or "UTC") != want.timezone:
        diffs.append(f"time zone {have.get('ScheduleExpressionTimezone')} -> {want.timezone}")
    target = have.get("Target") or {}
    if target.get("Arn") != target_arn or target.get("RoleArn") != role_arn:
        diffs.append("target")
    try:
        same_input = json.loads(target.get("Input") or "null") == json.loads(fire_input(spec.dag_id))
    except ValueError:
        same_input = False
    if not same_input:
        diffs.append("input")
    if have.get("State", "ENABLED") != "ENABLED":
        diffs.append("state")
    have_start = _as_dt(have.get("StartDate"))
    if want.expression.startswith("rate("):
        # any StartDate on the same phase is as good as the one computed now
        step = _rate_seconds(want.expression)
        phase_ok = have_start is not None and want.start_date is not None and \
            round((want.start_date - have_start).total_seconds()) % step == 0
        if not phase_ok:
            diffs.append("start date (rate phase)")
    elif want.start_date != (have_start if have_start and have_start > now else None) and not want.one_time:
        diffs.append("start date")
    if _as_dt(have.get("EndDate")) != want.end_date:
        diffs.append("end date")
    return diffs


def _rate_seconds(expression: str) -> int:
    value, unit = expression[5:-1].split()
    return int(value) * {"minute": 60, "hour": 3600, "day": 86400}[unit.rstrip("s")]


def diff_schedules(
    desired: dict[str, ScheduleSpec],
    existing: dict[str, dict[str, Any]],
    *,
    target_arn: str,
    role_arn: str,
    now: datetime,
    only_dags: set[str] | None = None,
) -> list[SyncChange]:
    """Create / update / delete steps turning ``existing`` (get_schedule replies) into ``desired``.

    ``only_dags`` limits the diff to those DAGs' schedules (pause/unpause of one DAG).
    """
    changes: list[SyncChange] = []
    for name, spec in sorted(desired.items()):
        if only_dags is not None and spec.dag_id not in only_dags:
            continue
        have = existing.get(name)
        if have is None:
            changes.append(SyncChange("create", name, spec.dag_id, spec.schedule.expression))
            continue
        diffs = _differences(spec, have, target_arn, role_arn, now)
        if diffs:
            changes.append(SyncChange("update", name, spec.dag_id, spec.schedule.expression, "; ".join(diffs)))
    for name, have in sorted(existing.items()):
        dag_id = _fire_dag_id(have)
        if name in desired or dag_id is None or (only_dags is not None and dag_id not in only_dags):
            continue
        changes.append(SyncChange("delete", name, dag_id, have.get("ScheduleExpression", ""),
                                  "DAG removed, paused or unscheduled"))
    return changes


def _fire_dag_id(have: dict[str, Any]) -> str | None:
    """The DAG a schedule fires for, or None when it is not a Stratus DAG schedule."""
    try:
        body = json.loads((have.get("Target") or {}).get("Input") or "null")
    except ValueError:
        return None
    if isinstance(body, dict) and body.get("kind") == FIRE_KIND and isinstance(body.get("dag_id"), str):
        return body["dag_id"]
    return None


# ------------------------------------------------------------------ AWS side


def read_existing(clients: Clients, group: str) -> dict[str, dict[str, Any]]:
    """Every schedule in ``group`` (full ``get_schedule`` replies), by name."""
    sched = clients.client("scheduler")
    out: dict[str, dict[str, Any]] = {}
    kwargs: dict[str, Any] = {"GroupName": group}
    while True:
        page = sched.list_schedules(**kwargs)
        for summary in page.get("Schedules", []):
            if summary.get("GroupName", group) != group:
                continue
            out[summary["Name"]] = sched.get_schedule(GroupName=group, Name=summary["Name"])
        token = page.get("NextToken")
        if not token:
            return out
        kwargs["NextToken"] = token


def trigger_arn(clients: Clients, resources: Resources) -> str:
    """The trigger function's ARN (the schedules' target).

    Built from the scheduler role's ARN (same account and partition) and the client's region,
    so the trigger function itself needs no ``lambda:GetFunction`` to add a companion schedule;
    ``GetFunction`` only when the role ARN is not known.
    """
    name = resources.trigger_function
    if not name:
        raise TargetError("The stack has no trigger function (output TriggerFunctionName); redeploy the template.")
    if name.startswith("arn:"):
        return name
    role = resources.scheduler_role_arn.split(":")
    if len(role) >= 5 and role[0] == "arn" and role[4]:
        region = clients.client("lambda").meta.region_name
        return f"arn:{role[1]}:lambda:{region}:{role[4]}:function:{name}"
    conf = clients.client("lambda").get_function(FunctionName=name)["Configuration"]
    return str(conf["FunctionArn"])


def _request(spec: ScheduleSpec, resources: Resources, target_arn: str) -> dict[str, Any]:
    s = spec.schedule
    req: dict[str, Any] = {
        "Name": spec.name,
        "GroupName": resources.scheduler_group,
        "ScheduleExpression": s.expression,
        "ScheduleExpressionTimezone": s.timezone,
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "State": "ENABLED",
        "Description": (f"Stratus DAG '{spec.dag_id}'" + (" (daylight-saving companion)" if spec.companion else ""))[:512],
        "Target": {"Arn": target_arn, "RoleArn": resources.scheduler_role_arn, "Input": fire_input(spec.dag_id),
                   "RetryPolicy": dict(RETRY_POLICY)},
    }
    if s.start_date is not None:
        req["StartDate"] = s.start_date
    if s.end_date is not None:
        req["EndDate"] = s.end_date
    return req


def apply_changes(
    clients: Clients, resources: Resources, changes: list[SyncChange], desired: dict[str, ScheduleSpec],
    *, target_arn: str,
) -> None:
    """Carry out a diff against EventBridge Scheduler (creates, updates, deletes)."""
    sched = clients.client("scheduler")
    for change in changes:
        if change.action == "delete":
            try:
                sched.delete_schedule(GroupName=resources.scheduler_group, Name=change.name)
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                    raise
            continue
        req = _request(desired[change.name], resources, target_arn)
        if change.action == "create":
            if desired[change.name].schedule.one_time:
                req["ActionAfterCompletion"] = "DELETE"
            try:
                sched.create_schedule(**req)
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") != "ConflictException":
                    raise
                sched.update_schedule(**req)  # created meanwhile by a concurrent sync
        elif change.action == "update":
            sched.update_schedule(**req)
        else:
            raise StratusError(f"Unknown sync action {change.action!r} for schedule {change.name}.")


def ensure_group(clients: Clients, resources: Resources) -> None:
    """Create the schedule group when missing (a stack always has it; moto tests may not)."""
    sched = clients.client("scheduler")
    try:
        sched.get_schedule_group(Name=resources.scheduler_group)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        sched.create_schedule_group(Name=resources.scheduler_group)


def sync_plans(
    clients: Clients,
    resources: Resources,
    plans: list[StepPlan],
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    only_dags: set[str] | None = None,
    register: bool = True,
) -> SyncReport:
    """Register ``plans`` and make the schedule group match them (see module doc)."""
    from orchestrator.errors import NotFoundError
    from orchestrator.store import RunStore

    now = utc(now or datetime.now(UTC))
    if not resources.scheduler_group:
        raise TargetError("The stack has no scheduler group (output SchedulerGroupName); redeploy the template.")
    store = RunStore(clients, resources)
    report = SyncReport(dry_run=dry_run, plans=list(plans))
    items: dict[str, dict[str, Any]] = {}
    for plan in plans:
        if register and not dry_run:
            items[plan.dag_id] = store.put_plan(plan)
        else:
            try:
                items[plan.dag_id] = store.get_dag(plan.dag_id)
            except NotFoundError:
                pass
        report.registered.append(plan.dag_id)
    desired = desired_schedules(plans, items, now=now, errors=report.errors)
    if report.errors:
        # a DAG whose schedule is wrong keeps whatever schedule it had until it is fixed
        only_dags = (only_dags or {p.dag_id for p in plans}) - set(report.errors)
    if dry_run:
        try:
            existing = read_existing(clients, resources.scheduler_group)
        except ClientError:
            existing = {}
    else:
        ensure_group(clients, resources)
        existing = read_existing(clients, resources.scheduler_group)
    target = trigger_arn(clients, resources)
    report.changes = diff_schedules(desired, existing, target_arn=target, role_arn=resources.scheduler_role_arn,
                                    now=now, only_dags=only_dags)
    if not dry_run:
        apply_changes(clients, resources, report.changes, desired, target_arn=target)
        if only_dags is None:
            known = {p.dag_id for p in plans}
            for item in store.list_dags():
                if item["dag_id"] not in known and item.get("is_active", True):
                    store.update_dag(item["dag_id"], is_active=False)
            for dag_id in known:
                if items.get(dag_id, {}).get("is_active") is False:
                    store.update_dag(dag_id, is_active=True)
    return report


def compile_folder(dags_root: str) -> tuple[list[StepPlan], dict[str, str]]:
    """Compile every DAG under ``dags_root``: (plans, errors by file or DAG id)."""
    from orchestrator.plan.compiler import compile_dag
    from orchestrator.plan.loader import DagBag

    bag = DagBag(dags_root)
    errors = {path: str(err) for path, err in bag.import_errors.items()}
    plans = []
    for dag_id, dag in sorted(bag.dags.items()):
        try:
            plans.append(compile_dag(dag, dags_root))
        except StratusError as err:
            errors[dag_id] = str(err)
    return plans, errors


def sync_folder(
    clients: Clients, resources: Resources, dags_root: str, *, dry_run: bool = False, now: datetime | None = None
) -> SyncReport:
    """`stratus sync`: compile ``dags_root``, register, reconcile schedules.

    DAGs that fail to import or compile are reported and left alone: their registry items
    and schedules stay as they were (a typo must not unschedule a production DAG).
    """
    plans, errors = compile_folder(dags_root)
    limit = worker_function_timeout(clients, resources)
    if limit is not None:
        from orchestrator.plan.validate import timeouts_within

        for plan in list(plans):
            problems = timeouts_within(plan, limit)
            if problems:  # a try Lambda would cut short: refused like a DAG that does not compile
                errors[plan.dag_id] = "\n".join(problems)
                plans.remove(plan)
    missing = missing_workers(clients, resources, plans)
    errors.update(missing)  # their tasks could not be dispatched: refused, told to deploy
    plans = [p for p in plans if p.dag_id not in missing]
    report = sync_plans(clients, resources, plans, dry_run=dry_run, now=now,
                        only_dags=None if not errors else {p.dag_id for p in plans})
    report.errors.update(errors)
    return report


def missing_workers(clients: Clients, resources: Resources, plans: list[StepPlan]) -> dict[str, str]:
    """With per-DAG isolation, the plans whose own worker function the stack does not have (a DAG
    added since the deploy), each with what to do; empty when the stack runs every DAG in one worker."""
    from orchestrator.engine.dispatch import LambdaDispatcher

    dispatcher = LambdaDispatcher(clients, resources)
    if dispatcher.worker_function_of(None) is None:
        return {}
    missing: dict[str, str] = {}
    for plan in plans:
        name = dispatcher.worker_function_of(plan)
        try:
            clients.client("lambda").get_function_configuration(FunctionName=name)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            missing[plan.dag_id] = (f"DAG '{plan.dag_id}' has no worker function {name!r} in this stack (per-DAG isolation: "
                             "each DAG gets its own at deploy). Run `stratus deploy` again to create it.")
    return missing


def worker_function_timeout(clients: Clients, resources: Resources) -> int | None:
    """The deployed worker function's Lambda timeout in seconds (None: no worker in the stack)."""
    if not resources.worker_function:
        return None
    conf = clients.client("lambda").get_function_configuration(FunctionName=resources.worker_function)
    return int(conf["Timeout"])


def sync_dag(clients: Clients, resources: Resources, dag_id: str, *, now: datetime | None = None) -> list[SyncChange]:
    """Re-sync one registered DAG's schedules from its stored plan and pause flag (pause/unpause)."""
    from orchestrator.store import RunStore

    plan = RunStore(clients, resources).get_current_plan(dag_id)
    report = sync_plans(clients, resources, [plan], now=now, only_dags={dag_id}, register=False)
    return report.changes


def put_companion(clients: Clients, resources: Resources, plan: StepPlan, moment: datetime) -> str | None:
    """Create the one-time DST companion schedule firing ``plan`` at ``moment``; its name, or None."""
    if not resources.scheduler_group or not resources.scheduler_role_arn:
        return None
    name = schedule_name(plan.dag_id, COMPANION_SUFFIX)
    spec = ScheduleSpec(name, plan.dag_id, AwsSchedule(expression=at_expression(moment), one_time=True),
                        companion=True)
    apply_changes(clients, resources, [SyncChange("create", name, plan.dag_id, spec.schedule.expression)],
                  {name: spec}, target_arn=trigger_arn(clients, resources))
    return name


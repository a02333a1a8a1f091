"""A schedule fired: create the runs that are due, once.

EventBridge Scheduler invokes the trigger function with
``{"kind": "schedule", "dag_id": ..., "scheduled_time": "2026-01-05T06:00:00Z"}``.
:func:`fire_schedule` then

1. reads the DAG's registry item (skips unknown and paused DAGs: a paused DAG's fire is a
   no-op, which also covers the moments between `stratus pause` and the schedule delete);
2. asks the timetable which runs are due at ``scheduled_time`` after the last scheduled
   run (registry bookkeeping ``last_scheduled_logical_date``): every missed one with
   ``catchup=True`` (oldest first), only the latest otherwise, never past ``end_date``;
3. starts each through the engine with run id ``scheduled__<logical date>``: the engine's
   create is a conditional put, so a fire delivered twice (or a retried invocation) finds
   the runs and starts nothing new; runs beyond ``max_active_runs`` wait ``queued`` and the
   engine starts them, oldest logical date first, as running ones finish;
4. advances the bookkeeping (only forward, conditionally) and, when the next fire falls
   where EventBridge would skip it (a DST gap), adds a one-time companion schedule.

A crash between 3 and 4 is safe: the next fire recomputes the same run ids.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Callable

from botocore.exceptions import ClientError

from orchestrator.config import Clients, Resources
from orchestrator.errors import EventError, NotFoundError, StratusError
from orchestrator.plan.model import StepPlan
from orchestrator.store import dynamo as d
from orchestrator.triggers.runs import make_run_id, start_run
from orchestrator.triggers.timetable import DagRunInfo, timetable_for, utc

log = logging.getLogger(__name__)

DAG_ID_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,250}$")
# Runs created by one invocation; a longer catch-up continues in a fresh invocation of the
# trigger function (same event), so no invocation runs into the Lambda timeout.
RUNS_PER_FIRE = 100

# (clients, resources, plan, info, run_id, run_type) -> (run, created)
Starter = Callable[..., tuple[dict[str, Any], bool]]


@dataclass
class FireResult:
    """What one schedule fire did."""

    dag_id: str
    scheduled_time: str
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    skipped: str | None = None
    companion: str | None = None
    more: bool = False  # the catch-up was cut at RUNS_PER_FIRE: fire again to continue

    def as_dict(self) -> dict[str, Any]:
        return {"dag_id": self.dag_id, "scheduled_time": self.scheduled_time, "created": self.created,
                "existing": self.existing, "skipped": self.skipped, "companion": self.companion, "more": self.more}


def is_fire_event(event: Any) -> bool:
    return isinstance(event, dict) and event.get("kind") == "schedule"


def parse_fire_event(event: Any) -> tuple[str, datetime]:
    """``(dag_id, scheduled_time)`` from a schedule fire; EventError when malformed."""
    if not isinstance(event, dict) or event.get("kind") != "schedule":
        raise EventError("Schedule fire must be a JSON object with kind 'schedule'.")
    dag_id = event.get("dag_id")
    if not isinstance(dag_id, str) or not DAG_ID_RE.match(dag_id):
        raise EventError(f"Schedule fire has an invalid dag_id {str(dag_id)[:80]!r}.")
    when = event.get("scheduled_time")
    if not isinstance(when, str) or len(when) > 40:
        raise EventError(f"Schedule fire for DAG '{dag_id}' has no valid scheduled_time.")
    try:
        moment = utc(when)
    except ValueError:
        raise EventError(
            f"Schedule fire for DAG '{dag_id}' has scheduled_time {when!r}, which is not ISO-8601."
        ) from None
    return dag_id, moment


def cron_partition(plan: StepPlan, fire: datetime, *, offset: bool = True) -> tuple[str, datetime]:
    """A CronPartitionTimetable run's ``(partition_key, partition_date)`` (Airflow 3.2+): the fire time moved
    ``run_offset`` cron intervals (negative: back), formatted with ``key_format`` in the schedule's zone.
    ``offset=False``: a backfill's, which walks the partition dates themselves (Airflow's
    ``iter_partition_dagrun_infos``: the tick is the partition date)."""
    from orchestrator.triggers.timetable import CronSchedule, zone

    sched, parts = plan.schedule, plan.schedule.partitioning
    assert parts is not None and sched.expression
    cron = CronSchedule(sched.expression, sched.timezone, dag_id=plan.dag_id)
    date = utc(fire)
    for _ in range(abs(parts.run_offset) if offset else 0):
        date = cron.next_fire(date) if parts.run_offset > 0 else cron.prev_fire(date - timedelta(microseconds=1))
    return date.astimezone(zone(sched.timezone)).strftime(parts.key_format or "%Y-%m-%dT%H:%M:%S"), date


def _advance_bookkeeping(clients: Clients, resources: Resources, plan: StepPlan, last: DagRunInfo | None,
                         scheduled_time: datetime) -> None:
    ddb = clients.client("dynamodb")
    key = {"pk": {"S": d.dag_pk(plan.dag_id)}, "sk": {"S": "META"}}
    nxt = timetable_for(plan).next_run(scheduled_time)
    sets = {"last_fire": scheduled_time.isoformat()}
    if nxt is not None:
        sets["next_logical_date"] = nxt.logical_date.isoformat()
    names = {f"#f{i}": k for i, k in enumerate(sets)}
    values = {f":v{i}": {"S": v} for i, v in enumerate(sets.values())}
    expr = "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(sets)))
    condition = "attribute_exists(pk)"
    if last is not None:
        names["#last"] = "last_scheduled_logical_date"
        values[":last"] = {"S": last.logical_date.isoformat()}
        expr += ", #last = :last"
        # Two fires racing (a late retry and the next fire): the bookkeeping only moves forward.
        condition += " AND (attribute_not_exists(#last) OR #last < :last)"
    try:
        ddb.update_item(TableName=resources.table, Key=key, UpdateExpression=expr, ConditionExpression=condition,
                        ExpressionAttributeNames=names, ExpressionAttributeValues=values)
    except ClientError as err:
        if not d.is_conditional_failure(err):
            raise


def fire_schedule(
    clients: Clients,
    resources: Resources,
    dag_id: str,
    scheduled_time: datetime | str,
    *,
    starter: Starter | None = None,
    companions: bool = True,
    limit: int = RUNS_PER_FIRE,
) -> FireResult:
    """Create the runs of ``dag_id`` due at ``scheduled_time`` (see module doc). Idempotent."""
    from orchestrator.store import RunStore

    moment = utc(scheduled_time)
    result = FireResult(dag_id, moment.isoformat())
    store = RunStore(clients, resources)
    try:
        item = store.get_dag(dag_id)
    except NotFoundError:
        result.skipped = "not registered"
        log.warning("schedule fired for unknown DAG %r; run `stratus sync`", dag_id)
        return result
    if item.get("paused"):
        result.skipped = "paused"
        return result
    plan = store.get_plan(dag_id, item["plan_hash"])
    last = item.get("last_scheduled_logical_date")
    due = timetable_for(plan).due_runs(last_logical=utc(last) if last else None, now=moment, catchup=plan.catchup,
                                       limit=limit)
    result.more = plan.catchup and len(due) >= limit
    start = starter or _default_starter
    for info in due:
        run_id = make_run_id("scheduled", info.logical_date)
        parts = plan.schedule.partitioning
        if parts is not None and parts.kind == "cron":  # CronPartitionTimetable: each run has its partition
            key, date = cron_partition(plan, info.logical_date)
            _, created = start(clients, resources, plan, info=info, run_id=run_id, run_type="scheduled",
                               partition_key=key, partition_date=date)
        else:
            _, created = start(clients, resources, plan, info=info, run_id=run_id, run_type="scheduled")
        (result.created if created else result.existing).append(run_id)
    _advance_bookkeeping(clients, resources, plan, due[-1] if due else None, moment)
    if companions:
        result.companion = _companion(clients, resources, plan, moment)
    return result


def _companion(clients: Clients, resources: Resources, plan: StepPlan, after: datetime) -> str | None:
    from orchestrator.triggers.aws_schedule import dst_companion
    from orchestrator.triggers.sync import put_companion

    moment = dst_companion(plan, after=after)
    if moment is None:
        return None
    try:
        return put_companion(clients, resources, plan, moment)
    except (ClientError, StratusError) as err:  # never fail the fire over the companion
        log.warning("could not add the DST companion schedule of DAG %r: %s", plan.dag_id, err)
        return None


def _default_starter(clients: Clients, resources: Resources, plan: StepPlan, *, info: DagRunInfo, run_id: str,
                     run_type: str, conf: dict[str, Any] | None = None,
                     triggering_asset_events: dict[str, Any] | None = None, partition_key: str | None = None,
                     partition_date: datetime | None = None) -> tuple[dict[str, Any], bool]:
    return start_run(clients, resources, plan, run_id=run_id, run_type=run_type, info=info, conf=conf,
                     triggering_asset_events=triggering_asset_events, partition_key=partition_key,
                     partition_date=partition_date)


def handle_fire_event(clients: Clients, resources: Resources, event: dict[str, Any]) -> dict[str, Any]:
    """The trigger function's schedule branch: parse, fire, report.

    A catch-up longer than RUNS_PER_FIRE continues in a new asynchronous invocation of the
    trigger function with the same event (the bookkeeping makes it pick up where this one
    stopped).
    """
    dag_id, moment = parse_fire_event(event)
    result = fire_schedule(clients, resources, dag_id, moment)
    if result.more and resources.trigger_function:
        clients.client("lambda").invoke(FunctionName=resources.trigger_function, InvocationType="Event",
                                        Payload=json.dumps({"kind": "schedule", "dag_id": dag_id,
                                                            "scheduled_time": moment.isoformat()}).encode())
    return result.as_dict()


def due_now(clients: Clients, resources: Resources, dag_id: str, now: datetime | None = None) -> FireResult:
    """Create what is due for ``dag_id`` right now (used on unpause: catch up what the pause missed)."""
    return fire_schedule(clients, resources, dag_id, now or datetime.now(UTC))


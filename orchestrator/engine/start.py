"""The one door every run comes in by: the checks, the run id and the conf's shape.

A run starts from a schedule fire, a backfill, an asset event, the HTTP API, ``stratus
trigger``/``run``/``demo``, the UI's trigger button or a ``TriggerDagRunOperator``; each of
them calls :func:`start_run` (``Engine.start_run`` is the same door). Here, and only here:

- the run id: Airflow's ``{run_type}__{logical date ISO}`` unless one is given
  (:func:`make_run_id`), and a given one checked (:data:`RUN_ID_RE`);
- the conf: a JSON object (:func:`parse_conf`; :func:`conf_from_text` for the CLI's text),
  at most :data:`MAX_CONF_BYTES` and :data:`MAX_CONF_DEPTH` levels deep (DynamoDB refuses
  deeper items; moto does not), stored as plain JSON values and handed to the task's
  context unchanged (``context["dag_run"].conf``, ``context["conf"]``);
- the conf checked against the DAG's params (``ParamValidationError`` naming the DAG and param)
  before anything is written.

The run itself is created by ``Engine.create_and_start`` (a conditional put, so the same
run id twice starts one run).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Mapping, NamedTuple

from orchestrator.errors import ParamValidationError
from orchestrator.plan.model import StepPlan

if TYPE_CHECKING:
    from orchestrator.engine.engine import Engine

RUN_TYPES = ("manual", "scheduled", "backfill", "asset_triggered")
RUN_ID_RE = re.compile(r"^[A-Za-z0-9_.:+\-]{1,250}$")
# A run item holds conf and the resolved params beside its counters, under DynamoDB's 400 KB.
MAX_CONF_BYTES = 64 * 1024
# DynamoDB allows 32 levels of nesting in an item; the run item holds conf one level down
# (and the worker's run snapshot one more).
MAX_CONF_DEPTH = 30

# A run's conf: a JSON object, the same value from the CLI/API to the task's context.
RunConf = dict[str, Any]


class StartedRun(NamedTuple):
    """What :func:`start_run` returns: the run item, and whether this call created it."""

    run: dict[str, Any]
    created: bool


def make_run_id(run_type: str, moment: datetime) -> str:
    """Airflow's run id form: ``{run_type}__{iso timestamp}``, e.g. ``scheduled__2026-01-01T06:00:00+00:00``."""
    return f"{run_type}__{moment.isoformat()}"


def check_run_id(run_id: str, dag_id: str) -> str:
    """``run_id`` if it is a valid run id, else ParamValidationError saying which characters to use."""
    if not isinstance(run_id, str) or not RUN_ID_RE.match(run_id):
        raise ParamValidationError(
            f"Run id {str(run_id)[:80]!r} for DAG '{dag_id}' is invalid: use letters, digits and _ . : + - (1 to 250 characters)."
        )
    return run_id


def _depth(value: Any) -> int:
    # Iterative: a hostile conf may nest thousands of levels.
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, Mapping):
            children = list(item.values())
        elif isinstance(item, (list, tuple)):
            children = list(item)
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


def parse_conf(value: Mapping[str, Any] | None, *, dag_id: str, source: str = "conf") -> RunConf:
    """A run's conf in its one shape: a JSON object of plain JSON values, checked.

    None is ``{}``. Raises ParamValidationError naming ``source`` and the DAG when it is not
    a JSON object, holds values JSON cannot carry, is larger than ``MAX_CONF_BYTES`` or nests
    deeper than ``MAX_CONF_DEPTH``.
    """
    where = _where(source, dag_id)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ParamValidationError(f"{where} must be a JSON object, got {type(value).__name__}.")
    try:
        text = json.dumps(dict(value), allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ParamValidationError(f"{where} holds a value JSON cannot carry ({exc}); use JSON values only.") from None
    if len(text.encode()) > MAX_CONF_BYTES:
        raise ParamValidationError(
            f"{where} is {len(text.encode()):,} bytes; at most {MAX_CONF_BYTES:,} fit in a run. "
            "Put large inputs in S3 and pass their key in conf.")
    depth = _depth(value)
    if depth > MAX_CONF_DEPTH:
        raise ParamValidationError(f"{where} nests {depth} levels deep; DynamoDB stores at most {MAX_CONF_DEPTH}. "
                                   "Flatten it.")
    from orchestrator.plan.confshape import check_numbers

    conf: RunConf = check_numbers(json.loads(text), dag_id=dag_id)  # > 38 digits: DynamoDB refuses, moto stores
    return conf


def conf_from_text(text: str | None, *, dag_id: str, source: str = "--conf") -> RunConf:
    """:func:`parse_conf` of JSON text (``stratus run|trigger|backfill --conf``)."""
    from orchestrator.plan.confshape import strict_json_loads

    if text is None:
        return {}
    try:
        value = strict_json_loads(text)  # NaN, 1e400 and deep nesting: ValueError, never RecursionError
    except ValueError as exc:
        raise ParamValidationError(
            f"{_where(source, dag_id)} is not valid JSON ({exc}); pass an object like '{{\"k\": 1}}'.") from None
    return parse_conf(value, dag_id=dag_id, source=source)


def _where(source: str, dag_id: str) -> str:
    return f"{source} for DAG '{dag_id}'" if source.startswith("-") else f"The {source} of a run of DAG '{dag_id}'"


def start_run(engine: Engine, dag_id: str, *, plan: StepPlan | None = None, run_type: str = "manual",
              run_id: str | None = None, logical_date: datetime | None = None,
              data_interval: tuple[datetime, datetime] | None = None,
              conf: Mapping[str, Any] | None = None,
              triggering_asset_events: dict[str, list[dict[str, Any]]] | None = None,
              partition_key: str | None = None, partition_date: datetime | None = None,
              backfill_ordinal: int | None = None) -> StartedRun:
    """Create a run of ``dag_id`` and start it (or queue it behind ``max_active_runs``).

    ``partition_key`` makes it a partitioned run (Airflow 3.2+: ``dag_run.partition_key``; the asset
    events its tasks emit carry the key); ``partition_date`` the period start the key stands for.

    ``plan``: that version is stored (``store.ensure_plan``) without becoming current; default
    the DAG's current plan. ``run_id`` defaults to :func:`make_run_id` of ``run_type`` and the
    logical date (default now). Idempotent on the run id: a second call returns the existing
    run with ``created=False`` (and starts it if a first caller died before it took a slot).
    Raises ParamValidationError (bad conf or run id, conf not matching the DAG's params) and
    NotFoundError (unknown DAG) before anything is written. ``backfill_ordinal``: the run's
    interval's place in its backfill, from 1 (Airflow's ``BackfillDagRun.sort_ordinal``).

    Example::

        run, created = start_run(engine, "daily_sales", conf={"day": "2026-01-01"})
    """
    if run_type not in RUN_TYPES:
        raise ParamValidationError(f"Unknown run type {run_type!r} for DAG '{dag_id}'; use one of {', '.join(RUN_TYPES)}.")
    checked = parse_conf(conf, dag_id=dag_id)
    logical = (logical_date or engine.now()).astimezone(timezone.utc)
    run_id = check_run_id(run_id, dag_id) if run_id is not None else make_run_id(run_type, logical)
    if partition_key is not None:
        if plan is None:
            plan = engine.store.get_current_plan(dag_id)
        partition_date = partition_date or partition_date_of(plan, partition_key)
    return engine.create_and_start(dag_id, plan=plan, run_id=run_id, run_type=run_type, logical_date=logical,
                                   data_interval=data_interval, conf=checked,
                                   triggering_asset_events=triggering_asset_events,
                                   partition_key=partition_key, partition_date=partition_date,
                                   backfill_ordinal=backfill_ordinal)


def partition_date_of(plan: StepPlan, key: Any) -> datetime | None:
    """Check ``key`` as a partition key of ``plan``'s DAG; the period start it stands for, or None.

    As in Airflow 3.3: only a partitioned DAG (CronPartitionTimetable, PartitionedAtRuntime,
    PartitionedAssetTimetable) takes a key; a cron-partitioned key is read with the timetable's
    ``key_format`` in its time zone; an asset-partitioned one by the mappers, when they agree.
    ParamValidationError naming the DAG otherwise.
    """
    from orchestrator.authoring.partitions import check_partition_key, mapper_from_spec

    parts, dag_id = plan.schedule.partitioning, plan.dag_id
    if parts is None:
        raise ParamValidationError(f"DAG '{dag_id}' is not a partitioned DAG and does not accept a partition_key "
                                   "(give it CronPartitionTimetable, PartitionedAtRuntime or PartitionedAssetTimetable).")
    try:
        check_partition_key(key)
    except ValueError as exc:
        raise ParamValidationError(f"A run of DAG '{dag_id}': {exc}") from None
    if parts.kind == "cron":
        from zoneinfo import ZoneInfo

        fmt = parts.key_format or "%Y-%m-%dT%H:%M:%S"
        try:
            naive = datetime.strptime(key, fmt)
        except ValueError:
            raise ParamValidationError(f"Partition key {key!r} does not match DAG '{dag_id}''s key_format {fmt!r}.") \
                from None
        return (naive.replace(tzinfo=ZoneInfo(plan.schedule.timezone)) if naive.tzinfo is None else naive) \
            .astimezone(timezone.utc)
    if parts.kind == "assets":
        anchors, uris, todo = set(), [], [plan.schedule.assets]
        while todo:  # the mapper of each asset of the condition
            cond = todo.pop()
            if cond is not None:
                uris += [cond.uri] if cond.uri else []
                todo += (cond.all or []) + (cond.any or [])
        for spec in [parts.mappers.get(u) or parts.default_mapper or {"type": "IdentityMapper"} for u in uris]:
            try:
                anchor = mapper_from_spec(spec).to_partition_date(key)
            except Exception:  # noqa: BLE001 - an undecodable key has no date, as in Airflow
                return None
            if anchor is not None:
                anchors.add(anchor.astimezone(timezone.utc))
        return anchors.pop() if len(anchors) == 1 else None
    return None

"""Asset-scheduled DAGs: match asset events to DAG conditions and start runs when they are met.

A DAG with ``schedule=[Asset("s3://landing/sales/")]`` (or ``Asset(a) & Asset(b)``,
``Asset(a) | Asset(b)``, nested) runs when its condition is met by asset events that
arrived since its last asset-triggered run. An asset URI matches an event's URI

- as a **prefix** when it ends with ``/`` (``s3://landing/sales/`` matches
  ``s3://landing/sales/2026/01.csv``),
- as a **glob** (fnmatch, case-sensitive) when it contains ``*``, ``?`` or ``[``
  (``s3://landing/*.csv``),
- exactly otherwise.

A list or ``AssetAll`` needs every member to have had an event, ``AssetAny`` any one.

Storage (one table, see docs/internals.md):

- ``ASSET#{uri}/EVT#{dedup_id}``: one item per delivered event, put conditionally, so a
  second delivery of the same S3 event (same bucket, key, sequencer, etag) finds it and
  starts nothing. ``done`` is set once every DAG has been handled, so a crash half-way is
  retried rather than lost.
- ``DAG#{dag_id}/ASSETWAIT``: ``version`` (N, +1 per event) and one list attribute
  ``e#{asset_uri}`` per condition member with the events seen since the last run; the
  per-DAG ``ASSET#{uri}/EVT#{dedup_id}#DAG#{dag_id}`` marker is written in the same
  transaction, so one event counts once per DAG even when redelivered after a crash.
  When the condition is met, the waiter that resets the item *at the version it read*
  starts the run; a concurrent event bumps the version and makes the other reset fail,
  so two events never start two runs from the same wait state.
- ``DAG#{dag_id}/ASSETWAIT#P#{key}``: the same for one partition of a partition-aware DAG
  (``PartitionedAssetTimetable``): each partitioned event's key goes through its asset's mapper
  (``authoring.partitions``) and lands in the item of each downstream key, with the upstream key
  added to ``k#{asset_uri}`` (what a rollup's wait policy counts). As in Airflow, a partitioned
  event starts no other asset-scheduled DAG and an event without a key no partition-aware one.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any, Callable

from botocore.exceptions import ClientError

from orchestrator.authoring.assets import ALIAS_PREFIX
from orchestrator.config import Clients, Resources
from orchestrator.errors import EventError, ScheduleError
from orchestrator.plan.model import AssetCondition, Partitioning, Step
from orchestrator.store import dynamo as d
from orchestrator.triggers.s3events import AssetEvent, outlet_event

DEDUP_TTL_S = 7 * 24 * 3600
WAIT_SK = "ASSETWAIT"
MAX_EVENTS_PER_ASSET = 50  # kept in the wait item per asset, newest (the item stays far below 400 KB)
MAX_DOWNSTREAM_KEYS = 1000  # a fan-out's keys per event (Airflow's [scheduler] partition_mapper_max_downstream_keys)
_GLOB_CHARS = set("*?[")
log = logging.getLogger(__name__)


# ------------------------------------------------------------------ pure matching


def leaf_uris(cond: AssetCondition | None) -> list[str]:
    """Every asset URI in a condition, in order, without duplicates."""
    out: list[str] = []

    def walk(c: AssetCondition) -> None:
        if c.uri is not None and c.uri not in out:
            out.append(c.uri)
        for child in (c.all or []) + (c.any or []):
            walk(child)

    if cond is not None:
        walk(cond)
    return out


def uri_matches(asset_uri: str, event_uri: str, aliases: list[str] | None = None) -> bool:
    """Does an event for ``event_uri`` (emitted through ``aliases``) update the asset ``asset_uri``
    (prefix, glob or exact; ``alias:NAME`` when the event came through that AssetAlias)?"""
    if asset_uri.startswith(ALIAS_PREFIX):
        return asset_uri[len(ALIAS_PREFIX):] in (aliases or [])
    if _GLOB_CHARS & set(asset_uri):
        return fnmatch.fnmatchcase(event_uri, asset_uri)
    if asset_uri.endswith("/"):
        return event_uri.startswith(asset_uri)
    return event_uri == asset_uri


def condition_met(cond: AssetCondition, seen: set[str]) -> bool:
    """Is ``cond`` satisfied when the assets in ``seen`` (condition URIs) have had events?"""
    if cond.uri is not None:
        return cond.uri in seen
    if cond.all is not None:
        return all(condition_met(c, seen) for c in cond.all)
    if cond.any is not None:
        return any(condition_met(c, seen) for c in cond.any)
    return False


def validate_asset_uri(uri: Any, dag_id: str = "?") -> str:
    """An asset URI Airflow accepts (``s3://`` ones are also updated by S3 objects); ScheduleError
    naming the DAG otherwise."""
    from orchestrator.authoring.assets import asset_uri_problem

    problem = asset_uri_problem(uri)
    if problem:
        raise ScheduleError(f"DAG '{dag_id}': {problem}.")
    return uri


def validate_condition(cond: AssetCondition | None, dag_id: str = "?") -> None:
    """Every URI in ``cond`` is an s3 URI; raises ScheduleError naming the DAG."""
    uris = leaf_uris(cond)
    if not uris:
        raise ScheduleError(f"DAG '{dag_id}' has an asset schedule with no assets.")
    for uri in uris:
        validate_asset_uri(uri, dag_id)


# ------------------------------------------------------------------ storage


class AssetStore:
    """The asset-event and asset-wait items (low-level DynamoDB client, conditional writes)."""

    def __init__(self, clients: Clients, resources: Resources) -> None:
        self.clients, self.resources = clients, resources
        self.ddb = clients.client("dynamodb")
        self.table = resources.table

    def _key(self, pk: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    def claim_event(self, event: AssetEvent) -> bool:
        """Record a delivery; False when the same event was already fully handled (a duplicate)."""
        item = {
            "pk": f"ASSET#{event.uri}", "sk": f"EVT#{event.dedup_id()}", "event": event.model_dump_json(),
            "received_at": d.now_iso(), "expires_at": int(time.time()) + DEDUP_TTL_S, "done": False,
        }
        try:
            # A redelivered event finds the item: if it was fully handled, stop here.
            self.ddb.put_item(TableName=self.table, Item=d.to_item(item),
                              ConditionExpression="attribute_not_exists(pk) OR done = :f",
                              ExpressionAttributeValues={":f": {"BOOL": False}})
        except ClientError as err:
            if d.is_conditional_failure(err):
                return False
            raise
        return True

    def finish_event(self, event: AssetEvent) -> None:
        self.ddb.update_item(TableName=self.table, Key=self._key(f"ASSET#{event.uri}", f"EVT#{event.dedup_id()}"),
                             UpdateExpression="SET done = :t", ExpressionAttributeValues={":t": {"BOOL": True}})

    def add_to_wait(self, dag_id: str, uris: list[str], event: AssetEvent, *, sk: str = WAIT_SK,
                    source_key: str | None = None) -> dict[str, Any] | None:
        """Append ``event`` under each of ``uris`` in the DAG's wait item ``sk`` (once); return the item.

        ``sk``: ``ASSETWAIT``, or ``ASSETWAIT#P#{key}`` for one partition of a partitioned DAG, whose
        item also collects the upstream partition keys per asset (``k#{uri}``, a string set: what a
        rollup waits for). A redelivered event (already counted) returns the current item too: the
        delivery that counted it may have died before consuming, and the caller must still decide.
        """
        names = {f"#e{i}": f"e#{u}" for i, u in enumerate(uris)}
        sets = ", ".join(f"#e{i} = list_append(if_not_exists(#e{i}, :empty), :evt)" for i in range(len(uris)))
        values: dict[str, Any] = {":empty": {"L": []}, ":evt": {"L": [{"S": event.model_dump_json()}]},
                                  ":one": {"N": "1"}, ":now": {"S": d.now_iso()}}
        adds = ""
        if source_key is not None:
            names.update({f"#k{i}": f"k#{u}" for i, u in enumerate(uris)})
            adds = "".join(f", #k{i} :keys" for i in range(len(uris)))
            values[":keys"] = {"SS": [source_key]}
        suffix = "" if sk == WAIT_SK else sk[len(WAIT_SK):]
        marker = {"pk": f"ASSET#{event.uri}", "sk": f"EVT#{event.dedup_id()}#DAG#{dag_id}{suffix}",
                  "expires_at": int(time.time()) + DEDUP_TTL_S}
        try:
            self.ddb.transact_write_items(TransactItems=[
                # The marker makes the append happen once per (event, DAG) even on redelivery.
                {"Put": {"TableName": self.table, "Item": d.to_item(marker),
                         "ConditionExpression": "attribute_not_exists(pk)"}},
                {"Update": {"TableName": self.table, "Key": self._key(d.dag_pk(dag_id), sk),
                            "UpdateExpression": f"SET {sets}, updated_at = :now ADD version :one{adds}",
                            "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}},
            ])
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") == "TransactionCanceledException" and \
                    "ConditionalCheckFailed" in d.cancellation_codes(err):
                pass  # counted by an earlier delivery; re-read and decide again (consume is versioned)
            else:
                raise
        got = self.ddb.get_item(TableName=self.table, Key=self._key(d.dag_pk(dag_id), sk), ConsistentRead=True)
        return d.from_item(got.get("Item")) or {}

    def consume(self, dag_id: str, snapshot: dict[str, Any], *, sk: str = WAIT_SK) -> bool:
        """Reset the wait item if it is still at ``snapshot``'s version; True for the winner."""
        attrs = [k for k in snapshot if k.startswith(("e#", "k#"))]
        names = {f"#e{i}": a for i, a in enumerate(attrs)}
        kwargs: dict[str, Any] = {"ExpressionAttributeNames": names} if names else {}
        remove = (" REMOVE " + ", ".join(names)) if names else ""
        try:
            # Another event appended after our read (version moved): it decides instead of us.
            # The reset moves the version too: two deliveries that read the same wait state
            # (the same or concurrent events) cannot both consume it and start two runs.
            self.ddb.update_item(
                TableName=self.table, Key=self._key(d.dag_pk(dag_id), sk),
                UpdateExpression=f"SET last_triggered_at = :now{remove} ADD version :one",
                ConditionExpression="version = :v",
                ExpressionAttributeValues={":v": {"N": str(int(snapshot["version"]))}, ":now": {"S": d.now_iso()},
                                           ":one": {"N": "1"}},
                **kwargs,
            )
        except ClientError as err:
            if d.is_conditional_failure(err):
                return False
            raise
        return True

    def trim(self, dag_id: str, snapshot: dict[str, Any], keep: int = MAX_EVENTS_PER_ASSET, *,
             sk: str = WAIT_SK) -> None:
        """Drop the oldest events of assets holding more than ``keep`` (an AND condition whose
        other member never arrives must not grow the item towards DynamoDB's 400 KB)."""
        removals: list[str] = []
        names: dict[str, str] = {}
        for i, (attr, events) in enumerate(sorted((k, v) for k, v in snapshot.items() if k.startswith("e#"))):
            extra = len(events) - keep
            if extra > 0:
                names[f"#t{i}"] = attr
                removals += [f"#t{i}[{j}]" for j in range(extra)]
        if not removals:
            return
        try:
            # Only if nothing was appended since the read: list indexes must still mean the same
            # events. The version moves, so a second trim from the same read removes nothing more.
            self.ddb.update_item(
                TableName=self.table, Key=self._key(d.dag_pk(dag_id), sk),
                UpdateExpression="REMOVE " + ", ".join(removals) + " ADD version :one",
                ConditionExpression="version = :v", ExpressionAttributeNames=names,
                ExpressionAttributeValues={":v": {"N": str(int(snapshot["version"]))}, ":one": {"N": "1"}},
            )
        except ClientError as err:
            if not d.is_conditional_failure(err):
                raise

    def wait_state(self, dag_id: str) -> dict[str, list[dict[str, Any]]]:
        """URIs seen since the DAG's last asset-triggered run -> their events (for the CLI/UI)."""
        got = self.ddb.get_item(TableName=self.table, Key=self._key(d.dag_pk(dag_id), WAIT_SK), ConsistentRead=True)
        item = d.from_item(got.get("Item")) or {}
        return {k[2:]: [json.loads(e) for e in v] for k, v in item.items() if k.startswith("e#")}


# ------------------------------------------------------------------ handling

# (clients, resources, dag_item, triggering_asset_events, now[, partition_key=, partition_date=]) -> the
# started run; the events are Airflow 3's shape: {asset uri: [event, ...]} (see AssetEvent.context_payload)
RunStarter = Callable[..., Any]


def _condition_of(dag_item: dict[str, Any]) -> AssetCondition | None:
    sched = dag_item.get("schedule") or {}
    if isinstance(sched, str):
        sched = json.loads(sched)
    if not sched.get("assets"):  # an asset schedule, or AssetOrTimeSchedule's assets beside its cron
        return None
    return AssetCondition.model_validate(sched["assets"])


def handle_asset_events(
    clients: Clients,
    resources: Resources,
    events: list[AssetEvent],
    *,
    dags: list[dict[str, Any]] | None = None,
    starter: RunStarter | None = None,
    now: datetime | None = None,
) -> list[Any]:
    """Apply asset events to every unpaused asset-scheduled DAG; start the runs that became due.

    ``dags`` defaults to the registry (``RunStore.list_dags()``); ``starter`` to
    :func:`orchestrator.triggers.runs.start_asset_run`. Returns what the starter returned for
    each run started. A duplicate delivery starts nothing.
    """
    if not events:
        return []
    if dags is None:
        from orchestrator.store import RunStore

        dags = RunStore(clients, resources).list_dags()
    if starter is None:
        from orchestrator.triggers.runs import start_asset_run

        starter = start_asset_run
    store = AssetStore(clients, resources)
    started: list[Any] = []
    moment = now or datetime.now(UTC)
    for event in events:
        if not store.claim_event(event):
            continue
        for dag_item in dags:
            if dag_item.get("paused"):
                continue
            cond = _condition_of(dag_item)
            if cond is None:
                continue
            hits = [u for u in leaf_uris(cond) if uri_matches(u, event.uri, event.source_aliases)]
            if not hits:
                continue
            parts = _partitioning_of(dag_item)
            if parts is None:
                # As in Airflow 3.2+: a partitioned event queues only partition-aware DAGs.
                if event.partition_key is None:
                    started += _wait_and_start(store, dag_item, cond, hits, event, starter, moment)
                continue
            started += _partitioned(store, dag_item, cond, parts, hits, event, starter, moment)
        store.finish_event(event)
    return started


def _partitioning_of(dag_item: dict[str, Any]) -> Partitioning | None:
    sched = dag_item.get("schedule") or {}
    if isinstance(sched, str):
        sched = json.loads(sched)
    part = sched.get("partitioning")
    return Partitioning.model_validate(part) if part and part.get("kind") == "assets" else None


def _triggering(snapshot: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The run's ``triggering_asset_events`` from a consumed wait item (Airflow 3's shape)."""
    triggering: dict[str, list[dict[str, Any]]] = {}
    for key in sorted(k for k in snapshot if k.startswith("e#")):
        evts = [AssetEvent.model_validate_json(e) for e in snapshot[key][-MAX_EVENTS_PER_ASSET:]]
        if key[2:].startswith(ALIAS_PREFIX):  # as in Airflow: keyed by the assets the alias resolved to
            for e in sorted(evts, key=lambda e: e.timestamp):
                triggering.setdefault(e.uri, []).append(e.context_payload(e.uri))
            continue
        triggering[key[2:]] = [e.context_payload(key[2:]) for e in sorted(evts, key=lambda e: e.timestamp)]
    return triggering


def _wait_and_start(store: AssetStore, dag_item: dict[str, Any], cond: AssetCondition, hits: list[str],
                    event: AssetEvent, starter: RunStarter, now: datetime) -> list[Any]:
    snapshot = store.add_to_wait(dag_item["dag_id"], hits, event) or {}
    seen = {k[2:] for k, v in snapshot.items() if k.startswith("e#") and v}
    if not condition_met(cond, seen):
        store.trim(dag_item["dag_id"], snapshot)
        return []
    if not store.consume(dag_item["dag_id"], snapshot):
        return []
    return [starter(store.clients, store.resources, dag_item, _triggering(snapshot), now)]


def _partitioned(store: AssetStore, dag_item: dict[str, Any], cond: AssetCondition, parts: Partitioning,
                 hits: list[str], event: AssetEvent, starter: RunStarter, now: datetime) -> list[Any]:
    """A partition-aware DAG (PartitionedAssetTimetable), as Airflow 3.3's scheduler: the event's key goes
    through each matched asset's mapper; one wait item per downstream key; a run, with that key, when the
    condition is met by events mapped to it (a rollup asset counts once its wait policy is satisfied)."""
    from orchestrator.authoring.partitions import RollupMapper, mapper_from_spec

    dag_id, key = dag_item["dag_id"], event.partition_key
    if key is None:
        log.warning("DAG %r is partition-aware but the event of %r from run %r has no partition key; nothing "
                    "queued", dag_id, event.uri, event.source_run_id)
        return []
    mappers = {u: mapper_from_spec(parts.mappers.get(u) or parts.default_mapper or {"type": "IdentityMapper"})
               for u in leaf_uris(cond)}
    by_target: dict[str, list[str]] = {}
    for uri in hits:
        mapper = mappers[uri]
        try:
            mapped = mapper.to_downstream(key)
        except Exception as exc:  # noqa: BLE001 - any mapper error means "no run for this key", as in Airflow
            log.warning("Could not map partition_key %r for asset %r in DAG %r (%s: %s); nothing queued", key, uri,
                        dag_id, type(exc).__name__, exc)
            continue
        targets = [mapped] if isinstance(mapped, str) else list(mapped)
        cap = mapper.max_downstream_keys or MAX_DOWNSTREAM_KEYS
        if len(targets) > cap:
            log.error("Partition mapper for asset %r in DAG %r produced %d keys from %r, more than %d; nothing "
                      "queued", uri, dag_id, len(targets), key, cap)
            continue
        for target in targets:
            by_target.setdefault(target, []).append(uri)
    started: list[Any] = []
    for target, uris in by_target.items():
        sk = f"{WAIT_SK}#P#{target}"
        snapshot = store.add_to_wait(dag_id, uris, event, sk=sk, source_key=key) or {}
        seen = set()
        for attr, evts in snapshot.items():
            if not attr.startswith("e#") or not evts:
                continue
            uri = attr[2:]
            rollup = mappers.get(uri)
            if isinstance(rollup, RollupMapper):
                arrived = set(snapshot.get(f"k#{uri}") or ())
                if not rollup.wait_policy.satisfied(arrived, rollup.to_upstream(target)):
                    continue
            seen.add(uri)
        if not condition_met(cond, seen):
            store.trim(dag_id, snapshot, sk=sk)
            continue
        if not store.consume(dag_id, snapshot, sk=sk):
            continue
        date = _partition_date(target, seen, mappers, snapshot)
        started.append(starter(store.clients, store.resources, dag_item, _triggering(snapshot), now,
                               partition_key=target, partition_date=date))
    return started


def _partition_date(target: str, uris: set[str], mappers: dict[str, Any], snapshot: dict[str, Any]) -> datetime | None:
    """The run's ``partition_date``: the period start the mappers decode from ``target`` when they agree; for
    keys no mapper decodes (IdentityMapper), the producer run's date the events carry when they agree."""
    anchors = set()
    for uri in uris:
        try:
            anchor = mappers[uri].to_partition_date(target)
        except Exception:  # noqa: BLE001 - no date rather than no run
            return None
        if anchor is not None:
            anchors.add(anchor.astimezone(UTC))
    if anchors:
        return anchors.pop() if len(anchors) == 1 else None
    carried = {e.partition_date for uri in uris if mappers[uri].carries_partition_date()
               for e in (AssetEvent.model_validate_json(x) for x in snapshot.get(f"e#{uri}") or [])
               if e.partition_date}
    return datetime.fromisoformat(carried.pop()) if len(carried) == 1 else None


def emit_outlet_events(clients: Clients, resources: Resources, plan_step: Step, run: dict[str, Any],
                       extras: dict[str, dict[str, Any]] | None = None, *,
                       partitions: dict[str, list[str]] | None = None) -> list[Any]:
    """Emit the asset events of a task that succeeded with ``outlets``; start consumer DAGs.

    The engine calls this after a task's success is recorded. Idempotent per (DAG, run,
    task): a redelivered success emits nothing new. ``extras``: per asset uri, the ``extra``
    the task set through ``context["outlet_events"]``; ``partitions``: per asset uri, the keys it
    passed to ``add_partitions`` (one event each). Otherwise, as in Airflow 3.2+, each event carries
    the run's ``partition_key`` (and ``partition_date``), alias events included. Returns the runs started.
    """
    if not plan_step.outlets:
        return []
    run_key, run_date = run.get("partition_key"), run.get("partition_date")
    events = []
    for uri in plan_step.outlets:
        if uri.startswith(ALIAS_PREFIX):  # the assets the task added through the alias, decided at run time
            for added in ((extras or {}).get(uri) or {}).get("added", []):
                try:
                    events.append(outlet_event(added["uri"], dag_id=run["dag_id"], run_id=run["run_id"],
                                               task_id=plan_step.task_id, extra=added.get("extra"),
                                               aliases=[uri[len(ALIAS_PREFIX):]], partition_key=run_key,
                                               partition_date=run_date))
                except EventError:
                    continue
            continue
        # The run-level date belongs to the run-level key: an event for another key carries none.
        own: list[str] = (partitions or {}).get(uri) or []
        keys: list[str | None] = [*own] if own else [run_key]
        for key in keys:
            try:
                events.append(outlet_event(uri, dag_id=run["dag_id"], run_id=run["run_id"], task_id=plan_step.task_id,
                                           extra=(extras or {}).get(uri), partition_key=key,
                                           partition_date=run_date if key == run_key else None))
            except EventError:
                continue  # an outlet the compiler refused; never fail the producer here
    return handle_asset_events(clients, resources, events)

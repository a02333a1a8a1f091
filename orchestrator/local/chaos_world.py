"""The chaos harness's world: moto, the real store/engine/conductor, and AWS's delivery semantics.

See ``orchestrator.local.chaos`` for the whole harness. ``ChaosWorld`` plays what moto does
not do: Lambda async invokes (captured by a botocore hook, retried twice then sent to the
OnFailure destination on error), SQS delivery to the conductor (delays, redelivery), S3 ->
EventBridge -> trigger events, and a simulated clock for the engine and the sweeper.
"""

from __future__ import annotations

import heapq
import itertools
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from orchestrator.local import chaos_dags
from orchestrator.local.faults import (DYNAMODB_THROTTLES, Faults, InjectedCrash, capture_async_invokes,
                                       install_crash_points, install_throttling)

LAMBDA_ASYNC_RETRY_DELAYS_S = (60, 120)  # Lambda's documented spacing of the two async retries
SQS_VISIBILITY_S = 30
SQS_MAX_RECEIVES = 5
SWEEP_STEP_S = 2400  # past every deadline the sweeper looks at (queued 1020 s, running 900+120 s, retry +300 s)
MAX_SWEEPS = 8
TERMINAL_RUN = ("success", "failed")


class SimClock:
    """Wall time at creation plus an offset that only grows."""

    def __init__(self) -> None:
        self.t = time.time()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.t, tz=timezone.utc)

    def advance(self, seconds: float) -> None:
        self.t += max(0.0, float(seconds))


@dataclass(order=True)
class Delivery:
    due: float
    seq: int
    kind: str = field(compare=False)  # worker | retry | onfailure | s3
    body: Any = field(compare=False)
    attempt: int = field(compare=False, default=1)


@dataclass
class Verdict:
    dag_id: str
    run_id: str
    outcome: str  # correct | stuck | lost | wrong
    detail: str = ""


class ChaosWorld:
    """One moto account with the table, buckets, the engine and the delivery loop.

    Create inside ``moto.mock_aws()`` and ``faults.virtual_backoff``; see ``run_seed``.
    """

    def __init__(self, dags_root: Path, faults: Faults, clock: SimClock) -> None:
        from orchestrator.config import Clients, Resources
        from orchestrator.engine.conductor import Conductor
        from orchestrator.engine.dispatch import LambdaDispatcher
        from orchestrator.engine.engine import Engine
        from orchestrator.store import RunStore, create_table

        self.faults, self.clock, self.root = faults, clock, dags_root
        self.clients = Clients(region_name="us-east-1")
        self.resources = Resources(table="stratus-chaos", artefact_bucket="stratus-chaos-artefacts",
                                   worker_function="stratus-worker", conductor_function="stratus-conductor",
                                   retry_queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/retries",
                                   dags_root=str(dags_root))
        create_table(self.clients, self.resources.table)
        s3 = self.clients.client("s3")
        s3.create_bucket(Bucket=self.resources.artefact_bucket)
        s3.create_bucket(Bucket=chaos_dags.LANDING_BUCKET)
        self.queue: list[Delivery] = []
        self.seq = itertools.count()
        self.in_worker = False
        self.errors: Counter[str] = Counter()
        self.finishes: Counter[tuple[str, str]] = Counter()
        world = self

        class Dispatcher(LambdaDispatcher):
            """The real Lambda invoke; retries and expansion hand-ons go to the emulated SQS queue."""

            def schedule_retry(self, msg: Any, delay_s: float) -> None:
                from orchestrator.engine.messages import RetryMessage

                world.push("retry", RetryMessage(task=msg).model_dump_json(), delay_s)

            def continue_expansion(self, msg: Any) -> None:
                # The rest of a big map's expansion: the same conductor queue, no delay.
                world.push("retry", msg.model_dump_json(), 0)

        self.store = RunStore(self.clients, self.resources)
        self.engine = Engine(self.store, Dispatcher(self.clients, self.resources), dags_root=str(dags_root),
                             clock=clock.now)
        self.conductor = Conductor(self.engine)
        real_after_finish = self.engine.after_finish

        def counted_after_finish(plan: Any, run: dict[str, Any], *, reason: str) -> None:
            self.finishes[(plan.dag_id, run["run_id"])] += 1
            real_after_finish(plan, run, reason=reason)

        self.engine.after_finish = counted_after_finish  # type: ignore[method-assign]
        self.crashed: set[tuple[str, ...]] = set()
        install_throttling(self.clients.client("dynamodb"), faults, kind="ddb_throttle", codes=DYNAMODB_THROTTLES)
        capture_async_invokes(self.clients.client("lambda"), faults,
                              lambda name, payload: self.push("worker", payload.decode()))
        install_crash_points(self.store, faults, lambda: self.in_worker, once=self.crashed)
        self.plans: dict[str, Any] = {}

    # ------------------------------------------------------------------ setup

    def register(self, dag_ids: list[str]) -> None:
        """Compile and store every DAG (the ``stratus sync`` step), without faults."""
        from orchestrator.plan.compiler import compile_dag
        from orchestrator.plan.loader import DagBag

        bag = DagBag(str(self.root))
        if bag.import_errors:
            raise RuntimeError(f"chaos DAGs failed to import: {bag.import_errors}")
        with self.faults.paused():
            for dag_id in dag_ids:
                plan = compile_dag(bag.get_dag(dag_id), str(self.root))
                self.store.put_plan(plan)
                self.store.set_paused(dag_id, False)
                self.plans[dag_id] = plan

    # ------------------------------------------------------------------ deliveries

    def push(self, kind: str, body: Any, delay_s: float = 0.0, attempt: int = 1) -> None:
        heapq.heappush(self.queue, Delivery(self.clock.t + delay_s, next(self.seq), kind, body, attempt))

    def _pop(self) -> Delivery:
        """The next delivery: among those due now, the oldest, or a random one under ``reorder``."""
        if self.queue[0].due > self.clock.t:
            self.clock.t = self.queue[0].due
        due = [d for d in self.queue if d.due <= self.clock.t]
        chosen = sorted(due)[self.faults.choice_index(len(due))]
        self.queue.remove(chosen)
        heapq.heapify(self.queue)
        return chosen

    def drain(self, limit: int = 200_000) -> None:
        """Deliver until nothing is queued (timers included: the clock jumps to them)."""
        for _ in range(limit):
            if not self.queue:
                return
            self._deliver(self._pop())
        raise RuntimeError("chaos: delivery loop did not settle (runaway dispatch)")

    def _deliver(self, d: Delivery) -> None:
        if d.kind == "worker":
            self._worker(d)
        elif d.kind == "retry":
            self._sqs(d)
        elif d.kind == "onfailure":
            self._on_failure(d)
        elif d.kind == "s3":
            self._s3(d)

    def _worker(self, d: Delivery) -> None:
        from orchestrator.engine.messages import TaskMessage

        self.in_worker = True
        try:
            self.engine.handle_task(TaskMessage.model_validate_json(d.body))
        except (InjectedCrash, Exception) as exc:  # noqa: BLE001 - the invocation failed: Lambda's async retry
            self.errors[type(exc).__name__] += 1
            self._async_failed(d, exc)
        finally:
            self.in_worker = False

    def _async_failed(self, d: Delivery, exc: BaseException) -> None:
        if d.attempt <= len(LAMBDA_ASYNC_RETRY_DELAYS_S):
            self.push(d.kind, d.body, LAMBDA_ASYNC_RETRY_DELAYS_S[d.attempt - 1], d.attempt + 1)
            return
        if d.kind != "worker":
            return  # the trigger function's failed events go to its DLQ (nothing to recover)
        record = {
            "version": "1.0", "timestamp": self.clock.now().isoformat(),
            "requestContext": {"requestId": f"chaos-{d.seq}", "functionArn": "arn:aws:lambda:us-east-1:"
                               "123456789012:function:stratus-worker:$LATEST", "condition": "RetriesExhausted",
                               "approximateInvokeCount": d.attempt},
            "requestPayload": json.loads(d.body),
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorType": type(exc).__name__, "errorMessage": str(exc)[:500]},
        }
        self.push("onfailure", json.dumps(record))  # OnFailure destination: the conductor's queue

    def _sqs(self, d: Delivery) -> None:
        """One SQS message to the conductor; redelivered after the visibility timeout on error."""
        from orchestrator.engine.messages import parse_conductor_message

        try:
            msg = parse_conductor_message(d.body)
            self.conductor.handle(msg)
            if self.faults.roll("duplicate"):
                self.conductor.handle(msg)  # SQS is at least once too
        except Exception as exc:  # noqa: BLE001
            self.errors[type(exc).__name__] += 1
            if d.attempt < SQS_MAX_RECEIVES:
                self.push(d.kind, d.body, SQS_VISIBILITY_S, d.attempt + 1)

    def _on_failure(self, d: Delivery) -> None:
        self._sqs(d)

    def _s3(self, d: Delivery) -> None:
        from orchestrator.triggers.assets import handle_asset_events
        from orchestrator.triggers.s3events import parse_s3_event

        try:
            handle_asset_events(self.clients, self.resources, parse_s3_event(d.body),
                                starter=self._asset_starter)
        except Exception as exc:  # noqa: BLE001 - EventBridge -> Lambda is async: retried
            self.errors[type(exc).__name__] += 1
            self._async_failed(d, exc)

    def _asset_starter(self, clients: Any, resources: Any, dag_item: dict[str, Any],
                       events: dict[str, list[dict[str, Any]]], now: datetime) -> dict[str, Any]:
        # The triggers' own run id form, on the simulated clock (one S3 event per moment here).
        moment = self.clock.now()
        self.clock.advance(0.001)
        return self.engine.start_run(dag_item["dag_id"], run_id=f"asset_triggered__{moment.isoformat()}",
                                     run_type="asset_triggered", logical_date=moment,
                                     triggering_asset_events=events)

    # ------------------------------------------------------------------ runs

    def start(self, dag_id: str, run_id: str) -> None:
        """Start a run as the API would; a caller that sees an error retries (start is idempotent)."""
        for _ in range(3):
            try:
                self.engine.start_run(dag_id, run_id=run_id, logical_date=self.clock.now())
                return
            except Exception as exc:  # noqa: BLE001
                self.errors[f"start:{type(exc).__name__}"] += 1

    def settle(self, keys: list[tuple[str, str]]) -> None:
        """Deliver everything, then sweep on a fast-forwarded clock until the runs finish."""
        self.drain()
        for _ in range(MAX_SWEEPS):
            if all(self._state(k) in TERMINAL_RUN for k in keys):
                return
            self.clock.advance(SWEEP_STEP_S)
            try:
                self.conductor.sweep()
            except Exception as exc:  # noqa: BLE001 - the sweeper's invocation failed; the next one runs
                self.errors[f"sweep:{type(exc).__name__}"] += 1
            self.drain()

    def _state(self, key: tuple[str, str]) -> str | None:
        from orchestrator.errors import NotFoundError

        with self.faults.paused():
            try:
                return self.store.get_run(*key).get("state")
            except NotFoundError:
                return None

    def snapshot(self, dag_id: str, run_id: str) -> tuple[str | None, dict[str, str], dict[str, Any]]:
        """(run state, {task key: state}, run item) read without faults; run state None if missing."""
        from orchestrator.errors import NotFoundError

        with self.faults.paused():
            try:
                run = self.store.get_run(dag_id, run_id)
            except NotFoundError:
                return None, {}, {}
            tis = self.store.list_tis(dag_id, run_id)
        states = {(t["task_id"] if int(t["map_index"]) < 0 else f"{t['task_id']}[{t['map_index']}]"): t["state"]
                  for t in tis}
        return run.get("state"), states, run

    def judge(self, dag_id: str, run_id: str, expected: tuple[str | None, dict[str, str]]) -> Verdict:
        state, tis, run = self.snapshot(dag_id, run_id)
        want_state, want_tis = expected
        if state is None:
            return Verdict(dag_id, run_id, "lost", "run item missing")
        if state not in TERMINAL_RUN:
            with self.faults.paused():
                items = self.store.list_tis(dag_id, run_id)
            pending = [{k: t.get(k) for k in ("task_id", "map_index", "state", "try_number", "deadline")}
                       for t in items if t.get("state") not in ("success", "failed", "skipped", "upstream_failed")]
            return Verdict(dag_id, run_id, "stuck", f"run {state} at clock {int(self.clock.t)}; unfinished {pending}; "
                           f"missing {sorted(set(want_tis) - set(tis))}")
        missing = sorted(set(want_tis) - set(tis))
        if missing:
            return Verdict(dag_id, run_id, "lost", f"task instances missing: {missing}")
        diff = {k: (tis.get(k), v) for k, v in want_tis.items() if tis.get(k) != v}
        extra = sorted(set(tis) - set(want_tis))
        finishes = self.finishes[(dag_id, run_id)]
        counters_ok = int(run.get("tasks_done", -1)) == int(run.get("tasks_total", -2))
        if state != want_state or diff or extra or finishes != 1 or not counters_ok:
            return Verdict(dag_id, run_id, "wrong", f"run {state} (want {want_state}); diff {diff}; extra {extra}; "
                           f"finished {finishes}x; tasks_done {run.get('tasks_done')}/{run.get('tasks_total')}")
        return Verdict(dag_id, run_id, "correct")

    def purge(self, dag_id: str, run_id: str) -> None:
        """Delete a judged run's items: moto copies whole tables per transaction, so keep it small."""
        from orchestrator.store import dynamo as d

        ddb = self.clients.client("dynamodb")
        with self.faults.paused():
            for pk in (d.run_pk(dag_id, run_id), d.runid_pk(run_id)):
                pages = ddb.get_paginator("query").paginate(
                    TableName=self.resources.table, KeyConditionExpression="pk = :pk",
                    ExpressionAttributeValues={":pk": {"S": pk}}, ProjectionExpression="pk, sk")
                for page in pages:
                    for item in page["Items"]:
                        ddb.delete_item(TableName=self.resources.table, Key={"pk": item["pk"], "sk": item["sk"]})

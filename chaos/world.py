"""The chaos harness's world: moto, the real store/engine/conductor, and AWS's delivery semantics.

See ``chaos.harness`` for the whole harness. ``ChaosWorld`` plays what moto does not do, as
``template.yaml`` configures it:

- **Lambda async invokes** of the worker (captured by a botocore hook), each delivery its own
  invocation with its own request id. The worker's ``EventInvokeConfig`` has
  ``MaximumRetryAttempts: 0``: a failed or timed-out invocation is not retried by Lambda, its
  record goes to the OnFailure destination (the failure queue) and on to the conductor.
- **SQS** to the conductor (retry timers, expansion hand-ons, OnFailure records) after
  ``DelaySeconds``; a failed message is received again after the visibility timeout. At
  least once.
- **S3 -> EventBridge -> trigger**: ``Object Created`` events for the asset DAG, retried by
  EventBridge when the trigger function fails.
- **People**: ``stratus clear`` and ``mark`` on a run while it goes on.
- **The clock**: simulated (wall time + an offset that only grows); the engine, the
  conductor's sweeper and botocore's retry back-off run on it.

Deliveries due at the same moment run **at once** on ``THREADS`` threads, and the sweeper
runs on its own thread alongside them. moto is not thread-safe, so each moto request is
answered under one lock (as ``local.functions.MOTO_LOCK`` does for the local cloud); the
race windows between calls stay real. The clock moves on only when no delivery is running.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from chaos import dags as chaos_dags
from chaos import probe
from chaos.faults import (DYNAMODB_THROTTLES, Faults, InjectedCrash, capture_async_invokes, install_crash_points,
                          install_run_storms, install_throttling, install_write_crashes)

SQS_VISIBILITY_S = 30
SQS_MAX_RECEIVES = 5
EVENTBRIDGE_RETRY_DELAYS_S = (60, 120, 240, 480)  # the trigger rule's RetryPolicy (MaximumRetryAttempts: 4)
SWEEP_STEP_S = 2400  # past every deadline the sweeper looks at (queued 1020 s, running 900+120 s, retry +300 s)
MAX_SWEEPS = 8
TERMINAL_RUN = ("success", "failed")
TERMINAL_TI = ("success", "failed", "skipped", "upstream_failed", "removed")
THREADS = 4
SWEEP_EVERY_S = 0.02  # the concurrent sweeper's pause between sweeps (real time)
WORKER_TIMEOUT_S = 900


class SimClock:
    """Wall time at creation plus an offset that only grows (thread-safe)."""

    def __init__(self) -> None:
        self.t = time.time()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.t, tz=timezone.utc)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.t += max(0.0, float(seconds))

    def jump_to(self, t: float) -> None:
        with self._lock:
            self.t = max(self.t, t)


@dataclass(order=True)
class Delivery:
    due: float
    seq: int
    kind: str = field(compare=False)  # worker | retry | onfailure | s3 | user
    body: Any = field(compare=False)
    attempt: int = field(compare=False, default=1)


@dataclass
class Verdict:
    dag_id: str
    run_id: str
    outcome: str  # correct | stuck | lost | wrong
    detail: str = ""


class _Role(threading.local):
    kind: str | None = None  # worker | conductor | sweeper | trigger | user (None: the harness itself)
    key: tuple[str, ...] = ()  # the task instance (or message) a fault would cost
    doomed: bool = False  # this worker invocation reaches its timeout mid-body


@contextlib.contextmanager
def moto_serialised() -> Iterator[None]:
    """Answer each in-process moto request under one lock (moto's backends are not thread-safe)."""
    from moto.core.botocore_stubber import BotocoreStubber

    lock = threading.RLock()
    original = BotocoreStubber.__call__

    def call(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
        with lock:
            return original(self, event_name, request, **kwargs)

    BotocoreStubber.__call__ = call  # type: ignore[method-assign]
    _SERIALISED.append(True)
    try:
        yield
    finally:
        _SERIALISED.pop()
        BotocoreStubber.__call__ = original  # type: ignore[method-assign]


_SERIALISED: list[bool] = []


class ChaosWorld:
    """One moto account with the table, buckets, the engine and the delivery loop.

    Create inside ``moto.mock_aws()``, ``faults.virtual_backoff`` and ``moto_serialised()``;
    see ``chaos.harness.run_seed``. ``threads`` deliveries run at once (1: one by one).
    """

    def __init__(self, dags_root: Path, faults: Faults, clock: SimClock, *, threads: int = THREADS,
                 sweeper: bool = True) -> None:
        from orchestrator.compose import build_engine
        from orchestrator.engine.conductor import Conductor
        from orchestrator.config import Clients, Resources
        from orchestrator.engine.dispatch import LambdaDispatcher
        from orchestrator.store import RunStore, create_table

        self.faults, self.clock, self.root = faults, clock, dags_root
        self.threads, self.concurrent_sweeper = max(1, threads), sweeper
        if self.threads > 1 and not _SERIALISED:
            raise RuntimeError("ChaosWorld with threads > 1 needs moto_serialised() around it (moto is not "
                               "thread-safe); or pass threads=1.")
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
        self.cv = threading.Condition(threading.RLock())
        self.busy = 0
        self.role = _Role()
        self.errors: Counter[str] = Counter()
        self.finishes: Counter[tuple[str, str]] = Counter()
        self.reopens: Counter[tuple[str, str]] = Counter()
        self.marked: set[tuple[str, ...]] = set()
        self.faulted: set[tuple[str, ...]] = set()  # task instances that already lost a try to a fault
        self.deliveries: Counter[str] = Counter()
        self.expected_success: dict[str, set[str]] = {}  # per DAG: tasks that succeed without faults
        self._sweeps = itertools.count()
        self._error_lock = threading.Lock()
        world = self

        class Dispatcher(LambdaDispatcher):
            """The real Lambda invoke; retries and expansion hand-ons go to the emulated SQS queue."""

            def schedule_retry(self, msg: Any, delay_s: float) -> None:
                from orchestrator.engine.messages import RetryMessage

                world.push("retry", RetryMessage(task=msg).model_dump_json(), delay_s)

            def continue_expansion(self, msg: Any) -> None:
                world.push("retry", msg.model_dump_json(), 0)

        self.store = RunStore(self.clients, self.resources)
        # A cancelled transaction's back-off: a real pause (threads interleave), the clock moves.
        self.store.sleep = lambda s: (self.clock.advance(s), time.sleep(min(s, 0.001)))  # type: ignore[assignment]
        self.engine = build_engine(self.clients, self.resources, store=self.store,
                                   dispatcher=Dispatcher(self.clients, self.resources),
                                   dags_root=str(dags_root), clock=clock.now)
        self.conductor = Conductor(self.engine)
        real_finish = self.store.finish_run

        def counted_finish(dag_id: str, run_id: str, *args: Any, **kwargs: Any) -> None:
            real_finish(dag_id, run_id, *args, **kwargs)  # ConflictError: not this caller's finish
            with self._error_lock:
                self.finishes[(dag_id, run_id)] += 1

        self.store.finish_run = counted_finish  # type: ignore[method-assign]
        real_reopen = self.store.reopen_run

        def counted_reopen(dag_id: str, run_id: str, **kwargs: Any) -> None:
            real_reopen(dag_id, run_id, **kwargs)
            with self._error_lock:
                self.reopens[(dag_id, run_id)] += 1

        self.store.reopen_run = counted_reopen  # type: ignore[method-assign]
        self.crashed: set[tuple[str, ...]] = set()
        install_throttling(self.clients.client("dynamodb"), faults, kind="ddb_throttle", codes=DYNAMODB_THROTTLES)
        self.storms = install_run_storms(self.clients.client("dynamodb"), faults, lambda: self.clock.t)
        capture_async_invokes(self.clients.client("lambda"), faults,
                              lambda name, payload: self.push("worker", payload.decode()))
        install_write_crashes(self.store, faults, self._may_crash)
        # The crash before a terminal write costs the try: it shares the one-per-instance budget.
        install_crash_points(self.store, faults, lambda: self.role.kind == "worker", once=self.faulted)
        probe.checkpoint = self._checkpoint
        self.plans: dict[str, Any] = {}

    # ------------------------------------------------------------------ fault budget

    def _spend(self, key: tuple[str, ...]) -> bool:
        """One try-costing fault per task instance: the chaos DAGs give each task one spare try."""
        with self._error_lock:
            if key in self.faulted:
                return False
            self.faulted.add(key)
            return True

    def _may_crash(self, name: str) -> bool:
        kind = self.role.kind
        if kind == "worker":
            return self._spend(self.role.key)
        if kind == "conductor":
            return self._spend(("conductor",) + self.role.key)
        if kind == "sweeper":
            return self._spend(self.role.key)
        return False  # the harness's own calls, people and the trigger (its crash windows: tests/chaos)

    def _checkpoint(self) -> None:
        """Inside a task body: a doomed invocation is killed here, as Lambda stops it at its timeout."""
        if self.role.kind == "worker" and self.role.doomed:
            self.role.doomed = False
            raise InjectedCrash(f"Task timed out after {WORKER_TIMEOUT_S}.00 seconds")

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
        with self.cv:
            heapq.heappush(self.queue, Delivery(self.clock.t + delay_s, next(self.seq), kind, body, attempt))
            self.cv.notify_all()

    def _take(self) -> Delivery | None:
        """The next due delivery (random among those due under ``reorder``), or None when all is
        delivered. The clock jumps to the next timer only while no delivery runs."""
        with self.cv:
            while True:
                due = [d for d in self.queue if d.due <= self.clock.t]
                if due:
                    due.sort()
                    chosen = due[self.faults.choice_index(len(due))]
                    self.queue.remove(chosen)
                    heapq.heapify(self.queue)
                    self.busy += 1
                    return chosen
                if self.busy == 0:
                    if not self.queue:
                        self.cv.notify_all()
                        return None
                    self.clock.jump_to(self.queue[0].due)
                    continue
                self.cv.wait(0.05)

    def _loop(self, steps: list[int], limit: int) -> None:
        while True:
            d = self._take()
            if d is None:
                return
            try:
                self._deliver(d)
            except BaseException as exc:  # noqa: BLE001 - a harness bug: count it, keep the others going
                self._error(f"harness:{type(exc).__name__}")
            finally:
                with self.cv:
                    self.busy -= 1
                    steps[0] += 1
                    self.cv.notify_all()
                    if steps[0] > limit:
                        self.queue.clear()
                        raise RuntimeError("chaos: delivery loop did not settle (runaway dispatch)")

    def drain(self, limit: int = 200_000) -> None:
        """Deliver until nothing is queued (timers included: the clock jumps to them), ``threads``
        at once, with the sweeper running alongside."""
        steps = [0]
        done = threading.Event()
        failures: list[BaseException] = []

        def loop() -> None:
            try:
                self._loop(steps, limit)
            except BaseException as exc:  # noqa: BLE001
                failures.append(exc)

        workers = [threading.Thread(target=loop, name=f"chaos-delivery-{i}", daemon=True)
                   for i in range(self.threads)]
        sweeper = threading.Thread(target=self._sweep_alongside, args=(done,), name="chaos-sweeper", daemon=True)
        for t in workers:
            t.start()
        if self.concurrent_sweeper and self.threads > 1:
            sweeper.start()
        for t in workers:
            t.join()
        done.set()
        if sweeper.is_alive():
            sweeper.join()
        if failures:
            raise failures[0]

    def _sweep_alongside(self, done: threading.Event) -> None:
        while not done.wait(SWEEP_EVERY_S):
            self.sweep()

    def sweep(self) -> None:
        """One run of the conductor's sweeper (its own invocation: a crash ends just this sweep)."""
        self.role.kind, self.role.key = "sweeper", ("sweep", str(next(self._sweeps)))
        try:
            self.conductor.sweep()
        except (InjectedCrash, Exception) as exc:  # noqa: BLE001 - the next sweep runs
            self._error(f"sweep:{type(exc).__name__}")
        finally:
            self.role.kind = None

    def _error(self, name: str) -> None:
        with self._error_lock:
            self.errors[name] += 1

    def _deliver(self, d: Delivery) -> None:
        self.deliveries[d.kind] += 1
        if d.kind == "worker":
            self._worker(d)
        elif d.kind in ("retry", "onfailure"):
            self._sqs(d)
        elif d.kind == "s3":
            self._s3(d)
        elif d.kind == "user":
            self._user(d)

    def _worker(self, d: Delivery) -> None:
        from orchestrator.engine.messages import TaskMessage

        msg = TaskMessage.model_validate_json(d.body)
        request_id = f"req-{d.seq}"  # each delivery (duplicates included) is its own invocation
        self.role.kind, self.role.key = "worker", (msg.dag_id, msg.run_id, msg.task_id, str(msg.map_index))
        self.role.doomed = self.faults.roll("hard_timeout") and self._spend(self.role.key)
        try:
            self.engine.handle_task(msg, invocation_id=request_id)
        except (InjectedCrash, Exception) as exc:  # noqa: BLE001 - the invocation failed
            self._error(type(exc).__name__)
            self._on_failure_record(d, request_id, exc)
        finally:
            self.role.kind, self.role.doomed = None, False

    def _on_failure_record(self, d: Delivery, request_id: str, exc: BaseException) -> None:
        """MaximumRetryAttempts 0: no Lambda retry; the record goes to the OnFailure destination."""
        timed_out = "timed out" in str(exc)
        record = {
            "version": "1.0", "timestamp": self.clock.now().isoformat(),
            "requestContext": {"requestId": request_id, "functionArn": "arn:aws:lambda:us-east-1:"
                               "123456789012:function:stratus-worker:$LATEST", "condition": "RetriesExhausted",
                               "approximateInvokeCount": 1},
            "requestPayload": json.loads(d.body),
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": ({"errorMessage": str(exc)} if timed_out else
                                {"errorType": type(exc).__name__, "errorMessage": str(exc)[:500]}),
        }
        self.push("onfailure", json.dumps(record))  # the failure queue, then the conductor

    def _sqs(self, d: Delivery) -> None:
        """One SQS message to the conductor; received again after the visibility timeout on error."""
        from orchestrator.engine.messages import parse_conductor_message

        self.role.kind, self.role.key = "conductor", (str(d.seq),)
        try:
            msg = parse_conductor_message(d.body)
            self.conductor.handle(msg)
            if self.faults.roll("duplicate"):
                self.conductor.handle(msg)  # SQS is at least once too
        except (InjectedCrash, Exception) as exc:  # noqa: BLE001
            self._error(type(exc).__name__)
            if d.attempt < SQS_MAX_RECEIVES:
                self.push(d.kind, d.body, SQS_VISIBILITY_S, d.attempt + 1)
        finally:
            self.role.kind = None

    def _s3(self, d: Delivery) -> None:
        from orchestrator.triggers.assets import handle_asset_events
        from orchestrator.triggers.s3events import parse_s3_event

        self.role.kind = "trigger"
        try:
            handle_asset_events(self.clients, self.resources, parse_s3_event(d.body),
                                starter=self._asset_starter)
        except Exception as exc:  # noqa: BLE001 - EventBridge -> Lambda is async: retried by its policy
            self._error(type(exc).__name__)
            if d.attempt <= len(EVENTBRIDGE_RETRY_DELAYS_S):
                self.push(d.kind, d.body, EVENTBRIDGE_RETRY_DELAYS_S[d.attempt - 1], d.attempt + 1)
        finally:
            self.role.kind = None

    def _asset_starter(self, clients: Any, resources: Any, dag_item: dict[str, Any],
                       events: dict[str, list[dict[str, Any]]], now: datetime) -> dict[str, Any]:
        # The triggers' own run id form, on the simulated clock (each start its own moment).
        with self.cv:
            self.clock.advance(0.001)
            moment = self.clock.now()
        return self.engine.start_run(dag_item["dag_id"], run_id=f"asset_triggered__{moment.isoformat()}",
                                     run_type="asset_triggered", logical_date=moment,
                                     triggering_asset_events=events)

    # ------------------------------------------------------------------ people racing a run

    def plan_user(self, dag_id: str, run_id: str) -> None:
        """Maybe have someone clear or mark a task of this run a little later, while it goes on."""
        for action in ("clear", "mark"):
            if self.faults.roll(action):
                self.push("user", json.dumps({"action": action, "dag_id": dag_id, "run_id": run_id}),
                          self.faults.randint(0, 3) * 0.001)

    def _user(self, d: Delivery) -> None:
        body = json.loads(d.body)
        dag_id, run_id = body["dag_id"], body["run_id"]
        self.role.kind = "user"
        try:
            plan = self.plans[dag_id]
            tis = self.store.list_tis(dag_id, run_id)
            if body["action"] == "clear":
                # `stratus clear --task X` on a task that already succeeded: it runs again.
                done = [t for t in tis if t.get("state") == "success" and int(t["map_index"]) < 0]
                if done:
                    target = done[self.faults.randint(0, len(done) - 1)]["task_id"]
                    self.engine.clear(dag_id, run_id, [target])
            else:
                # `stratus mark --state success` on a leaf that succeeds anyway, before or while it runs.
                leaves = [s.task_id for s in plan.steps if not s.downstream and s.mapping is None
                          and s.task_id in self.expected_success.get(dag_id, set())]
                if leaves:
                    target = leaves[self.faults.randint(0, len(leaves) - 1)]
                    with self._error_lock:
                        self.marked.add((dag_id, run_id, target, "-1"))
                    self.engine.mark(dag_id, run_id, target, "success")
        except Exception as exc:  # noqa: BLE001 - the CLI printed an error; the person moves on
            self._error(f"user:{type(exc).__name__}")
        finally:
            self.role.kind = None

    # ------------------------------------------------------------------ runs

    def start(self, dag_id: str, run_id: str) -> None:
        """Start a run as the API would; a caller that sees an error retries (start is idempotent)."""
        for _ in range(3):
            try:
                self.engine.start_run(dag_id, run_id=run_id, logical_date=self.clock.now())
                return
            except Exception as exc:  # noqa: BLE001
                self._error(f"start:{type(exc).__name__}")

    def settle(self, keys: list[tuple[str, str]]) -> None:
        """Deliver everything, then sweep on a fast-forwarded clock until the runs finish."""
        self.drain()
        for _ in range(MAX_SWEEPS):
            if all(self._state(k) in TERMINAL_RUN for k in keys):
                return
            self.clock.advance(SWEEP_STEP_S)
            self.sweep()
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
        states = {_label(t): t["state"] for t in tis}
        return run.get("state"), states, run

    def outputs(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        """Per task instance: its state, XComs (decoded) and successful tries, without faults."""
        with self.faults.paused():
            out = {}
            for t in self.store.list_tis(dag_id, run_id):
                xcoms = {"return_value": self.store.ti_value(t)}
                for k in sorted(t.get("xcom_keys") or {}):
                    xcoms[k] = self.store.ti_value(t, k)
                history = t.get("history") or []
                ok = sum(1 for h in history if h.get("state") == "success") + (t.get("state") == "success")
                cleared_ok = sum(1 for h in history if h.get("state") == "success" and h.get("cleared_at"))
                out[_label(t)] = {"state": t["state"], "xcoms": xcoms, "successes": ok - cleared_ok,
                                  "marked": str(t.get("note") or "").startswith("marked")}
        return out

    def leftovers(self, dag_id: str, run_id: str, run: dict[str, Any]) -> list[str]:
        """Slot counters, markers and waiting items a finished run must not leave behind."""
        from orchestrator.store import dynamo as d

        found = []
        with self.faults.paused():
            if int(run.get("active_tasks", 0) or 0) or int(run.get("sched_waiting", 0) or 0):
                found.append(f"active_tasks={run.get('active_tasks')} sched_waiting={run.get('sched_waiting')}")
            found += [m["sk"] for m in self.store._query(d.run_pk(dag_id, run_id), prefix="SCHED#")]
            for m in self.store._query(d.dag_pk(dag_id), prefix="QRUN#"):
                if m.get("run_id") == run_id:
                    found.append(m["sk"])
            for m in self.store._query(d.dag_pk(dag_id), prefix="ACTIVE#"):
                if m.get("run_id") == run_id:
                    found.append(m["sk"])
        return found

    def judge(self, dag_id: str, run_id: str, expected: Any) -> Verdict:
        """Against the fault-free run: run and task states, XComs, successful tries, leftovers,
        finished once. ``expected`` is ``(run state, {task: state})`` or a ``Reference``."""
        state, tis, run = self.snapshot(dag_id, run_id)
        want_state, want_tis = expected[0], expected[1]
        want_out = expected[2] if len(expected) > 2 else None
        if state is None:
            return Verdict(dag_id, run_id, "lost", "run item missing")
        if state not in TERMINAL_RUN:
            with self.faults.paused():
                items = self.store.list_tis(dag_id, run_id)
            pending = [{k: t.get(k) for k in ("task_id", "map_index", "state", "try_number", "deadline")}
                       for t in items if t.get("state") not in TERMINAL_TI]
            return Verdict(dag_id, run_id, "stuck", f"run {state} at clock {int(self.clock.t)}; unfinished {pending}; "
                           f"missing {sorted(set(want_tis) - set(tis))}; tasks_done "
                           f"{run.get('tasks_done')}/{run.get('tasks_total')}")
        missing = sorted(set(want_tis) - set(tis))
        if missing:
            return Verdict(dag_id, run_id, "lost", f"task instances missing: {missing}")
        problems = []
        diff = {k: (tis.get(k), v) for k, v in want_tis.items() if tis.get(k) != v}
        extra = sorted(set(tis) - set(want_tis))
        finishes = self.finishes[(dag_id, run_id)]
        if state != want_state or diff or extra:
            problems.append(f"run {state} (want {want_state}); diff {diff}; extra {extra}")
            with self.faults.paused():
                for t in self.store.list_tis(dag_id, run_id):
                    if _label(t) in diff:
                        tries = [(h.get("try_number"), h.get("state"), str(h.get("error") or "")[-120:])
                                 for h in t.get("history") or []]
                        problems.append(f"{_label(t)} try {t.get('try_number')}/{t.get('max_tries')}: "
                                        f"{str(t.get('error') or '')[-160:]!r}; earlier tries {tries}")
        if finishes != 1 + self.reopens[(dag_id, run_id)]:
            problems.append(f"finished {finishes}x after {self.reopens[(dag_id, run_id)]} re-opening(s)")
        if int(run.get("tasks_done", -1)) != int(run.get("tasks_total", -2)):
            problems.append(f"tasks_done {run.get('tasks_done')}/{run.get('tasks_total')}")
        if want_out is not None:
            got = self.outputs(dag_id, run_id)
            for k, want in want_out.items():
                have = got.get(k)
                if have is None:
                    continue
                if have["marked"]:
                    if have["xcoms"]["return_value"] not in (None, want["xcoms"]["return_value"]):
                        problems.append(f"{k}: marked, XCom {have['xcoms']} (want none or {want['xcoms']})")
                    continue
                if have["xcoms"] != want["xcoms"]:
                    problems.append(f"{k}: XComs {have['xcoms']} (want {want['xcoms']})")
                if have["successes"] != want["successes"]:
                    problems.append(f"{k}: {have['successes']} successful tries (want {want['successes']})")
        left = self.leftovers(dag_id, run_id, run)
        if left:
            problems.append(f"left behind: {left}")
        if problems:
            return Verdict(dag_id, run_id, "wrong", "; ".join(problems))
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


def _label(ti: dict[str, Any]) -> str:
    return ti["task_id"] if int(ti["map_index"]) < 0 else f"{ti['task_id']}[{ti['map_index']}]"

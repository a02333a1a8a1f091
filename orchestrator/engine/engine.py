"""The state machine: runs and task instances moved through the run store.

The pipeline for one task (docs/internals.md, "Writes per task on the happy path"):
``make ready`` (put the instance queued, async-invoke the worker) -> the worker's
``handle_task`` (claim, run, store the output) -> ``complete`` (terminal write + run
counters in one transaction) -> ``propagate`` (decide each downstream task from its trigger
rule, with the counters, in O(out-degree)) -> ``finish`` the run when every task is done.
The conductor reuses the same functions for failed invocations, retries and the sweeper.
A ConflictError from a conditional write means another writer already did the step: a no-op.
"""

from __future__ import annotations

import time
import traceback
from collections import deque
from datetime import datetime, timezone
from typing import Any, Callable

from orchestrator import constants as c
from orchestrator.engine import counters as ck
from orchestrator.engine import callbacks, groupmap, lanes, past
from orchestrator.engine.constants import (  # noqa: F401  (re-exported: engine.engine.X still works)
    CARRY_LIMIT,
    EARLY_RULES,
    EARLY_START_RULES,
    FAILED,
    QUEUE_GRACE_S,
    RUN_GRACE_S,
    STATES,
)
from orchestrator.engine.dispatch import Dispatcher, worker_target
from orchestrator.engine.messages import RunSnapshot, TaskMessage
from orchestrator.engine.rules import Counts, Decision, branch_skips, descendants, evaluate, run_state
from orchestrator.engine.rules import decides_run, setup_guard, short_circuit_skips
from orchestrator.errors import ConflictError, NotFoundError, StratusError
from orchestrator import telemetry
from orchestrator.telemetry import logger
from orchestrator.plan.model import Step, StepPlan
from orchestrator.store import RunStore, Update


_CONCURRENCY: dict[str, int] = {}  # plan hash -> bound (plans are immutable)


def _max_concurrency(plan: StepPlan) -> int:
    if any(s.trigger_rule in EARLY_START_RULES for s in plan.steps):
        return len(plan.steps)
    # Cover the DAG with chains: one per root, plus one per extra out-edge of a fan-out. Tasks
    # that wait for all their upstreams never run together with an ancestor, so tasks running
    # at once are pairwise unrelated and at most one of them lies on each chain.
    roots = sum(1 for s in plan.steps if not s.upstream)
    return roots + sum(len(s.downstream) - 1 for s in plan.steps if len(s.downstream) > 1)


def max_concurrency(plan: StepPlan) -> int:
    """An upper bound on how many task instances of an unmapped plan can run at once."""
    found = _CONCURRENCY.get(plan.hash) if plan.hash else None
    if found is None:
        found = _max_concurrency(plan)
        if plan.hash:
            _CONCURRENCY[plan.hash] = found
    return found


# Called as hook(plan, step, run, extras, partitions, ti=ti) after a task with outlets succeeded;
# extras: {asset uri: the extra the task set in context["outlet_events"]}; partitions: {asset uri:
# the keys it passed to outlet_events[asset].add_partitions()}; ti: the task instance item that
# succeeded (an isolated worker's request names its try). orchestrator.compose attaches it.
OutletHook = Callable[..., None]


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat()


class Engine:
    """Applies the scheduling rules through a ``RunStore`` and starts work with a ``Dispatcher``.

    Example::

        engine = build_engine(clients, resources)   # orchestrator.compose, the one place that builds it
        run = engine.start_run("daily_sales", conf={"day": "2026-01-01"})
    """

    def __init__(self, store: RunStore, dispatcher: Dispatcher, *, dags_root: str | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.dags_root = dags_root or store.resources.dags_root
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        # Asset events for tasks with outlets (triggers): set by orchestrator.compose.build_engine.
        self.on_outlets: OutletHook | None = None
        # With per-DAG isolation the worker starts, clears and reads other DAGs' runs through the
        # trigger function (orchestrator.triggers.requests); None: this engine does it itself.
        self.run_control: Any = None

    # ------------------------------------------------------------------ helpers

    def now(self) -> datetime:
        return self.clock()

    def epoch(self) -> int:
        return int(self.now().timestamp())

    def dag_of(self, plan: StepPlan) -> Any:
        return callbacks.load_dag(self.dags_root, plan.fileloc, plan.dag_id)

    def task_of(self, plan: StepPlan, task_id: str) -> Any:
        try:
            return self.dag_of(plan).task_dict.get(task_id)
        except StratusError:
            return None

    @staticmethod
    def throttle(plan: StepPlan) -> int | None:
        """``max_active_tasks`` when the run could exceed it, else None (no slot bookkeeping)."""
        if any(s.mapping is not None for s in plan.steps) or max_concurrency(plan) > plan.max_active_tasks:
            return max(1, plan.max_active_tasks)
        return None

    def message(self, plan: StepPlan, run_id: str, task_id: str, map_index: int, try_number: int, *,
                run: dict[str, Any] | None = None) -> TaskMessage:
        """A worker message; with ``run`` (the run item) it carries the run snapshot the worker needs."""
        snap = RunSnapshot.of(run, task_id) if run is not None else None
        return TaskMessage(dag_id=plan.dag_id, run_id=run_id, task_id=task_id, map_index=map_index,
                           try_number=try_number, plan_hash=plan.hash, run=snap)

    def invoke(self, plan: StepPlan, msg: TaskMessage) -> None:
        target = plan.step(msg.task_id).target.function
        if target == c.WORKER:  # the dispatcher picks the DAG's own worker when the deploy isolates DAGs
            target = worker_target(plan)
        self.dispatcher.invoke_worker(msg, target)

    # ------------------------------------------------------------------ runs

    def start_run(self, dag_id: str, *, plan: StepPlan | None = None, run_id: str | None = None,
                  logical_date: datetime | None = None, data_interval: tuple[datetime, datetime] | None = None,
                  conf: Any = None, run_type: str = "manual",
                  triggering_asset_events: Any = None) -> dict[str, Any]:
        """The one door for runs (``orchestrator.engine.start.start_run``); returns the run item.

        Idempotent on ``run_id`` (default ``{run_type}__{logical_date ISO}``, Airflow's format):
        a second call returns the existing run. ``conf`` is checked (a JSON object, its size)
        and matched against the DAG's params (ParamValidationError names the DAG and param).
        """
        from orchestrator.engine.start import start_run

        return start_run(self, dag_id, plan=plan, run_id=run_id, logical_date=logical_date,
                         data_interval=data_interval, conf=conf, run_type=run_type,
                         triggering_asset_events=triggering_asset_events).run

    def create_and_start(self, dag_id: str, *, plan: StepPlan | None, run_id: str, run_type: str,
                         logical_date: datetime, data_interval: tuple[datetime, datetime] | None,
                         conf: dict[str, Any], triggering_asset_events: Any = None,
                         partition_key: str | None = None, partition_date: datetime | None = None,
                         backfill_ordinal: int | None = None) -> Any:
        """Write the run item (conditional put) and start it; ``StartedRun(run, created)``.

        Called only by the door (``engine.start``), which has checked the run id and conf.
        """
        from orchestrator.engine.start import StartedRun
        from orchestrator.plan.params import resolve_params

        plan = self.store.ensure_plan(plan) if plan is not None else self.store.get_current_plan(dag_id)
        if plan.dag_id != dag_id:
            raise StratusError(f"start_run('{dag_id}') was given the plan of DAG '{plan.dag_id}'.")
        now = self.now()
        logical = logical_date
        params = resolve_params(dict(plan.params), conf, dag_id=dag_id)
        start, end = data_interval or (logical, logical)
        item = {
            "dag_id": dag_id, "run_id": run_id, "state": "queued", "run_type": run_type,
            "plan_hash": plan.hash, "logical_date": iso(logical), "data_interval_start": iso(start),
            "data_interval_end": iso(end), "conf": conf, "params": params, "queued_at": iso(now),
            "tasks_total": len(plan.steps), "tasks_done": 0, "leaf_failed": 0,
            "triggering_asset_events": triggering_asset_events,
        }
        if partition_key is not None:  # a partitioned run (Airflow 3.2+): its tasks' events carry the key
            item.update(partition_key=partition_key,
                        partition_date=iso(partition_date) if partition_date is not None else None)
        if backfill_ordinal is not None:
            item["backfill_ordinal"] = backfill_ordinal  # the first run of a backfill does not wait (engine.past)
        run, created = self.store.create_run(item, by_date=past.uses_past(plan))
        if not created:
            if run.get("state") == "queued":
                # A retried start (the first caller died before the run took a slot): start the
                # oldest waiting runs while slots are free, which keeps logical-date order.
                self.start_waiting(dag_id, slots=plan.max_active_runs)
                return StartedRun(self.store.get_run(dag_id, run_id), False)
            return StartedRun(run, False)
        self.try_start(plan, run)
        return StartedRun(self.store.get_run(dag_id, run_id), True)

    def try_start(self, plan: StepPlan, run: dict[str, Any]) -> str:
        """Take a run slot and start the root tasks, or leave the run queued and waiting.

        Returns "started", "no_slot" (the run keeps its waiting marker and place) or "taken"
        (the run is no longer queued: another starter got there first).
        """
        dag_id, run_id = plan.dag_id, run["run_id"]
        now = self.now()
        try:
            # create_run wrote the run's waiting marker: without a free slot it simply stays queued.
            started = self.store.start_run_if_slot(dag_id, run_id, plan.max_active_runs, iso(now),
                                                   logical_date=run.get("logical_date"))
        except ConflictError:
            return "taken"
        if not started:
            return "no_slot"
        # The slot is ours: stamp start_date now, after the commit, so it is never earlier than
        # the end_date of the run whose slot was released for it (the stamp taken before the
        # transaction could be, and a grid would show max_active_runs + 1 runs overlapping).
        # ALL_NEW returns the run, so this costs no extra call.
        now = self.now()
        stamp: dict[str, Any] = {"start_date": iso(now)}
        if plan.dagrun_timeout_s:
            stamp["deadline_at"] = int(now.timestamp() + plan.dagrun_timeout_s)
        run = self.store.update_run(dag_id, run_id, Update(set_=stamp), returns="ALL_NEW") or {}
        telemetry.run_started(dag_id, run_id)
        work: list[tuple[str, dict[str, int], frozenset[str]]] = []
        for step in plan.steps:
            if not step.upstream:
                work += self.make_ready(plan, run, step)[0]
        self.propagate(plan, run, work, check=not plan.steps)
        return "started"

    def start_waiting(self, dag_id: str, *, slots: int = 1) -> int:
        """Start the oldest queued runs of ``dag_id``, up to ``slots`` of them, while slots are free.

        Stale markers (run gone, or no longer queued) are dropped on the way so they cannot block
        the head of the queue. Returns how many runs started.
        """
        started, seen = 0, 0
        while started < slots and seen < slots + 20:
            markers = self.store.next_waiting_markers(dag_id, limit=1)
            if not markers:
                break
            seen += 1
            marker = markers[0]
            try:
                run = self.store.get_run(dag_id, marker["run_id"])
            except NotFoundError:
                run = {}
            if run.get("state") != "queued":
                self.store.drop_waiting_marker(dag_id, marker["sk"])
                continue
            outcome = self.try_start(self.store.get_plan(dag_id, run["plan_hash"]), run)
            if outcome == "no_slot":
                break  # it keeps its place at the head of the queue
            started += outcome == "started"  # "taken": another starter got it; look at the next
        return started

    def maybe_finish(self, plan: StepPlan, run: dict[str, Any]) -> None:
        """Finalise the run when every task is done (Airflow: failed if a leaf failed)."""
        if run.get("state") != "running" or int(run.get("tasks_done", 0)) < int(run.get("tasks_total", 0)):
            deadline = run.get("deadline_at")
            if run.get("state") == "running" and deadline and self.epoch() > int(deadline):
                self.timeout_run(plan, run)
            return
        leaf_failed = int(run.get("leaf_failed", 0))
        state = run_state(leaf_failed)
        try:
            # Conditional on the counts read (a clear may have recounted since: finish_run says why).
            self.store.finish_run(plan.dag_id, run["run_id"], state, iso(self.now()), now=self.epoch(),
                                  counted=(int(run.get("tasks_total", 0)), leaf_failed))
        except ConflictError:
            return
        self.after_finish(plan, {**run, "state": state}, reason="success" if state == "success" else "task_failure")

    def timeout_run(self, plan: StepPlan, run: dict[str, Any]) -> None:
        """dagrun_timeout: fail the run; unfinished task instances become skipped (Airflow)."""
        try:
            self.store.finish_run(plan.dag_id, run["run_id"], "failed", iso(self.now()),
                                  extra={"note": f"dagrun_timeout of {plan.dagrun_timeout_s:g}s exceeded"},
                                  now=self.epoch())
        except ConflictError:
            return
        for ti in self.store.list_tis(plan.dag_id, run["run_id"]):
            if ti.get("state") not in STATES:
                self.store.force_ti_state(plan.dag_id, run["run_id"], ti["task_id"], int(ti["map_index"]), "skipped")
        self.after_finish(plan, {**run, "state": "failed"}, reason="timed_out")

    def after_finish(self, plan: StepPlan, run: dict[str, Any], *, reason: str) -> None:
        (telemetry.run_succeeded if run["state"] == "success" else telemetry.run_failed)(plan.dag_id, run["run_id"])
        logger.info("run finished", extra={"dag_id": plan.dag_id, "run_id": run["run_id"], "state": run["state"]})
        if plan.callbacks:
            try:
                dag = self.dag_of(plan)
            except StratusError:
                dag = None
            from orchestrator.engine.runtime import build_context, RuntimeTaskInstance

            ti = RuntimeTaskInstance(plan.dag_id, run["run_id"], "", -1, 0, 0, plan, self.store)
            ctx = build_context(plan=plan, step=plan.steps[0], run=run, ti=ti, dag=dag)
            ctx.update(reason=reason, ti=None, task_instance=None, task=None)
            name = "on_success_callback" if run["state"] == "success" else "on_failure_callback"
            callbacks.call(dag, name, ctx, what=f"DAG '{plan.dag_id}'")
        self.start_waiting(plan.dag_id)

    # ------------------------------------------------------------------ readiness

    def make_ready(self, plan: StepPlan, run: dict[str, Any],
                   step: Step) -> tuple[list[tuple[str, dict[str, int], frozenset[str]]], bool]:
        """A task's trigger rule passed: queue it (expanding a mapped task).

        Returns ``(finished steps to propagate, created)``; ``created`` is False when another
        writer had already made the task ready, or when the task waits for the previous run
        (``depends_on_past``: ``engine.past``).
        """
        if step.past is not None and not past.admit(self, plan, run, step):
            return [], False
        if step.mapping is not None:
            if step.map_group is not None and run.get(ck.map_count(step.task_id)) and groupmap.gated(plan, step):
                # Ready over every upstream instance (Airflow's fast rules): now decided per map index.
                return [], groupmap.open_follower(self, plan, run, step)
            return self.expand(plan, run, step)
        if step.kind == "empty" and not step.callbacks and not step.outlets:
            # Like Airflow's scheduler: an EmptyOperator without callbacks never reaches a worker.
            more = self.decide(plan, run, step, "success", frozenset())
            return more, bool(more)
        return [], self.queue(plan, run["run_id"], step, -1, run=run)

    def queue(self, plan: StepPlan, run_id: str, step: Step, map_index: int, *,
              run: dict[str, Any] | None = None, lane: list[str] | None = None) -> bool:
        """Create the instance queued (or parked by max_active_tasks) and invoke the worker.

        ``run`` (the run item, with ``map_count#``/``map_lens#`` for a mapped task) goes into the
        message as a snapshot, which saves the worker its read of the run item. ``lane``: the
        tasks that follow this one in its fan-out lane (``engine.lanes``).
        """
        deadline = self.epoch() + QUEUE_GRACE_S
        kwargs: dict[str, Any] = dict(retries=step.retry.retries, deadline=deadline,
                                      max_active_tasks=self.throttle(plan), attrs={"lane": lane})
        try:
            ti = self.store.queue_ti(plan.dag_id, run_id, step.task_id, map_index, **kwargs)
        except ConflictError:
            ti = self._requeue_cleared(plan, run_id, step, map_index, kwargs)
        if ti is None:
            return self._parked(plan, run_id, step, map_index)
        self.invoke(plan, self.message(plan, run_id, step.task_id, map_index, int(ti["try_number"]), run=run))
        return True

    def _parked(self, plan: StepPlan, run_id: str, step: Step, map_index: int) -> bool:
        try:
            return self.store.get_ti(plan.dag_id, run_id, step.task_id, map_index).get("state") == "scheduled"
        except NotFoundError:
            return False

    def _requeue_cleared(self, plan: StepPlan, run_id: str, step: Step, map_index: int,
                         kwargs: dict[str, Any]) -> dict[str, Any] | None:
        try:
            existing = self.store.get_ti(plan.dag_id, run_id, step.task_id, map_index)
        except NotFoundError:
            return None
        if existing.get("state") != "none":
            return None  # already queued/decided by another writer
        try:
            return self.store.queue_ti(plan.dag_id, run_id, step.task_id, map_index,
                                       prev_try=int(existing.get("try_number", 0)), **kwargs)
        except ConflictError:
            return None

    def expand(self, plan: StepPlan, run: dict[str, Any],
               step: Step) -> tuple[list[tuple[str, dict[str, int], frozenset[str]]], bool]:
        """Count a mapped task's instances now (0 -> one skipped instance, map index -1) and create
        its lane heads chunk by chunk, the rest handed on to the conductor (``engine.expansion``);
        each instance then creates the next of its lane (``engine.lanes``)."""
        from orchestrator.engine import expansion

        return expansion.begin(self, plan, run, step)

    def decide(self, plan: StepPlan, run: dict[str, Any], step: Step, state: str, forced: frozenset[str], *,
               error: str | None = None) -> list[tuple[str, dict[str, int], frozenset[str]]]:
        """Write a task instance straight into a terminal state (skip, upstream_failed, ...)."""
        upd = self.step_update(plan, step, {state: 1}, from_worker=False)
        try:
            self.store.decide_ti(plan.dag_id, run["run_id"], step.task_id, -1, state, run_upd=upd, reason=error)
        except ConflictError:
            try:
                existing = self.store.get_ti(plan.dag_id, run["run_id"], step.task_id, -1)
            except NotFoundError:
                return []
            if existing.get("state") != "none":
                return []
            try:
                self.store.decide_ti(plan.dag_id, run["run_id"], step.task_id, -1, state, run_upd=upd,
                                     reason=error, prev_try=int(existing.get("try_number", 0)))
            except ConflictError:
                return []
        if state == "skipped":
            self._skipped_callback(plan, run, step)
        return [(step.task_id, {state: 1}, forced)]

    def _skipped_callback(self, plan: StepPlan, run: dict[str, Any], step: Step) -> None:
        if "on_skipped_callback" not in step.callbacks:
            return
        from orchestrator.engine.runtime import RuntimeTaskInstance, build_context

        task = self.task_of(plan, step.task_id)
        ti = RuntimeTaskInstance(plan.dag_id, run["run_id"], step.task_id, -1, 0, 0, plan, self.store, task=task)
        ctx = build_context(plan=plan, step=step, run=run, ti=ti, task=task, dag=getattr(task, "dag", None))
        callbacks.call(task, "on_skipped_callback", ctx, what=f"task '{step.task_id}'")

    # ------------------------------------------------------------------ completion

    def step_update(self, plan: StepPlan, step: Step, counts: dict[str, int], *, from_worker: bool,
                    carry: int = 0, forced: frozenset[str] = frozenset()) -> Update:
        """The run-item update for a step reaching a terminal state (counters, steps_done guard).

        ``carry``: earlier chain steps whose count rode on this instance (``complete``).
        ``forced``: tasks this step's outcome skips (branch, short-circuit); a skipped task with
        other upstreams gets ``c#{task}#forced`` in the same write, so its skip holds even when
        this worker dies before propagating and another upstream completes it first.
        """
        add: dict[str, Any] = {"tasks_done": 1 + carry, "steps_done": {step.task_id}}
        if decides_run(step) and any(counts.get(s, 0) for s in FAILED):
            add["leaf_failed"] = 1
        steps = plan.step_map()
        for d in step.downstream:
            if len(steps[d].upstream) > 1:
                for st, n in counts.items():
                    if n:
                        add[ck.upstream(d, st)] = n
                        if step.is_setup:
                            add[ck.setup_upstream(d, st)] = n  # a teardown's rule counts its setups apart
                add[ck.units(d)] = 1
                if d in forced:
                    add[ck.forced(d)] = 1
        if from_worker and self.throttle(plan) is not None:
            add["active_tasks"] = -1
        # A step finishes once: a duplicate completion (two last mapped instances, a replayed
        # message) finds its id in steps_done and changes nothing.
        return Update(add=add, condition="NOT contains(#sd, :tid)", names={"#sd": "steps_done"},
                      values={":tid": step.task_id})

    def counts_for(self, plan: StepPlan, run: dict[str, Any], d: Step) -> Counts:
        states = {st: int(run.get(ck.upstream(d.task_id, st), 0) or 0) for st in STATES}
        pending = len(d.upstream) - int(run.get(ck.units(d.task_id), 0) or 0)
        setups = ({st: int(run.get(ck.setup_upstream(d.task_id, st), 0) or 0) for st in STATES}
                  if d.is_teardown else None)
        return Counts.of(states, max(0, pending), setups)

    def setup_guard(self, plan: StepPlan, run: dict[str, Any], d: Step, decision: Decision) -> Decision:
        """Airflow's setup constraint (``rules.setup_guard``) for a task with indirect setups: one read each."""
        if decision is Decision.WAIT or not d.indirect_setups:
            return decision
        states = []
        for s in d.indirect_setups:
            try:
                states.append(self.store.get_ti(plan.dag_id, run["run_id"], s, -1).get("state"))
            except NotFoundError:
                states.append(None)
        return setup_guard(decision, states)

    def propagate(self, plan: StepPlan, run: dict[str, Any], work: list[tuple[str, dict[str, int], frozenset[str]]],
                  *, fresh: dict[str, Any] | None = None, check: bool = False) -> None:
        """Decide the downstream tasks of each finished step; then finish the run if all are done.

        ``work`` items are ``(task_id, {state: n}, forced_skips)``. The run item is read
        (consistently, after the step's terminal write) only when a downstream task has
        several upstreams (its counters) or the run may be complete; a chain needs no read. A
        read after which nothing was written serves the final check too (a fan-in task that
        still waits costs one read, not two).
        """
        steps = plan.step_map()
        queue = deque(work)
        latest = fresh
        last_read, dirty = fresh, False  # the newest run item read, and whether we wrote since
        check_finish = check
        acted: set[str] = set()  # downstream tasks queued or decided here: once is enough
        later = past.watched(plan)  # tasks a later run's depends_on_past may wait on
        while queue:
            task_id, counts, forced = queue.popleft()
            step = steps[task_id]
            if task_id in later and all(st in past.OK for st, n in counts.items() if n):
                past.wake(self, plan, run, task_id)
            if not step.downstream:
                check_finish = True
            multi = any(len(steps[d].upstream) > 1 and d not in forced for d in step.downstream)
            if multi and latest is None:
                latest = last_read = self.store.get_run(plan.dag_id, run["run_id"])
                dirty = False
            riders: list[Step] = []  # ready tasks that can share slots in lanes (engine.lanes)
            wrote = False
            for d_id in step.downstream:
                d = steps[d_id]
                if d_id in acted:
                    continue
                if d.map_group is not None and groupmap.per_index(plan, latest or run, step, d):
                    continue  # decided instance by instance (engine.groupmap)
                if d_id in forced:
                    decision = Decision.SKIP
                elif len(d.upstream) == 1:
                    decision = evaluate(d.trigger_rule, Counts.of(counts, 0, counts if step.is_setup else None))
                    decision = self.setup_guard(plan, run, d, decision)
                else:
                    assert latest is not None
                    if int(latest.get(ck.forced(d_id), 0) or 0):
                        decision = Decision.SKIP  # an upstream branch / short-circuit skipped it
                    else:
                        decision = evaluate(d.trigger_rule, self.counts_for(plan, latest, d))
                        decision = self.setup_guard(plan, run, d, decision)
                if decision is not Decision.WAIT:
                    acted.add(d_id)
                if decision is Decision.READY and lanes.can_ride(self, plan, d):
                    riders.append(d)
                elif decision is Decision.READY:
                    more, created = self.make_ready(plan, latest or run, d)
                    queue.extend(more)
                    check_finish |= not created
                    wrote = True
                elif decision in (Decision.SKIP, Decision.UPSTREAM_FAILED):
                    sub = frozenset(forced & descendants(plan, d_id)) if forced else frozenset()
                    more = self.decide(plan, latest or run, d, decision.value, sub)
                    queue.extend(more)
                    check_finish |= not more
                    wrote = True
            if riders:
                check_finish |= not lanes.start_fanout(self, plan, latest or run, riders)
                wrote = True
            if wrote:
                # The next step's decisions need counters read after these writes; several steps
                # settled at once (a lane's outcomes) with no decision in between share one read.
                latest, dirty = None, True
        if check_finish or self.throttle(plan) is not None:
            final = last_read if last_read is not None and not dirty else self.store.get_run(plan.dag_id, run["run_id"])
            self.promote(plan, final)
            self.maybe_finish(plan, final)

    def promote(self, plan: StepPlan, run: dict[str, Any]) -> None:
        """Queue tasks parked by max_active_tasks while slots are free (O(1) per completion)."""
        limit = self.throttle(plan)
        if limit is None or int(run.get("sched_waiting", 0) or 0) <= 0 or run.get("state") != "running":
            return
        free = limit - int(run.get("active_tasks", 0) or 0)
        if free <= 0:
            return
        # The deadline lets the sweeper re-invoke a promoted try whose invoke was lost.
        for m in self.store.promote_scheduled(plan.dag_id, run["run_id"], limit, free,
                                              deadline=self.epoch() + QUEUE_GRACE_S):
            self.invoke(plan, self.message(plan, run["run_id"], m["task_id"], int(m["map_index"]),
                                           int(m["try_number"]), run=run))

    def complete(self, plan: StepPlan, run: dict[str, Any], step: Step, msg: TaskMessage, state: str, *,
                 fields: dict[str, Any], forced: frozenset[str] = frozenset(),
                 expected: tuple[str, ...] = ("running",), carry: int = 0,
                 riding: dict[str, Any] | None = None) -> bool:
        """Terminal write of one try (+ counters), then propagate. False if another writer won.

        ``carry`` is the instance's ``carry`` attribute (earlier chain steps not yet counted);
        ``riding`` its lane attributes (``mcarry``, ``lcarry``, ``lane``: ``engine.lanes``).
        """
        d, r, t = plan.dag_id, msg.run_id, step.task_id
        riding = riding or {}
        from_slot = self.throttle(plan) is not None
        if msg.map_index < 0:
            nxt = self.chained_next(plan, step, state, forced)
            if nxt is not None:
                folded = self._finish_and_queue(plan, run, step, msg, state, nxt, fields=fields, expected=expected,
                                                carry=carry)
                if folded is not None:
                    return folded
            outcomes = lanes.outcomes(riding.get("lcarry"), t, state)
            if riding.get("lane") and not forced:
                passed = lanes.finish_member(self, plan, run, step, msg, state, list(riding["lane"]), outcomes,
                                             fields=fields, expected=expected)
                if passed is not None:
                    return passed
            upd = lanes.merged_update(self, plan, outcomes, from_worker=True, carry=carry, forced=forced)
            try:
                self.store.finish_ti(d, r, t, -1, msg.try_number, state, fields=fields, run_upd=upd, expected=expected,
                                     owner=msg.owner)
            except ConflictError:
                return False
            work = [(tid, {st: 1}, forced if tid == t else frozenset()) for tid, st in outcomes.items()]
            self.propagate(plan, run, work, check=from_slot)
            return True
        counts = lanes.tally(riding.get("mcarry"), state)
        lane_next = lanes.next_index(self, plan, run, step, msg.map_index)
        if lane_next is not None:
            passed = lanes.finish_and_pass(self, plan, run, step, msg, state, lane_next, counts, fields=fields,
                                           expected=expected)
            if passed is not None:
                if passed and step.map_group is not None:
                    groupmap.settle(self, plan, run, step, msg.map_index, state)
                return passed
        add = lanes.flush_add(t, counts)
        if from_slot:
            add["active_tasks"] = -1
        try:
            self.store.finish_ti(d, r, t, msg.map_index, msg.try_number, state, fields=fields,
                                 run_upd=Update(add=add), expected=expected, owner=msg.owner)
        except ConflictError:
            return False
        if step.map_group is not None:
            groupmap.settle(self, plan, run, step, msg.map_index, state)
        latest = self.store.get_run(d, r)
        self.early_fire(plan, latest, step, state)
        if int(latest.get(ck.mapped_done(t), 0)) < int(latest.get(ck.map_count(t), 0) or 1 << 62):
            if from_slot and lanes.should_steal(plan, latest, step):
                lanes.steal(self, plan, latest, step)  # this lane ended while another has a long way to go
            self.promote(plan, latest)
            self.maybe_finish(plan, latest)
            return True
        self.close_mapped(plan, step, latest)
        return True

    def close_mapped(self, plan: StepPlan, step: Step, latest: dict[str, Any]) -> None:
        """Every instance of mapped ``step`` has ended (``latest``: the run item read after the last
        one's write): count the step done and decide its downstream tasks."""
        t = step.task_id
        counts = {st: int(latest.get(ck.mapped(t, st), 0) or 0) for st in STATES}
        try:
            after = self.store.update_run(plan.dag_id, latest["run_id"],
                                          self.step_update(plan, step, counts, from_worker=False), returns="ALL_NEW")
        except ConflictError:
            return  # the other last instance counted it
        assert after is not None
        self.propagate(plan, after, [(t, counts, frozenset())], fresh=after)

    def chained_next(self, plan: StepPlan, step: Step, state: str, forced: frozenset[str]) -> Step | None:
        """The one downstream task this outcome makes ready, when it is the step's only downstream.

        Decided from this step's own outcome alone (the downstream has no other upstream), so it
        can be queued in the step's terminal transaction: the next task of a chain.
        """
        if len(step.downstream) != 1 or forced:
            return None
        nxt = plan.step(step.downstream[0])
        if len(nxt.upstream) != 1 or nxt.mapping is not None:
            return None
        if nxt.past is not None or step.task_id in past.watched(plan):
            return None  # its gate, or a later run's, is looked at on the way (propagate / make_ready)
        if nxt.kind == "empty" and not nxt.callbacks and not nxt.outlets:
            return None  # decided success without a worker (make_ready)
        if nxt.indirect_setups:
            return None  # its setups decide too (propagate reads them)
        if evaluate(nxt.trigger_rule, Counts.of({state: 1}, 0, {state: 1} if step.is_setup else None)) \
                is not Decision.READY:
            return None
        return nxt

    def _finish_and_queue(self, plan: StepPlan, run: dict[str, Any], step: Step, msg: TaskMessage, state: str,
                          nxt: Step, *, fields: dict[str, Any], expected: tuple[str, ...], carry: int) -> bool | None:
        """Finish a chain step and queue the next one in one transaction (no run-item write).

        The step's count rides on the next instance (``carry``) until CARRY_LIMIT steps have
        gathered; a throttled run's slot passes from this try to the next one unchanged. Returns
        True (done), False (this try was not in the expected state: another writer won) or None
        (the next instance exists already, e.g. cleared: use the two-step path).
        """
        flush = carry + 1 >= CARRY_LIMIT
        # from_worker=False: the try's task slot is not given back, the next instance takes it.
        run_upd = self.step_update(plan, step, {state: 1}, from_worker=False, carry=carry) if flush else None
        try:
            ti = self.store.finish_and_queue(
                plan.dag_id, msg.run_id, step.task_id, msg.try_number, state, fields=fields, expected=expected,
                next_task_id=nxt.task_id, retries=nxt.retry.retries, deadline=self.epoch() + QUEUE_GRACE_S,
                next_extra={"carry": 0 if flush else carry + 1}, run_upd=run_upd, owner=msg.owner)
        except ConflictError as exc:
            reasons = getattr(exc, "reasons", None) or ["ConditionalCheckFailed"]
            if reasons[0] == "ConditionalCheckFailed":
                return False
            return None
        self.invoke(plan, self.message(plan, msg.run_id, nxt.task_id, -1, int(ti["try_number"]), run=run))
        return True

    def early_fire(self, plan: StepPlan, run: dict[str, Any], step: Step, state: str) -> None:
        """one_success / one_failed / one_done below a mapped task fire at the first matching instance.

        Best effort, no extra reads: the instance whose terminal write made the matching count
        go from 0 to 1 (this step's ``m#`` counters plus other upstreams' ``c#`` counters)
        queues the downstream task. If two instances finish together and both see 2, the
        step-level propagation queues it when the mapped task finishes (the guaranteed path).
        """
        steps = plan.step_map()
        for d_id in step.downstream:
            d = steps[d_id]
            if d.map_group is not None and groupmap.per_index(plan, run, step, d):
                continue
            wanted = EARLY_RULES.get(d.trigger_rule)
            if not wanted or state not in wanted:
                continue
            mine = sum(int(run.get(ck.mapped(step.task_id, s), 0) or 0) for s in wanted)
            others = sum(int(run.get(ck.upstream(d_id, s), 0) or 0) for s in wanted) if len(d.upstream) > 1 else 0
            if mine == 1 and others == 0:
                more, _ = self.make_ready(plan, run, d)
                if more:
                    self.propagate(plan, run, more)

    def skips_after_success(self, plan: StepPlan, step: Step, value: Any) -> frozenset[str]:
        """Tasks a branch / short-circuit result skips (ValueError for a bad branch choice)."""
        if step.kind == "branch":
            return frozenset(branch_skips(plan, step.task_id, value))
        if step.kind == "short_circuit" and not value:
            return frozenset(short_circuit_skips(plan, step.task_id, step.ignore_downstream_trigger_rules))
        return frozenset()

    # ------------------------------------------------------------------ worker path

    def handle_task(self, msg: TaskMessage, *, invocation_id: str | None = None) -> dict[str, Any]:
        """Run one task try (the worker's one call): claim, run, store, complete, dispatch.

        ``invocation_id``: the Lambda request id of this invocation. The claim stores it and
        every later write of the try is conditional on it, and the conductor acts on an
        OnFailure record only for the try its invocation owns (a crashed duplicate delivery
        cannot fail a healthy try).

        Returns ``{"status": ...}``: ``done`` (with the state), ``duplicate`` (another
        delivery owns this try), or ``ignored`` (the run is no longer running).
        """
        from orchestrator.engine.worker import run_try

        return run_try(self, msg, invocation_id=invocation_id)

    # ------------------------------------------------------------------ maintenance (UI / CLI / sweeper)

    def reconcile(self, dag_id: str, run_id: str) -> dict[str, Any]:
        """Derive the run from stored task states (counters, lost ready tasks, finalisation)."""
        from orchestrator.engine import maintenance

        return maintenance.reconcile(self, dag_id, run_id)

    def clear(self, dag_id: str, run_id: str, task_ids: list[str] | None = None, downstream: bool = False,
              failed_only: bool = False) -> list[tuple[str, int]]:
        """Clear task instances (history kept), re-open the run and re-run what becomes ready."""
        from orchestrator.engine import maintenance

        return maintenance.clear(self, dag_id, run_id, task_ids, downstream=downstream, failed_only=failed_only)

    def mark(self, dag_id: str, run_id: str, task_id: str, state: str) -> None:
        """Mark a task success/failed/skipped by hand and re-derive the run."""
        from orchestrator.engine import maintenance

        maintenance.mark(self, dag_id, run_id, task_id, state)


def format_error(exc: BaseException) -> str:
    from orchestrator.secrets import redact

    # The text is stored on the task instance and shown by the UI/CLI: mask secrets the task read.
    return redact("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))[-8000:]


def monotonic() -> float:
    return time.monotonic()

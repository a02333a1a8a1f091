"""Chunked, resumable expansion of a mapped task: no invocation creates more than one chunk.

Only the lane heads are created here, ``min(n, max_active_tasks)`` instances (``engine.lanes``:
each instance creates the next of its lane when it ends); below, "instances" means those heads.

A mapped task with 10,000 instances cannot be created by the one invocation that made it
ready (one conditional write and one async invoke per instance outlive a Lambda timeout).
So the expansion is a relay over the run item:

1. ``begin`` (the completer that made the task ready): record ``map_count#{t}``,
   ``map_lens#{t}``, ``map_queued#{t} = 0`` and ``map_at#{t} = now`` once
   (``attribute_not_exists``), then run the first chunk.
2. ``run_chunk(start)``: create instances ``start .. start + chunk - 1`` through
   ``Engine.queue`` (a conditional put each, so a duplicate creates nothing and invokes
   nothing), then move the marker ``map_queued#{t}: start -> end`` (condition: it is still
   ``start``), then hand ``end`` on as an ``ExpandMessage`` to the conductor (SQS).
3. The conductor's ``continue_from(msg)`` acts only while ``map_queued#{t} == msg.start``.

The marker means "every instance below it exists". Timeline of the races it settles::

    executor A (start=K)        executor B (same message, delivered twice)
    create K..K+C-1             create K..K+C-1  (each put: first wins, the other is a no-op)
    marker K -> K+C  ok         marker K -> K+C  fails: A passed it on; B stops here
    send expand(K+C)

A lost hand-on (crash after the marker moved, SQS send failed) or an executor killed
mid-chunk leaves ``map_queued#{t} < map_count#{t}`` with a ``map_at#{t}`` that stops
moving; the sweeper (``resume``) re-sends the message after ``GRACE_S`` from the run item
alone, and the duplicate work that may cause is harmless. A run item without
``map_queued#{t}`` was expanded whole by an older engine; ``repair`` (reconcile) covers it.

Cost: one extra ``UpdateItem`` per chunk (the marker), plus one SQS message and one
conductor record per chunk after the first; a map of up to ``chunk_size()`` instances
(default 1,000) is created by the completer alone, as before. Instances beyond the run's
free ``max_active_tasks`` slots are parked ``PARK_BATCH`` (49) per transaction
(``store.park_tis``) instead of three calls each (``queue_ti``'s failed slot transaction, its
parking transaction, the engine's read of the parked item).
"""

from __future__ import annotations

import os
import time
import uuid
from typing import TYPE_CHECKING, Any

from orchestrator.engine import counters as ck
from orchestrator import constants as c
from orchestrator.engine import groupmap, lanes, mapping
from orchestrator.engine.messages import ExpandMessage
from orchestrator.errors import ConflictError, NotFoundError, StratusError
from orchestrator.telemetry import logger
from orchestrator.plan.model import Step, StepPlan
from orchestrator.store import Update
from orchestrator.store.parking import PARK_BATCH

if TYPE_CHECKING:  # pragma: no cover
    from orchestrator.engine.engine import Engine

DEFAULT_CHUNK = 1000
# A conductor invocation (60 s timeout) stops creating instances after this long and passes on.
DEFAULT_BUDGET_S = 30.0
# Leave this much of a conductor invocation's remaining time for the rest of its SQS batch.
SAFETY_S = 10.0
# An expansion whose marker has not moved for this long lost its hand-on: the sweeper resends it.
GRACE_S = 300

Work = list[tuple[str, dict[str, int], frozenset[str]]]


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0
    if value <= 0:
        logger.warning("ignoring a bad setting; using the default",
                       extra={"variable": name, "value": raw, "default": default})
        return default
    return value


def chunk_size() -> int:
    """Instances one invocation creates (``STRATUS_EXPAND_CHUNK``, default 1,000)."""
    return max(1, int(_env_number(c.ENV_EXPAND_CHUNK, DEFAULT_CHUNK)))


def budget_s() -> float:
    """Seconds a conductor invocation spends on one chunk (``STRATUS_EXPAND_BUDGET_S``, default 30)."""
    return _env_number(c.ENV_EXPAND_BUDGET_S, DEFAULT_BUDGET_S)


def begin(engine: Engine, plan: StepPlan, run: dict[str, Any], step: Step) -> tuple[Work, bool]:
    """Count a mapped task's instances now and create the first chunk; 0 -> one skipped instance.

    Returns ``(finished steps to propagate, created)`` like ``Engine.make_ready``.
    """
    t = step.task_id
    try:
        kind, lens = mapping.lengths(plan, step, run, engine.store, engine.task_of(plan, t))
    except StratusError as exc:
        more = engine.decide(plan, run, step, "failed", frozenset(), error=str(exc))
        return more, bool(more)
    n = mapping.count(kind, lens)
    if n == 0:
        more = engine.decide(plan, run, step, "skipped", frozenset(), error="mapped over zero items")
        return more, bool(more)
    try:
        # Two completers expanding the same mapped task: only the first records the count and
        # starts the relay (the marker at 0: nothing created yet).
        # ALL_NEW: the run as the first chunk starts (its free slots), at no extra call.
        attrs = {ck.map_count(t): n, ck.map_lens(t): lens, ck.map_queued(t): 0, ck.map_at(t): engine.epoch(),
                 ck.map_gen(t): uuid.uuid4().hex[:12]}
        # A head of a mapped task group: the group's followers get the same count (engine.groupmap).
        attrs.update(groupmap.expansion_attrs(plan, step, attrs))
        fresh = engine.store.update_run(plan.dag_id, run["run_id"], Update(
            set_=attrs,
            condition="attribute_not_exists(#mc)", names={"#mc": ck.map_count(t)}), returns="ALL_NEW")
    except ConflictError:
        return [], False
    # Only the lane heads are created here; each instance creates the next of its lane (engine.lanes).
    run_chunk(engine, plan, fresh or {**run, ck.map_count(t): n, ck.map_lens(t): lens}, step,
              lanes.heads(engine, plan, n, step), 0)
    return [], True


def run_chunk(engine: Engine, plan: StepPlan, run: dict[str, Any], step: Step, n: int, start: int, *,
              stop_at: float | None = None) -> str:
    """Create instances from ``start`` (one chunk, or until ``stop_at`` on the monotonic clock).

    ``run`` is the run item with this task's ``map_count#``/``map_lens#`` (each instance's
    message carries it as the worker's run snapshot) read as the chunk starts: its
    ``active_tasks`` says how many instances can take a slot before the rest are parked in
    batches (``store.park_tis``).

    Moves the marker from ``start`` and hands the rest on. Returns ``done`` (the last chunk),
    ``continued`` (the rest handed on) or ``duplicate`` (another executor moved the marker).
    With a dispatcher that cannot reach the conductor, the chunks run here one after another.
    """
    send = getattr(engine.dispatcher, "continue_expansion", None)
    t, run_id = step.task_id, run["run_id"]
    while True:
        i = _create(engine, plan, run, step, start, min(n, start + chunk_size()), stop_at)
        try:
            engine.store.update_run(plan.dag_id, run_id, Update(
                set_={ck.map_queued(t): i, ck.map_at(t): engine.epoch()},
                # Two executors of one chunk (a redelivered message, the sweeper resending a slow
                # one): the first to move the marker passes the rest on, the other stops here.
                condition="#mq = :start", names={"#mq": ck.map_queued(t)}, values={":start": start}))
        except ConflictError:
            return "duplicate"
        if i >= n:
            return "done"
        if send is None:
            start = i
            continue
        _hand_on(engine, plan, run_id, t, i, send)
        return "continued"


def _create(engine: Engine, plan: StepPlan, run: dict[str, Any], step: Step, start: int, end: int,
            stop_at: float | None) -> int:
    """Create instances ``start..end-1`` (at least one); returns the first index not created."""
    limit = engine.throttle(plan)
    park = getattr(engine.store, "park_tis", None) if limit is not None else None
    # A hint only: queue_ti and park_tis check the slot counter atomically themselves.
    free = 0 if limit is None else limit - int(run.get("active_tasks", 0) or 0)
    i = start
    while i < end:
        if park is not None and free <= 0 and end - i > 1:
            batch = list(range(i, min(end, i + PARK_BATCH)))
            try:
                # Not conditional on the run being full: while the map's own instances run, slots
                # free up all the time and a conditional batch was cancelled (and re-sent) for
                # nearly every instance. A slot freed before this commit is taken by the promote.
                park(plan.dag_id, run["run_id"], step.task_id, batch, retries=step.retry.retries,
                     max_active_tasks=limit, require_full=False)
                i += len(batch)
                engine.promote(plan, engine.store.get_run(plan.dag_id, run["run_id"]))
            except ConflictError as exc:
                reasons = list(getattr(exc, "reasons", []))
                if any(r == "ConditionalCheckFailed" for r in reasons[:-1]):
                    park = None  # instances exist (a duplicate executor, a clear): one by one from here
                free = 1  # else a slot is free: the next instance takes it
                continue
        else:
            engine.queue(plan, run["run_id"], step, i, run=run)
            i += 1
            free -= 1
        if stop_at is not None and time.monotonic() >= stop_at:
            break
    return i


def _hand_on(engine: Engine, plan: StepPlan, run_id: str, task_id: str, start: int, send: Any) -> None:
    msg = ExpandMessage(dag_id=plan.dag_id, run_id=run_id, task_id=task_id, plan_hash=plan.hash, start=start)
    try:
        send(msg)
    except Exception:  # noqa: BLE001 - the marker is stored: the sweeper resends after GRACE_S
        logger.exception("could not hand on a mapped task's expansion; the sweeper will resume it",
                         extra={"dag_id": plan.dag_id, "run_id": run_id, "task_id": task_id, "start": start})


def continue_from(engine: Engine, msg: ExpandMessage, *, stop_at: float | None = None) -> str:
    """The conductor's half of the relay: one chunk from ``msg.start`` if the marker is still there.

    Returns ``noop`` (run gone or finished, or the marker moved: a duplicate or stale message),
    else what ``run_chunk`` returns.
    """
    try:
        run = engine.store.get_run(msg.dag_id, msg.run_id)
    except NotFoundError:
        return "noop"
    t = msg.task_id
    marker, n = run.get(ck.map_queued(t)), run.get(ck.map_count(t))
    if run.get("state") != "running" or marker is None or n is None or int(marker) != msg.start:
        return "noop"
    plan = engine.store.get_plan(msg.dag_id, run["plan_hash"])
    return run_chunk(engine, plan, run, plan.step(t), lanes.heads(engine, plan, int(n), plan.step(t)), msg.start, stop_at=stop_at)


def pending(engine: Engine, plan: StepPlan, run: dict[str, Any]) -> list[tuple[Step, int, int, int]]:
    """Mapped steps whose expansion (of the lane heads) is unfinished: ``(step, marker, heads, moved at)``."""
    out = []
    for step in plan.steps:
        t = step.task_id
        if step.mapping is None or run.get(ck.map_queued(t)) is None or run.get(ck.map_count(t)) is None:
            continue
        marker, n = int(run[ck.map_queued(t)]), lanes.heads(engine, plan, int(run[ck.map_count(t)]), step)
        if marker < n:
            out.append((step, marker, n, int(run.get(ck.map_at(t), 0) or 0)))
    return out


def resume(engine: Engine, plan: StepPlan, run: dict[str, Any], now_s: int) -> tuple[int, int]:
    """Resend the hand-on of every expansion of ``run`` stalled for ``GRACE_S`` (the sweeper).

    Returns ``(unfinished expansions, resumed)``; reads nothing beyond ``run``.
    """
    unfinished = pending(engine, plan, run)
    resumed = 0
    for step, marker, n, at in unfinished:
        if now_s <= at + GRACE_S:
            continue  # its hand-on may still be on the way
        t = step.task_id
        try:
            # Two sweepers (or a sweeper and a late executor): only one resends per stall.
            engine.store.update_run(plan.dag_id, run["run_id"], Update(
                set_={ck.map_at(t): now_s}, condition="#mq = :m AND (attribute_not_exists(#at) OR #at = :at)",
                names={"#mq": ck.map_queued(t), "#at": ck.map_at(t)}, values={":m": marker, ":at": at}))
        except ConflictError:
            continue
        logger.warning("resuming a stalled mapped-task expansion",
                       extra={"dag_id": plan.dag_id, "run_id": run["run_id"], "task_id": t,
                              "instances_created": marker, "lane_heads": n})
        send = getattr(engine.dispatcher, "continue_expansion", None)
        if send is None:
            run_chunk(engine, plan, run, step, n, marker)
        else:
            _hand_on(engine, plan, run["run_id"], t, marker, send)
        resumed += 1
    return len(unfinished), resumed


def repair(engine: Engine, plan: StepPlan, run: dict[str, Any], step: Step, states: dict[int, str]) -> int:
    """Reconcile's part: queue instances that should exist but do not; returns how many (one chunk at most).

    ``states`` maps the task's stored map indexes to their states. Missing are lane heads below
    the marker (those above it belong to the relay, ``resume``) and instances whose lane
    predecessor ended without creating them (``lanes.lost``).
    """
    t = step.task_id
    n = int(run[ck.map_count(t)])
    marker = run.get(ck.map_queued(t))
    # No marker: expanded whole by an engine older than the relay (and than lanes).
    below = n if marker is None else min(lanes.heads(engine, plan, n, step), int(marker))
    missing = [i for i in range(below) if states.get(i) in (None, "none")]
    missing = sorted(set(missing) | set(lanes.lost(engine, plan, run, step, states)))[:chunk_size()]
    for i in missing:
        engine.queue(plan, run["run_id"], step, i, run=run)
    return len(missing)

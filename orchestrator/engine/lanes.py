"""Lanes: how a mapped task's instances share the run's ``max_active_tasks`` slots.

A mapped task with ``n`` instances in a run bounded by ``L = max_active_tasks`` runs as ``L``
lanes. The expansion creates only the lane heads, instances ``0 .. min(n, L) - 1`` (each takes
a slot, or is parked while the run is full). Instance ``i`` creates instance ``i + L`` in the
transaction of its own terminal write, so its slot passes straight to the next instance of
its lane; the lane's last instance gives the slot back::

    lane 0:  work[0]  -> work[16] -> work[32] -> ...
    lane 1:  work[1]  -> work[17] -> work[33] -> ...

A waiting instance therefore costs nothing until it starts: no parked item, no marker, no
promotion race (docs/internals.md, "Writes per task"). The instance's counts ride along the
lane as ``mcarry`` (``{state: n}`` of the lane's earlier instances, like a chain's ``carry``)
and reach the run item's ``m#`` counters every ``CARRY_LIMIT`` instances and at the lane's
end, so the mapped task is complete exactly when every lane has ended. A downstream task with
an early trigger rule (``one_success`` ...) needs every count at once: then nothing rides.

Clears, hand marks and engines older than lanes are covered by ``finish_and_pass`` falling
back to the ordinary path when the next instance already exists, and by ``lost``, which
reconcile uses to queue an instance whose lane predecessor ended without creating it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.engine import counters as ck
from orchestrator.engine import past
from orchestrator.engine.constants import CARRY_LIMIT, EARLY_RULES, EARLY_START_RULES, QUEUE_GRACE_S
from orchestrator.errors import ConflictError, NotFoundError
from orchestrator.plan.model import Step, StepPlan
from orchestrator.store import Update

if TYPE_CHECKING:  # pragma: no cover
    from orchestrator.engine.engine import Engine
    from orchestrator.engine.messages import TaskMessage

TERMINAL = ("success", "failed", "skipped", "upstream_failed", "removed")
MANY_MAX = 98  # lane heads queued in one transaction (100 items: the heads and the run item)


def width(engine: Engine, plan: StepPlan) -> int | None:
    """How many lanes a mapped task of ``plan`` has (its ``max_active_tasks``); None: unbounded."""
    return engine.throttle(plan)


def heads(engine: Engine, plan: StepPlan, n: int, step: Step | None = None) -> int:
    """How many of ``n`` instances the expansion creates: the heads of the lanes (all of them for a
    follower in a mapped task group, which has no lanes: the run's slots bound it, as parked instances)."""
    lanes = width(engine, plan)
    return n if lanes is None or (step is not None and _follows(plan, step)) else min(n, lanes)


def next_index(engine: Engine, plan: StepPlan, run: dict[str, Any], step: Step, map_index: int) -> int | None:
    """The instance after ``map_index`` in its lane, or None at the lane's end (or no count known)."""
    lanes = width(engine, plan)
    n = run.get(ck.map_count(step.task_id))
    if lanes is None or n is None or _follows(plan, step):
        return None
    nxt = map_index + lanes
    return nxt if nxt < int(n) else None


def _follows(plan: StepPlan, step: Step) -> bool:
    # A follower in a mapped task group has no lanes: instance i is made by its upstreams' instance i.
    from orchestrator.engine.groupmap import is_follower

    return step.map_group is not None and is_follower(plan, step)


def tally(mcarry: dict[str, Any] | None, state: str) -> dict[str, int]:
    """The counts this instance settles: what its lane carried to it, plus its own ``state``."""
    counts = {str(k): int(v) for k, v in (mcarry or {}).items() if int(v)}
    counts[state] = counts.get(state, 0) + 1
    return counts


def flush_add(task_id: str, counts: dict[str, int]) -> dict[str, Any]:
    """The run item's ``m#`` counter increments for ``counts``."""
    add: dict[str, Any] = {ck.mapped_done(task_id): sum(counts.values())}
    for state, n in counts.items():
        add[ck.mapped(task_id, state)] = n
    return add


def carry_limit(plan: StepPlan, step: Step) -> int:
    """Instances whose counts may gather on a lane before they are written to the run item."""

    steps = plan.step_map()
    if any(steps[d].trigger_rule in EARLY_RULES for d in step.downstream):
        return 1  # one_success & co. fire at the first matching instance: count each at once
    return CARRY_LIMIT


def finish_and_pass(engine: Engine, plan: StepPlan, run: dict[str, Any], step: Step, msg: TaskMessage, state: str,
                    nxt: int, counts: dict[str, int], *, fields: dict[str, Any],
                    expected: tuple[str, ...]) -> bool | None:
    """End instance ``msg.map_index`` and queue instance ``nxt`` of its lane in one transaction.

    The slot passes to ``nxt`` unchanged. Returns True (done), False (this try was not in the
    expected state: another writer won) or None (``nxt`` exists already and is not cleared:
    the caller ends the instance the ordinary way, giving its slot back).
    """
    t = step.task_id
    flush = sum(counts.values()) >= carry_limit(plan, step)
    run_upd = Update(add=flush_add(t, counts)) if flush else None
    ti = _pass_on(engine, plan, step, msg, state, step, nxt, fields=fields, expected=expected,
                  next_extra={"mcarry": None if flush else counts}, run_upd=run_upd)
    if not isinstance(ti, dict):
        return ti
    engine.invoke(plan, engine.message(plan, msg.run_id, t, nxt, int(ti["try_number"]), run=run))
    if flush and carry_limit(plan, step) == 1:
        engine.early_fire(plan, engine.store.get_run(plan.dag_id, msg.run_id), step, state)
    return True


def _pass_on(engine: Engine, plan: StepPlan, step: Step, msg: TaskMessage, state: str, nxt: Step, nxt_index: int,
             *, fields: dict[str, Any], expected: tuple[str, ...], next_extra: dict[str, Any],
             run_upd: Update | None) -> dict[str, Any] | bool | None:
    """The one transaction of a lane: end this try and create the next member ``queued``.

    Returns the queued item, False (this try was not in the expected state: another writer
    won) or None (the next member exists already and is not cleared: the caller ends the try
    the ordinary way, giving its slot back). A cleared next member (``state = none``) is
    created again as its next try.
    """

    prev = 0
    for _ in range(2):
        try:
            return engine.store.finish_and_queue(
                plan.dag_id, msg.run_id, step.task_id, msg.try_number, state, fields=fields, expected=expected,
                next_task_id=nxt.task_id, retries=nxt.retry.retries, deadline=engine.epoch() + QUEUE_GRACE_S,
                next_extra=next_extra, run_upd=run_upd, map_index=msg.map_index, next_map_index=nxt_index,
                next_prev_try=prev, owner=msg.owner)
        except ConflictError as exc:
            reasons = list(getattr(exc, "reasons", None) or ["ConditionalCheckFailed"])
            if reasons[0] == "ConditionalCheckFailed":
                return False
            if prev or len(reasons) < 2 or reasons[1] != "ConditionalCheckFailed":
                return None  # not "the next member exists": end the ordinary way
            try:
                existing = engine.store.get_ti(plan.dag_id, msg.run_id, nxt.task_id, nxt_index)
            except NotFoundError:
                return None
            if existing.get("state") != "none":
                return None  # made by reconcile, or by an engine older than lanes
            prev = int(existing.get("try_number", 0))
    return None


def should_steal(plan: StepPlan, run: dict[str, Any], step: Step) -> bool:
    """Whether instances of ``step`` surely still wait in some lane, judged from the run item alone.

    Called where a lane ended (its slot just given back; ``run`` read after that write). Every
    instance not counted in ``m#{t}#done`` is running, carried (less than ``CARRY_LIMIT`` per
    running lane, and a lane holds a slot) or waiting, so at least ``uncounted - active_tasks *
    CARRY_LIMIT`` wait, all in running lanes. Only more waiting instances than running lanes
    means some lane surely holds two or more, which a steal splits: lanes a map's tail leaves at
    most one apart (``n`` not a multiple of the lane count, lanes served unevenly) end without
    paying ``steal``'s query for a gain of one instance at most.
    """

    t = step.task_id
    n = run.get(ck.map_count(t))
    if n is None or run.get("state") != "running" or _follows(plan, step):
        return False
    uncounted = int(n) - int(run.get(ck.mapped_done(t), 0) or 0)
    active = int(run.get("active_tasks", 0) or 0)
    return uncounted - active * CARRY_LIMIT > active


def steal(engine: Engine, plan: StepPlan, run: dict[str, Any], step: Step) -> int | None:
    """Queue the middle instance of the longest run of waiting instances in any lane; returns it.

    An uneven map would otherwise leave this slot idle while one lane holds many waiting
    instances behind a long one. The stolen instance goes on down its lane (``i + L``, ...) in
    this slot; the lane it came from ends where it meets it (the next instance exists), and that
    end may steal again, so the waiting work is split in halves until it is spread over the free
    slots. One query of the task's instances per steal.
    """
    lanes = width(engine, plan)
    t = step.task_id
    n = int(run.get(ck.map_count(t)) or 0)
    if lanes is None or n <= lanes:
        return None
    created = {i for i, state in engine.store.map_states(plan.dag_id, run["run_id"], t).items() if state != "none"}
    best_start, best_len = -1, 0  # the longest run of waiting instances along one lane
    for head in range(lanes):
        start, length = -1, 0
        for i in range(head, n, lanes):
            if i in created:
                start, length = -1, 0
                continue
            start, length = (i, 1) if length == 0 else (start, length + 1)
            if length > best_len:
                best_start, best_len = start, length
    if best_len == 0:
        return None
    target = best_start + (best_len // 2) * lanes
    engine.queue(plan, run["run_id"], step, target, run=run)
    return target


def lost(engine: Engine, plan: StepPlan, run: dict[str, Any], step: Step, states: dict[int, str]) -> list[int]:
    """Instances past the heads that should exist but do not (or were cleared): their lane
    predecessor has ended. ``states`` maps the task's map indexes to their stored states.

    An instance's predecessor creates it in its terminal transaction, so this finds only
    instances whose predecessor ended another way (marked by hand, or ended while the
    instance existed and was later cleared).
    """
    lanes = width(engine, plan)
    n = run.get(ck.map_count(step.task_id))
    if lanes is None or n is None or _follows(plan, step):
        return []
    return [j for j in range(heads(engine, plan, int(n)), int(n))
            if states.get(j) in (None, "none") and states.get(j - lanes) in TERMINAL]


# ------------------------------------------------------------------ fan-out lanes
#
# The same idea for the tasks one finished step makes ready at once (``start >> [m0 .. m49]``):
# with ``L = max_active_tasks`` slots, the first ``L`` of them are queued as lane heads, each
# holding the list of the tasks that follow it in its lane (``lane``). A member's terminal
# transaction queues the next task of its lane, and the member's outcome rides on it
# (``lcarry``: ``{task_id: state}`` of finished members whose counters are not on the run item
# yet), until the lane ends, a member fails, or ``CARRY_LIMIT`` outcomes have gathered. So a
# member costs its creation, its claim and its terminal write. Only members whose outcome makes
# nothing ready by itself may ride: every downstream task waits for other upstreams too, with a
# rule that does not fire early.


def can_ride(engine: Engine, plan: StepPlan, step: Step) -> bool:
    """Whether ``step``, made ready together with siblings, may be queued in a fan-out lane."""

    if engine.throttle(plan) is None or len(step.upstream) != 1 or step.mapping is not None:
        return False
    if step.kind in ("branch", "short_circuit") or (step.kind == "empty" and not step.callbacks and not step.outlets):
        return False
    if step.past is not None or step.task_id in past.watched(plan):
        return False  # its gate, or a later run's wake-up, goes through make_ready / propagate
    steps = plan.step_map()
    return all(len(steps[d].upstream) > 1 and steps[d].trigger_rule not in EARLY_START_RULES
               for d in step.downstream)


def start_fanout(engine: Engine, plan: StepPlan, run: dict[str, Any], ready: list[Step]) -> bool:
    """Queue the lane heads of ``ready`` (each with the rest of its lane); True if any was created."""

    lanes = width(engine, plan) or len(ready)
    heads = [(step, [s.task_id for s in ready[h + lanes::lanes]]) for h, step in enumerate(ready[:lanes])]
    many = getattr(engine.store, "queue_many", None)
    if many is not None and 1 < len(heads) <= MANY_MAX:
        try:
            # Every head and all their slots in one transaction: one run-item write for the fan-out.
            queued = many(plan.dag_id, run["run_id"], [(s.task_id, s.retry.retries, {"lane": follow or None})
                                                      for s, follow in heads],
                          deadline=engine.epoch() + QUEUE_GRACE_S, max_active_tasks=lanes)
        except ConflictError:
            pass  # too few free slots, or an instance exists (cleared, reconciled): one by one
        else:
            for ti in queued:
                engine.invoke(plan, engine.message(plan, run["run_id"], ti["task_id"], -1, 1, run=run))
            return True
    created = False
    for step, follow in heads:
        created |= engine.queue(plan, run["run_id"], step, -1, run=run, lane=follow or None)
    return created


def outcomes(lcarry: dict[str, Any] | None, task_id: str, state: str) -> dict[str, str]:
    """The outcomes a member settles: those its lane carried to it, plus its own."""
    out = {str(k): str(v) for k, v in (lcarry or {}).items()}
    out[task_id] = state
    return out


def merged_update(engine: Engine, plan: StepPlan, done: dict[str, str], *, from_worker: bool,
                  carry: int = 0, forced: frozenset[str] = frozenset()) -> Update:
    """One run-item update for several finished steps (``Engine.step_update`` of each, added up).

    Each step finishes once: the condition checks that none of them is in ``steps_done``.
    ``carry`` and ``forced`` belong to the first step (the instance ending now).
    """
    steps = plan.step_map()
    items = list(done.items())
    first_id, first_state = items[0]
    upd = engine.step_update(plan, steps[first_id], {first_state: 1}, from_worker=from_worker, carry=carry,
                             forced=forced)
    for k, (task_id, state) in enumerate(items[1:], start=1):
        more = engine.step_update(plan, steps[task_id], {state: 1}, from_worker=False)
        for attr, value in more.add.items():
            if attr == "steps_done":
                upd.add[attr] = set(upd.add[attr]) | set(value)
            else:
                upd.add[attr] = upd.add.get(attr, 0) + value
        upd.condition = f"{upd.condition} AND NOT contains(#sd, :tid{k})"
        upd.values[f":tid{k}"] = task_id
    return upd


def finish_member(engine: Engine, plan: StepPlan, run: dict[str, Any], step: Step, msg: TaskMessage, state: str,
                  lane: list[str], done: dict[str, str], *, fields: dict[str, Any],
                  expected: tuple[str, ...]) -> bool | None:
    """End a fan-out member and queue the next task of its lane in one transaction.

    ``done``: the outcomes settled by this member (``outcomes``). Returns True (done), False
    (another writer won) or None (the next task exists already: end the ordinary way).
    """

    nxt = plan.step(lane[0])
    # A failure is counted at once, so rules that decide on a failure (upstream_failed) still do.
    flush = state != "success" or len(done) >= CARRY_LIMIT
    run_upd = merged_update(engine, plan, done, from_worker=False) if flush else None
    ti = _pass_on(engine, plan, step, msg, state, nxt, -1, fields=fields, expected=expected,
                  next_extra={"lane": lane[1:] or None, "lcarry": None if flush else done}, run_upd=run_upd)
    if not isinstance(ti, dict):
        return ti
    engine.invoke(plan, engine.message(plan, msg.run_id, nxt.task_id, -1, int(ti["try_number"]), run=run))
    if flush:
        engine.propagate(plan, run, [(tid, {st: 1}, frozenset()) for tid, st in done.items()])
    return True

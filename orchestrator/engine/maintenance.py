"""Derive a run from its stored task states: reconcile, clear and mark (UI/CLI and sweeper).

These are the only engine paths that read every task instance of a run. ``reconcile``
recomputes the run item's counters from the task-instance items, queues tasks whose
trigger rule is satisfied but have no item (a lost dispatch), queues missing mapped
instances (below the expansion marker, one chunk per call), resumes stalled expansions
(``engine.expansion``), and finalises the run. It assumes no worker is writing counters at the same
moment (it runs on stuck runs, or right after a clear/mark); a concurrent completion is
repaired by the next reconcile.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from orchestrator.engine import counters as ck
from orchestrator.engine import expansion, groupmap, lanes, past
from orchestrator.engine.engine import FAILED, STATES, Engine, iso
from orchestrator.engine.rules import Counts, Decision, decides_run, descendants, evaluate, setup_guard
from orchestrator.errors import ConflictError, NotFoundError, StratusError
from orchestrator.plan.model import StepPlan
from orchestrator.store import Update
from orchestrator.store.instances import states_by_index

ACTIVE = ("queued", "running", "up_for_retry", "up_for_reschedule")
FENCE_S = 300  # how long a clear that died half-way holds its run open (then the sweeper finishes it)


def _step_outcomes(plan: StepPlan, run: dict[str, Any], tis: list[dict[str, Any]]) -> dict[str, dict[str, int] | None]:
    """Per step: ``{state: n}`` of its instances when the step is done, else None."""
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ti in tis:
        by_task[ti["task_id"]].append(ti)
    out: dict[str, dict[str, int] | None] = {}
    for step in plan.steps:
        items = [t for t in by_task.get(step.task_id, []) if t.get("state") not in (None, "none")]
        parent = next((t for t in items if int(t.get("map_index", -1)) == -1), None)
        if step.mapping is None or (parent is not None and parent.get("state") in STATES):
            out[step.task_id] = {parent["state"]: 1} if parent is not None and parent.get("state") in STATES else None
            continue
        n = run.get(ck.map_count(step.task_id))
        children = [t for t in items if int(t.get("map_index", -1)) >= 0 and int(t["map_index"]) < int(n or 0)]
        if n is None or len(children) < int(n) or any(t.get("state") not in STATES for t in children):
            out[step.task_id] = None
            continue
        counts: dict[str, int] = defaultdict(int)
        for t in children:
            counts[t["state"]] += 1
        out[step.task_id] = dict(counts)
    return out


RECOUNT_ATTEMPTS = 8


class RunMoved(ConflictError):
    """The run item was written between recount's read and its write (a completion)."""


def recount(engine: Engine, plan: StepPlan, run: dict[str, Any], tis: list[dict[str, Any]]) -> dict[str, Any]:
    """Rewrite the run's counters from the task instances; returns the new counter values.

    ``run`` must have been read before ``tis`` were listed: the write is conditional on the
    run item's ``rev`` being unchanged since, so a worker's completion landing in between is
    never overwritten (RunMoved: read both again). Removes a clear's fence (``clearing_until``).
    """
    outcomes = _step_outcomes(plan, run, tis)
    # Fan-out members whose outcome rides on an unfinished lane member (``lcarry``, engine.lanes)
    # are counted by that member's terminal write: leave them out here, as pending.
    for ti in tis:
        if ti.get("state") not in STATES:
            for tid in ti.get("lcarry") or {}:
                outcomes[tid] = None
    steps = plan.step_map()
    forced = _forced_skips(engine, plan, run["run_id"], outcomes)
    new: dict[str, Any] = {"tasks_done": 0, "leaf_failed": 0}
    for tid in forced:
        if len(steps[tid].upstream) > 1:
            new[ck.forced(tid)] = 1  # as Engine.step_update writes it
    done_ids = set()
    for tid, counts in outcomes.items():
        if counts is None:
            continue
        done_ids.add(tid)
        new["tasks_done"] += 1
        step = steps[tid]
        if decides_run(step) and any(counts.get(s, 0) for s in FAILED):
            new["leaf_failed"] += 1
        for d in step.downstream:
            if len(steps[d].upstream) > 1:
                for st, n in counts.items():
                    new[ck.upstream(d, st)] = new.get(ck.upstream(d, st), 0) + n
                    if step.is_setup:
                        new[ck.setup_upstream(d, st)] = new.get(ck.setup_upstream(d, st), 0) + n
                new[ck.units(d)] = new.get(ck.units(d), 0) + 1
    # Chain steps whose count rides on an unfinished instance (``carry``, Engine.complete) are
    # added to tasks_done by that instance's terminal write: leave them out here.
    pending = sum(int(ti.get("carry") or 0) for ti in tis if ti.get("state") not in STATES)
    # Not clamped at 0: a cleared chain step whose count still rides on a later instance is
    # counted again when it finishes again, so until that instance settles the run owes it
    # (clearing t1 of t0..t5 while t3 carries t0..t2: 2 done - 3 carried = -1, and t3's +4,
    # t1's +1, t4's and t5's +1 bring it to 6). Clamping made such a run finish at 7/6.
    new["tasks_done"] = new["tasks_done"] - pending
    for ti in tis:
        idx = int(ti.get("map_index", -1))
        if idx >= 0 and ti.get("state") in STATES:
            t = ti["task_id"]
            new[ck.mapped_done(t)] = new.get(ck.mapped_done(t), 0) + 1
            new[ck.mapped(t, ti['state'])] = new.get(ck.mapped(t, ti['state']), 0) + 1
    # Likewise mapped instances whose counts ride along their lane (``mcarry``, engine.lanes).
    for ti in tis:
        if ti.get("state") in STATES or not ti.get("mcarry"):
            continue
        t = ti["task_id"]
        for st, k in ti["mcarry"].items():
            new[ck.mapped_done(t)] = new.get(ck.mapped_done(t), 0) - int(k)
            new[ck.mapped(t, st)] = new.get(ck.mapped(t, st), 0) - int(k)
    if engine.throttle(plan) is not None:
        new["active_tasks"] = sum(1 for t in tis if t.get("state") in ACTIVE)
        new["sched_waiting"] = sum(1 for t in tis if t.get("state") == "scheduled")
    stale = [k for k in run if ck.is_counter(k) and k not in new]
    upd = Update(set_=dict(new), remove=stale + ([] if done_ids else ["steps_done"]) + ["clearing_until"])
    if done_ids:
        upd.set_["steps_done"] = done_ids
    # A completion between the read of ``run`` and this write added to the counters this
    # overwrites (a clear racing finishing workers lost their counts: a run stuck at 2/4 with
    # nothing in flight). The run item's rev moves with every write of it.
    if run.get("rev") is None:
        upd.condition, upd.names = "attribute_not_exists(#rev)", {"#rev": "rev"}
    else:
        upd.condition, upd.names, upd.values = "#rev = :rev", {"#rev": "rev"}, {":rev": int(run["rev"])}
    try:
        engine.store.update_run(plan.dag_id, run["run_id"], upd)
    except ConflictError as exc:
        raise RunMoved(f"run '{run['run_id']}' of DAG '{plan.dag_id}' changed while it was recounted") from exc
    new["steps_done"] = done_ids
    return {**new, "_outcomes": outcomes, "_forced": forced}


def reconcile(engine: Engine, dag_id: str, run_id: str) -> dict[str, Any]:
    """Derive everything from stored task states: counters, lost ready tasks, finalisation.

    Returns the run item after the repair.
    """
    store = engine.store
    for attempt in range(RECOUNT_ATTEMPTS):
        run = store.get_run(dag_id, run_id)
        plan = store.get_plan(dag_id, run["plan_hash"])
        if run.get("state") != "running":
            return run
        tis = store.list_tis(dag_id, run_id)
        try:
            derived = recount(engine, plan, run, tis)
            break
        except RunMoved:
            if attempt == RECOUNT_ATTEMPTS - 1:
                raise
    outcomes = derived.pop("_outcomes")
    forced = derived.pop("_forced")
    run = store.get_run(dag_id, run_id)
    existing = {(t["task_id"], int(t.get("map_index", -1))): t for t in tis if t.get("state") not in (None, "none")}
    steps = plan.step_map()
    work: list[tuple[str, dict[str, int], frozenset[str]]] = []
    for step in plan.steps:
        t = step.task_id
        if outcomes.get(t) is not None:
            continue
        n = run.get(ck.map_count(t))
        follower = step.map_group is not None and n is not None and groupmap.is_follower(plan, step)
        if follower and (not groupmap.gated(plan, step) or run.get(ck.group_open(t))):
            groupmap.repair(engine, plan, run, step, tis)  # decided per map index (engine.groupmap)
            continue
        if step.mapping is not None and n is not None and not follower:
            # Instances lost between expansion and queueing; those above the marker are the relay's.
            expansion.repair(engine, plan, run, step, states_by_index(tis, t))
            continue
        if (t, -1) in existing:
            continue
        if t in forced:
            decision = Decision.SKIP
        elif not step.upstream:
            decision = Decision.READY
        else:
            states: dict[str, int] = defaultdict(int)
            setups: dict[str, int] = defaultdict(int)
            pending = 0
            for u in step.upstream:
                got = outcomes.get(u)
                if got is None:
                    pending += 1
                else:
                    for st, k in got.items():
                        states[st] += k
                        if steps[u].is_setup:
                            setups[st] += k
            decision = evaluate(step.trigger_rule, Counts.of(states, pending, setups))
            if step.indirect_setups and decision is not Decision.WAIT:
                decision = setup_guard(decision, [next(iter(outcomes[s])) if outcomes.get(s) else None
                                                  for s in step.indirect_setups])
        if decision is Decision.READY:
            work += engine.make_ready(plan, run, step)[0]
            if step.mapping is not None and not follower:  # an opened follower decided its instances
                # Expanded again after a clear: the lane heads are queued; cleared instances past
                # them whose lane predecessor is not cleared are queued here (engine.lanes).
                again = store.get_run(dag_id, run_id)
                if again.get(ck.map_count(t)) is not None:
                    expansion.repair(engine, plan, again, step, states_by_index(tis, t))
        elif decision in (Decision.SKIP, Decision.UPSTREAM_FAILED):
            work += engine.decide(plan, run, steps[t], decision.value, frozenset(forced & descendants(plan, t)))
    expansion.resume(engine, plan, run, engine.epoch())
    engine.propagate(plan, run, work, check=True)
    return store.get_run(dag_id, run_id)


def _forced_skips(engine: Engine, plan: StepPlan, run_id: str,
                  outcomes: dict[str, dict[str, int] | None]) -> set[str]:
    """Tasks a finished branch / short-circuit skips, re-derived from its stored return value.

    The worker applies these skips right after the branch's terminal write; if it died in
    between, only the stored choice remembers them (without this, reconcile would run the
    branches that were not followed).
    """
    out: set[str] = set()
    for step in plan.steps:
        if step.kind in ("branch", "short_circuit") and outcomes.get(step.task_id) == {"success": 1}:
            if step.kind == "branch":
                # The branch's choice is kept as Airflow keeps it: skipmixin_key's followed tasks.
                mixin = engine.store.get_xcom(plan.dag_id, run_id, step.task_id, -1, "skipmixin_key")
                if isinstance(mixin, dict) and isinstance(mixin.get("followed"), list):
                    out |= set(step.downstream) - set(mixin["followed"])
                    continue
            value = engine.store.get_xcom(plan.dag_id, run_id, step.task_id)
            try:
                out |= engine.skips_after_success(plan, step, value)
            except ValueError:
                continue
    return out


def clear(engine: Engine, dag_id: str, run_id: str, task_ids: list[str] | None = None, *,
          downstream: bool = False, failed_only: bool = False) -> list[tuple[str, int]]:
    """Reset task instances to "no status" (history kept), re-open the run and reconcile it.

    ``task_ids`` None clears every task; ``downstream`` adds their descendants;
    ``failed_only`` clears only failed/upstream_failed instances. Queued or running
    instances are left alone, and so is a fan-out member whose outcome still rides on its lane
    (``engine.lanes``: not on the run's counters yet). Returns the cleared ``(task_id, map_index)`` pairs.
    """
    store = engine.store
    run = store.get_run(dag_id, run_id)
    plan = store.get_plan(dag_id, run["plan_hash"])
    wanted = set(task_ids) if task_ids else {s.task_id for s in plan.steps}
    unknown = sorted(wanted - set(plan.step_map()))
    if unknown:
        raise NotFoundError(f"Cannot clear {', '.join(repr(u) for u in unknown)}: not tasks of DAG '{dag_id}'.")
    if downstream:
        for t in list(wanted):
            wanted |= descendants(plan, t)
    if task_ids and any(s.is_setup or s.is_teardown for s in plan.steps):
        # Airflow: clearing a task clears its (relevant) setups and their teardowns too.
        from orchestrator.plan.setup_teardown import clear_set, plan_graph

        wanted |= clear_set(plan_graph(plan), set(task_ids), downstream=downstream)
    cleared: list[tuple[str, int]] = []
    # Until the recount below, completions read counters that still count what is cleared
    # here: hold the run open so none of them finishes it (the recount lifts the fence).
    store.fence_run(dag_id, run_id, until=engine.epoch() + FENCE_S)
    for ti in store.list_tis(dag_id, run_id):
        state = ti.get("state")
        if ti["task_id"] not in wanted or state in ("queued", "running", "none", None):
            continue
        if failed_only and state not in FAILED:
            continue
        history = {"try_number": ti.get("try_number"), "state": state, "start_date": ti.get("start_date"),
                   "end_date": ti.get("end_date"), "error": (ti.get("error") or "")[-2000:] or None,
                   "log_stream": ti.get("log_stream"), "cleared_at": iso(engine.now())}
        if ti.get("rendered_fields"):
            history["rendered_fields"] = ti["rendered_fields"]
        # A fan-out member's outcome may not be counted yet (it rides its lane): in flight, like a
        # queued or running instance, so the reset is conditional on the run item counting it.
        counted = int(ti["map_index"]) < 0 and lanes.can_ride(engine, plan, plan.step(ti["task_id"]))
        try:
            store.reset_ti(dag_id, run_id, ti["task_id"], int(ti["map_index"]), history=history, counted=counted)
        except ConflictError:
            continue
        cleared.append((ti["task_id"], int(ti["map_index"])))
    # A follower in a mapped task group keeps its count while a head of its group keeps its own: its
    # cleared instances are decided again per map index (engine.groupmap.repair).
    mapped = {t for t, _ in cleared if plan.step(t).mapping is not None
              and not groupmap.keeps_count(plan, run, plan.step(t), {c for c, _ in cleared})}
    if mapped:
        remove = [a for t in mapped for a in ck.expansion_attrs(t)]
        store.update_run(dag_id, run_id, Update(remove=remove))
    for _ in range(3):
        if cleared:
            # Read the run again: it may have finished since the read above (another recount can
            # lift this clear's fence, and a worker then finishes on counts that still counted
            # what was just cleared). Re-opening from the stale read left it finished.
            _reopen(engine, dag_id, run_id, store.get_run(dag_id, run_id))
        after = reconcile(engine, dag_id, run_id)  # also lifts the fence when nothing was cleared
        if not cleared or after.get("state") not in ("success", "failed") or not _unrun(store, dag_id, run_id, cleared):
            break
    return cleared


def _unrun(store: Any, dag_id: str, run_id: str, cleared: list[tuple[str, int]]) -> bool:
    """Whether a cleared instance is still "no status" (the run finished without running it again)."""
    wanted = set(cleared)
    return any((t["task_id"], int(t.get("map_index", -1))) in wanted and t.get("state") in (None, "none")
               for t in store.list_tis(dag_id, run_id))


def mark(engine: Engine, dag_id: str, run_id: str, task_id: str, state: str) -> None:
    """Set a task's state by hand (success, failed, skipped), then re-derive the run."""
    if state not in ("success", "failed", "skipped"):
        raise StratusError(f"Cannot mark task '{task_id}' as {state!r}: choose success, failed or skipped.")
    store = engine.store
    run = store.get_run(dag_id, run_id)
    plan = store.get_plan(dag_id, run["plan_hash"])
    try:
        plan.step(task_id)
    except KeyError as exc:
        raise NotFoundError(f"Task '{task_id}' is not in DAG '{dag_id}'.") from exc
    indexes = {int(t["map_index"]) for t in store.list_tis(dag_id, run_id, task_id) if int(t["map_index"]) >= 0}
    if run.get(ck.map_count(task_id)) is not None:
        # Instances not created yet (waiting in their lane, engine.lanes) are marked too.
        indexes |= set(range(int(run[ck.map_count(task_id)])))
    store.fence_run(dag_id, run_id, until=engine.epoch() + FENCE_S)  # as in clear: no completion finishes the run on stale counters
    member = lanes.can_ride(engine, plan, plan.step(task_id))
    for i in sorted(indexes) or [-1]:
        if i < 0 and member and not _mark_member(store, dag_id, run_id, task_id, state):
            reconcile(engine, dag_id, run_id)  # lifts the fence; nothing was marked
            raise StratusError(
                f"Task '{task_id}' of run '{run_id}' (DAG '{dag_id}') ended, but its outcome is still being counted "
                "(it rides on the next task of its fan-out lane, max_active_tasks): mark it once that task ends.")
        if i >= 0 or not member:
            store.force_ti_state(dag_id, run_id, task_id, i, state)
    _reopen(engine, dag_id, run_id, run)
    reconcile(engine, dag_id, run_id)
    if state in past.OK and task_id in past.watched(plan):
        past.wake(engine, plan, run, task_id)  # a later run's instance waiting on this one goes on


def _mark_member(store: Any, dag_id: str, run_id: str, task_id: str, state: str) -> bool:
    """Mark a fan-out member; False when it ended but its outcome still rides its lane (``lcarry``):
    the carrier would count the old outcome over the mark, as with a clear."""
    for _ in range(5):
        try:
            was = str(store.get_ti(dag_id, run_id, task_id, -1).get("state") or "")
        except NotFoundError:
            was = ""
        try:
            store.force_ti_state(dag_id, run_id, task_id, -1, state, was=was, counted=was in lanes.TERMINAL)
            return True
        except ConflictError:
            try:
                now = str(store.get_ti(dag_id, run_id, task_id, -1).get("state") or "")
            except NotFoundError:
                now = ""
            if now == was:
                return False  # not moved: the run item does not count its outcome yet
    return False


def _reopen(engine: Engine, dag_id: str, run_id: str, run: dict[str, Any]) -> None:
    if run.get("state") in ("success", "failed"):
        try:
            engine.store.reopen_run(dag_id, run_id, take_slot=True)
        except ConflictError:  # pragma: no cover - reopen has no condition
            pass

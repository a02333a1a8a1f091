"""Mapped task groups at run time: instance ``i`` of a task follows instance ``i`` of the tasks of
its group upstream of it (Airflow 3's "Mapping over a task group").

Every task of a mapped group is a mapped step with the group's expansion (``Step.map_group``).
The group's *heads* (no upstream inside the group) are expanded like any mapped task
(``engine.expansion``, ``engine.lanes``); the head that expands first records the count for
every *follower* (a task with an upstream inside the group) in the same conditional write, so
all of them have the same ``n``. A follower is never expanded: its instance ``i`` is decided
when instance ``i`` of each of its upstreams inside the group has ended, from those states
alone and its trigger rule (``settle``), so ``double[1]`` failing makes ``plus_one[1]``
upstream_failed while ``plus_one[0]`` runs. The step-level path (``Engine.propagate``) leaves
followers alone once the group is expanded; a task outside the group waits for every instance
as for any mapped task. A group that was not expanded (mapped over nothing, or its heads
skipped / upstream_failed) is decided step by step as before, one instance each (map index -1).

The race, with ``plus(a, b)`` and ``a[i]``, ``b[i]`` ending at once::

    worker of a[i]                       worker of b[i]
    terminal write of a[i]               terminal write of b[i]
    read b[i] (consistent)               read a[i] (consistent)

Whichever terminal write commits second is followed by a read that sees the other: at least
one worker finds both ended and decides ``plus[i]``. Both may: creating the instance (queued,
or skipped / upstream_failed with the step's ``m#`` counters in the same transaction) is a
conditional put, so the second is a no-op. A worker that dies between its terminal write and
its decision leaves ``plus[i]`` missing; the sweeper's reconcile decides it (``repair``).
Cost: one consistent read per other upstream inside the group, per instance.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from orchestrator.engine import counters as ck
from orchestrator.engine.rules import Counts, Decision, evaluate
from orchestrator.errors import ConflictError, NotFoundError
from orchestrator.plan.model import Step, StepPlan
from orchestrator.store import Update

if TYPE_CHECKING:  # pragma: no cover
    from orchestrator.engine.engine import Engine

TERMINAL = ("success", "failed", "skipped", "upstream_failed", "removed")


def inner_upstream(plan: StepPlan, step: Step) -> list[str]:
    """``step``'s upstream tasks in its own mapped group."""
    if step.map_group is None:
        return []
    steps = plan.step_map()
    return [u for u in step.upstream if steps[u].map_group == step.map_group]


def is_follower(plan: StepPlan, step: Step) -> bool:
    """A task of a mapped group with an upstream task in the group: decided per map index."""
    return bool(inner_upstream(plan, step))


def followers(plan: StepPlan, step: Step) -> list[Step]:
    """``step``'s downstream tasks in its own mapped group."""
    if step.map_group is None:
        return []
    steps = plan.step_map()
    return [steps[d] for d in step.downstream if steps[d].map_group == step.map_group]


# Rules Airflow 3.3 first evaluates once over every upstream instance, before the task is expanded
# (TriggerRuleDep: "fast-triggered"): ready -> expanded, then decided per map index; skipped or
# upstream_failed -> one instance (map index -1) in that state. Checked with Airflow 3.3.2's
# dag.test() (tests/e2e/test_mapped_groups.py: mg_fast_rules, mg_fast_runtime).
FAST_RULES = frozenset({"one_success", "one_failed", "one_done", "none_failed_min_one_success"})


def gated(plan: StepPlan, step: Step) -> bool:
    """A follower whose rule is first decided over every upstream instance (``FAST_RULES``), in a
    group whose size is known only at run time: Airflow creates the instances of a group mapped
    over literal lists with the run, so there every rule is decided per map index."""
    if step.trigger_rule not in FAST_RULES or not is_follower(plan, step):
        return False
    return any(s.map_group == step.map_group and s.mapping is not None and s.mapping.sources for s in plan.steps)


def per_index(plan: StepPlan, run: dict[str, Any], step: Step, down: Step) -> bool:
    """Whether ``down`` is decided per map index rather than by ``step``'s step-level outcome:
    ``down`` follows ``step`` in their group and ``step``'s instances ran (not decided whole, at map
    index -1), or ``down`` is a follower and ``step`` lies outside its group (what the group maps
    over: the heads decide for it). A gated follower is decided by ``step``'s outcome until opened."""
    if down.map_group is None or not is_follower(plan, down):
        return False
    if gated(plan, down) and not run.get(ck.group_open(down.task_id)):
        return False
    if step.map_group != down.map_group:
        return True
    return bool(run.get(ck.mapped_done(step.task_id)))


def expansion_attrs(plan: StepPlan, step: Step, attrs: dict[str, Any]) -> dict[str, Any]:
    """A head's expansion attributes (``map_count#``, ``map_lens#``, ``map_gen#``) copied to every
    follower of its group, for the head's conditional expansion write."""
    if step.map_group is None:
        return {}
    out: dict[str, Any] = {}
    for other in plan.steps:
        if other.map_group == step.map_group and is_follower(plan, other):
            for name in (ck.map_count, ck.map_lens, ck.map_gen):
                if name(step.task_id) in attrs:
                    out[name(other.task_id)] = attrs[name(step.task_id)]
    return out


def keeps_count(plan: StepPlan, run: dict[str, Any], step: Step, cleared: set[str]) -> bool:
    """Whether a cleared follower keeps its count: a head of its group that is not cleared holds one."""
    if step.map_group is None or not is_follower(plan, step):
        return False
    return any(s.map_group == step.map_group and not is_follower(plan, s) and s.task_id not in cleared
               and run.get(ck.map_count(s.task_id)) for s in plan.steps)


def _run_for(run: dict[str, Any], src: Step, dst: Step) -> dict[str, Any]:
    """``run`` with ``dst``'s count and lengths (those of its group, as ``src`` has them) for its message."""
    out = dict(run)
    for name in (ck.map_count, ck.map_lens, ck.map_gen):
        if name(dst.task_id) not in out and name(src.task_id) in run:
            out[name(dst.task_id)] = run[name(src.task_id)]
    return out


def settle(engine: Engine, plan: StepPlan, run: dict[str, Any], step: Step, map_index: int, state: str) -> None:
    """Instance ``map_index`` of ``step`` ended in ``state`` (its terminal write is committed):
    decide that instance of each follower whose other upstreams in the group have ended too."""
    latest: dict[str, Any] | None = None
    for down in followers(plan, step):
        if gated(plan, down):
            latest = latest or engine.store.get_run(plan.dag_id, run["run_id"])
            if not latest.get(ck.group_open(down.task_id)):
                summary(engine, plan, latest, down)
                continue
        states = {step.task_id: state}
        for u in inner_upstream(plan, down):
            if u == step.task_id:
                continue
            try:
                got = engine.store.get_ti(plan.dag_id, run["run_id"], u, map_index).get("state")
            except NotFoundError:
                got = None
            if got not in TERMINAL:
                break  # u[i] decides it when it ends (the timeline above)
            states[u] = str(got)
        else:
            decide(engine, plan, _run_for(run, step, down), down, map_index, states)


def summary(engine: Engine, plan: StepPlan, run: dict[str, Any], step: Step) -> None:
    """A gated follower not opened yet: decide it over every instance of its upstreams in the group
    (their ``m#`` counters on ``run``, read after the terminal write that called this). Ready: open
    it; skipped / upstream_failed: one instance at map index -1, as Airflow leaves it."""
    if step.task_id in (run.get("steps_done") or ()):
        return  # decided whole already
    states: Counter[str] = Counter()
    pending = 0
    for u in inner_upstream(plan, step):
        done = int(run.get(ck.mapped_done(u), 0) or 0)
        pending += max(0, int(run.get(ck.map_count(u), 0) or 0) - done)
        for st in TERMINAL:
            states[st] += int(run.get(ck.mapped(u, st), 0) or 0)
    decision = evaluate(step.trigger_rule, Counts.of(states, pending))
    if decision is Decision.READY:
        open_follower(engine, plan, run, step)
    elif decision is not Decision.WAIT:
        work = engine.decide(plan, run, step, decision.value, frozenset())
        if work:
            engine.propagate(plan, run, work)


def open_follower(engine: Engine, plan: StepPlan, run: dict[str, Any], step: Step) -> bool:
    """Mark gated follower ``step`` ready over every upstream instance and decide each of its instances
    whose upstream instances have ended (those ending later are decided by their own ``settle``).

    Timeline: an upstream instance that read the run before this write did not see the mark; its
    terminal write came before that read, so the listing below (after the write) sees it ended."""
    t = step.task_id
    try:
        # Two upstream instances (or a completer and reconcile) finding it ready: one opens it.
        engine.store.update_run(plan.dag_id, run["run_id"], Update(
            set_={ck.group_open(t): 1}, condition="attribute_not_exists(#go)", names={"#go": ck.group_open(t)}))
    except ConflictError:
        return False
    tis = [ti for u in [*inner_upstream(plan, step), t] for ti in engine.store.list_tis(plan.dag_id, run["run_id"], u)]
    repair(engine, plan, run, step, tis)
    return True


def decide(engine: Engine, plan: StepPlan, run: dict[str, Any], step: Step, map_index: int,
           states: dict[str, str]) -> None:
    """Queue instance ``map_index`` of follower ``step`` or write it skipped / upstream_failed, from the
    states of that instance of its upstreams in the group."""
    decision = evaluate(step.trigger_rule, Counts.of(Counter(states.values()), 0))
    if decision is Decision.WAIT:  # every upstream has ended: no rule waits then
        return
    if decision is Decision.READY:
        engine.queue(plan, run["run_id"], step, map_index, run=run)
        return
    _write(engine, plan, run, step, map_index, decision.value)


def _write(engine: Engine, plan: StepPlan, run: dict[str, Any], step: Step, map_index: int, state: str) -> None:
    """Write instance ``map_index`` of follower ``step`` in ``state`` (skipped / upstream_failed), then
    decide its followers at that index and, after the last instance, the step."""
    t = step.task_id
    add: dict[str, Any] = {ck.mapped_done(t): 1, ck.mapped(t, state): 1}
    try:
        # Two upstream instances ending together may both decide it: the creation is conditional,
        # so its counters are added once.
        engine.store.decide_ti(plan.dag_id, run["run_id"], t, map_index, state, run_upd=Update(add=add))
    except ConflictError:
        return
    settle(engine, plan, run, step, map_index, state)
    latest = engine.store.get_run(plan.dag_id, run["run_id"])
    if int(latest.get(ck.mapped_done(t), 0) or 0) >= int(latest.get(ck.map_count(t), 0) or 1 << 62):
        engine.close_mapped(plan, step, latest)


def repair(engine: Engine, plan: StepPlan, run: dict[str, Any], step: Step, tis: list[dict[str, Any]]) -> int:
    """Reconcile's part for a follower: decide the instances whose upstream instances in the group have
    all ended (a worker died between its terminal write and ``settle``). Returns how many."""
    n = int(run.get(ck.map_count(step.task_id)) or 0)
    ups = inner_upstream(plan, step)
    states: dict[tuple[str, int], str] = {}
    for ti in tis:
        if ti["task_id"] in ups or ti["task_id"] == step.task_id:
            states[(ti["task_id"], int(ti.get("map_index", -1)))] = str(ti.get("state"))
    done = 0
    for i in range(n):
        if states.get((step.task_id, i)) not in (None, "none"):
            continue
        got = {u: states.get((u, i)) for u in ups}
        if all(s in TERMINAL for s in got.values()):
            decide(engine, plan, run, step, i, {u: str(s) for u, s in got.items()})
            done += 1
    return done

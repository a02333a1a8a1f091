"""``depends_on_past`` and ``wait_for_downstream``: a task waits for the previous run.

Airflow 3's rule (``PrevDagrunDep`` in airflow-core ``ti_deps/deps/prev_dagrun_dep.py``): a
task instance with ``depends_on_past`` runs only when, in the previous run of its DAG, every
instance of the same task (all map indexes) is success or skipped, and with
``wait_for_downstream`` every instance of the task's direct downstream tasks too. The previous
run is the one with the latest logical date before this run's (``DagRun.get_previous_dagrun``),
or, for a DAG with ``catchup=True``, the latest such run that is not manual
(``get_previous_scheduled_dagrun``). No previous run: it runs. The run of a backfill's first
interval does not wait (``sort_ordinal`` 1; ``stratus backfill`` stores ``backfill_ordinal``). A previous run without the task waits forever unless ``ignore_first_depends_on_past``.
Otherwise the instance has no status and waits (a failed past instance holds it until a person
clears or marks it); its ``note`` says why, as Airflow's "dependencies not met" does.

How a waiting instance is released::

    run R, task t ready         gate: previous run P, t's instances there not all done
        t@R := none (note, past_wait=P)          put  P/PASTWAIT#R#t  (on: t [+ downstream])
        check P again -> done by now?  release t@R itself
    run P, t (or a downstream) ends success/skipped   (Engine.propagate -> wake)
        query P/PASTWAIT#  ->  check R's gate again  ->  queue t@R (conditional: once)

The waiter is written before the second check and the completer reads waiters after its
terminal write, so at least one of the two sees the other: no lost wake-up. Both releasing is
harmless (the instance is created queued by one conditional write). The sweeper looks at
waiting instances again (a previous run that changed, a completion path without propagation).
The fast paths that finish a step without ``propagate`` (a chain's next step queued in the
same transaction, fan-out lanes) are not taken by a waiting task or by a task a later run may
wait on (``watched``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.engine import counters as ck
from orchestrator.errors import ConflictError, NotFoundError
from orchestrator.plan.model import Step, StepPlan
from orchestrator.telemetry import logger

if TYPE_CHECKING:  # pragma: no cover
    from orchestrator.engine.engine import Engine

OK = ("success", "skipped")
_WATCHED: dict[str, frozenset[str]] = {}  # plan hash -> watched task ids (plans are immutable)


def uses_past(plan: StepPlan) -> bool:
    """Whether a task of ``plan`` depends on the past (its runs then get ``PAST#`` entries)."""
    return any(s.past is not None for s in plan.steps)


def watched(plan: StepPlan) -> frozenset[str]:
    """Tasks whose outcome a later run may wait for: depends_on_past tasks and the direct
    downstream tasks of wait_for_downstream ones."""
    found = _WATCHED.get(plan.hash) if plan.hash else None
    if found is None:
        ids: set[str] = set()
        for s in plan.steps:
            if s.past is not None:
                ids.add(s.task_id)
                if s.past.wait_for_downstream:
                    ids.update(s.downstream)
        found = frozenset(ids)
        if plan.hash:
            _WATCHED[plan.hash] = found
    return found


@dataclass(frozen=True)
class Verdict:
    met: bool
    reason: str
    prev_run_id: str | None = None
    on: tuple[str, ...] = ()  # the previous run's tasks whose completion may change the verdict


def previous_run(engine: Engine, plan: StepPlan, run: dict[str, Any]) -> dict[str, Any] | None:
    """The ``PAST#`` entry of the run ``run`` depends on (see the module doc), or None."""
    logical = run.get("logical_date")
    if not logical:
        return None
    for entry in engine.store.previous_runs(plan.dag_id, str(logical)):
        if entry.get("run_id") == run["run_id"]:
            continue
        if plan.catchup and entry.get("run_type") == "manual":
            continue  # get_previous_scheduled_dagrun: manual runs are not "scheduled"
        return entry
    return None


def _unsuccessful(engine: Engine, plan: StepPlan, prev: dict[str, Any], task_id: str) -> int | None:
    """Instances of ``task_id`` in run ``prev`` not success/skipped; None if its plan lacks the task.

    An instance not created yet counts (Airflow creates a run's instances with it, at no status).
    """
    try:
        step = plan.step(task_id)
    except KeyError:
        return None
    store, dag_id, run_id = engine.store, plan.dag_id, prev["run_id"]
    if step.mapping is None:
        try:
            return 0 if store.get_ti(dag_id, run_id, task_id, -1).get("state") in OK else 1
        except NotFoundError:
            return 1
    tis = store.list_tis(dag_id, run_id, task_id)
    parent = next((t for t in tis if int(t.get("map_index", -1)) == -1), None)
    if parent is not None and parent.get("state") not in (None, "none"):
        if parent.get("state") in ("success", "skipped", "failed", "upstream_failed", "removed"):
            return 0 if parent["state"] in OK else 1  # decided whole (skipped, upstream_failed, zero-length)
    n = prev.get(ck.map_count(task_id))
    if n is None:
        return 1  # not expanded yet
    ok = sum(1 for t in tis if 0 <= int(t.get("map_index", -1)) < int(n) and t.get("state") in OK)
    return max(0, int(n) - ok)


def check(engine: Engine, plan: StepPlan, run: dict[str, Any], step: Step) -> Verdict:
    """Whether ``step`` may run in ``run`` as far as the previous run is concerned (pure reads)."""
    past = step.past
    if past is None:
        return Verdict(True, "The task did not have depends_on_past set.")
    store = engine.store
    if run.get("run_type") == "backfill" and "backfill_ordinal" not in run:
        run = store.get_run(plan.dag_id, run["run_id"])  # a worker's run snapshot leaves it out
    if run.get("backfill_ordinal") == 1:
        return Verdict(True, "Task instance is first run in a backfill.")
    entry = previous_run(engine, plan, run)
    if entry is None:
        return Verdict(True, "This task instance was the first task instance for its task.")
    on = (step.task_id, *(step.downstream if past.wait_for_downstream else ()))
    prev: dict[str, Any] = entry
    prev_plan = plan if entry.get("plan_hash") == plan.hash else None
    steps = plan.step_map()
    if prev_plan is None or any(steps[t].mapping is not None for t in on):
        # The run item: its plan (another version) or a mapped task's instance count. Same plan and
        # unmapped tasks (the usual case): the entry says enough, one read fewer per task.
        try:
            prev = store.get_run(plan.dag_id, entry["run_id"])
        except NotFoundError:
            return Verdict(True, "This task instance was the first task instance for its task.")
        if prev_plan is None:
            prev_plan = plan if prev.get("plan_hash") == plan.hash else store.get_plan(plan.dag_id, prev["plan_hash"])
    bad = _unsuccessful(engine, prev_plan, prev, step.task_id)
    where = f" (previous run '{prev['run_id']}')"
    if bad is None:
        if past.ignore_first:
            return Verdict(True, "ignore_first_depends_on_past is true for this task and it is the first "
                                 "task instance for its task.")
        return Verdict(False, "depends_on_past is true for this task's DAG, but the previous task instance has "
                              "not run yet" + where + ".", prev["run_id"], on)
    if bad:
        return Verdict(False, f"depends_on_past is true for this task, but {bad} previous task instance(s) are "
                              "not in a successful state" + where + ".", prev["run_id"], on)
    if past.wait_for_downstream:
        for d in step.downstream:
            if _unsuccessful(engine, prev_plan, prev, d):
                return Verdict(False, "The tasks downstream of the previous task instance(s) haven't completed, "
                                      "and wait_for_downstream is True" + where + ".", prev["run_id"], on)
    return Verdict(True, "The previous task instance(s) succeeded or were skipped.")


def admit(engine: Engine, plan: StepPlan, run: dict[str, Any], step: Step) -> bool:
    """The gate ``Engine.make_ready`` passes a depends_on_past task through: True to go on.

    False: the task waits (its instance recorded at no status with the reason; a waiter on the
    previous run), or another writer created the instance first.
    """
    verdict = check(engine, plan, run, step)
    store, dag_id, run_id = engine.store, plan.dag_id, run["run_id"]
    if not verdict.met:
        try:
            store.wait_ti(dag_id, run_id, step.task_id, note=verdict.reason, prev_run_id=verdict.prev_run_id)
        except ConflictError:
            return False  # queued or decided by another writer (a completer of the previous run)
        logger.info("task waits for the previous run", extra={
            "dag_id": dag_id, "run_id": run_id, "task_id": step.task_id, "reason": verdict.reason})
        if verdict.prev_run_id is None:
            return False
        store.put_past_waiter(dag_id, verdict.prev_run_id, run_id, step.task_id, list(verdict.on))
        # The previous run's instance may have finished between the check and the waiter: its
        # completer then found no waiter, so look once more now that the waiter is there.
        verdict = check(engine, plan, run, step)
        if not verdict.met:
            return False
    if step.mapping is not None:
        store.drop_waiting_ti(dag_id, run_id, step.task_id)  # the expansion creates the instances
    return True


def wake(engine: Engine, plan: StepPlan, run: dict[str, Any], task_id: str) -> None:
    """``task_id`` ended success/skipped in ``run``: release the instances of later runs waiting on it."""
    store, dag_id = engine.store, plan.dag_id
    for waiter in store.past_waiters(dag_id, run["run_id"]):
        if task_id in (waiter.get("on") or ()):
            recheck(engine, dag_id, str(waiter["run_id"]), str(waiter["task_id"]), waited_on=run["run_id"])


def recheck(engine: Engine, dag_id: str, run_id: str, task_id: str, *, waited_on: str | None = None) -> bool:
    """Look at a waiting instance again (a wake-up or the sweeper); True if it was released."""
    store = engine.store
    try:
        run = store.get_run(dag_id, run_id)
        ti = store.get_ti(dag_id, run_id, task_id, -1)
    except NotFoundError:
        ti, run = {}, {}
    if run.get("state") != "running" or ti.get("state") != "none" or not ti.get("past_wait"):
        if waited_on is not None:
            store.drop_past_waiter(dag_id, waited_on, run_id, task_id)  # released or cleared since
        return False
    plan = store.get_plan(dag_id, run["plan_hash"])
    step = plan.step(task_id)
    more, created = engine.make_ready(plan, run, step)
    released = created or bool(more)
    if released and waited_on is not None:
        store.drop_past_waiter(dag_id, waited_on, run_id, task_id)
    if released:
        engine.propagate(plan, run, more, check=True)
    return released

"""Pure scheduling rules: trigger rules, retry delays, branch/short-circuit skip sets, map math.

Everything here takes values and returns values (no I/O), so it is tested exhaustively in
tests/unit/engine. The semantics follow Airflow 3's ``TriggerRuleDep`` with
``flag_upstream_failed`` (the scheduler's mode): a rule decides READY, WAIT, SKIP or
UPSTREAM_FAILED from the states of the task's direct upstream task instances.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from enum import Enum
from itertools import product
from typing import Iterable, Mapping

from orchestrator.plan.model import RetryPolicy, Step, StepPlan


class Decision(str, Enum):
    READY = "ready"
    WAIT = "wait"
    SKIP = "skipped"
    UPSTREAM_FAILED = "upstream_failed"


@dataclass(frozen=True)
class Counts:
    """States of a task's direct upstream task instances (a mapped upstream counts each instance).

    ``total`` is the number of upstream instances; while some upstream step has not finished
    its instance count may be unknown, so callers pass ``done`` plus at least one per pending
    step: ``done < total`` exactly when something upstream is still pending.
    """

    success: int = 0
    failed: int = 0
    skipped: int = 0
    upstream_failed: int = 0
    removed: int = 0
    done: int = 0
    total: int = 0
    # The finished upstream instances that are setup tasks (all_done_setup_success).
    setup_success: int = 0
    setup_skipped: int = 0
    setup_done: int = 0

    @property
    def upstream_done(self) -> bool:
        return self.done >= self.total

    @classmethod
    def of(cls, states: Mapping[str, int], pending: int = 0, setups: Mapping[str, int] | None = None) -> Counts:
        """Counts from ``{state: n}`` of finished upstream instances plus ``pending`` unfinished ones;
        ``setups``: the ``{state: n}`` part of ``states`` that comes from setup tasks."""
        s = {k: int(v) for k, v in states.items()}
        done = sum(s.get(k, 0) for k in ("success", "failed", "skipped", "upstream_failed", "removed"))
        su = {k: int(v) for k, v in (setups or {}).items()}
        return cls(success=s.get("success", 0), failed=s.get("failed", 0), skipped=s.get("skipped", 0),
                   upstream_failed=s.get("upstream_failed", 0), removed=s.get("removed", 0),
                   done=done, total=done + pending, setup_success=su.get("success", 0),
                   setup_skipped=su.get("skipped", 0), setup_done=sum(su.values()))


def evaluate(rule: str, c: Counts) -> Decision:
    """Decide a task from its trigger rule and the counts of its upstream task instances.

    Airflow 3 semantics: a state change (SKIP/UPSTREAM_FAILED) is decided as soon as it is
    certain, READY as soon as the rule is satisfied; otherwise WAIT. A task with no upstream
    is always READY. Raises ValueError for an unknown rule name.
    """
    if c.total == 0:
        return Decision.READY
    done, fails = c.upstream_done, c.failed + c.upstream_failed
    if rule == "all_success":
        if fails:
            return Decision.UPSTREAM_FAILED
        if c.skipped:
            return Decision.SKIP
        return Decision.READY if c.success + c.removed >= c.total else Decision.WAIT
    if rule == "all_failed":
        if c.success or c.skipped:
            return Decision.SKIP
        return Decision.READY if fails + c.removed >= c.total else Decision.WAIT
    if rule == "all_done":
        return Decision.READY if done else Decision.WAIT
    if rule == "all_done_setup_success":
        # A teardown: all upstream done and, when setups are among them, one of them succeeded
        # (all skipped: skipped; none succeeded: upstream_failed). Without setups, all_done.
        if not done:
            return Decision.WAIT
        if c.setup_done and c.setup_skipped >= c.setup_done:
            return Decision.SKIP
        if c.setup_done and not c.setup_success:
            return Decision.UPSTREAM_FAILED
        return Decision.READY
    if rule == "all_done_min_one_success":
        if not done:
            return Decision.WAIT
        if c.success:
            return Decision.READY
        return Decision.SKIP if c.skipped + c.removed >= c.done else Decision.UPSTREAM_FAILED
    if rule == "all_skipped":
        if c.success or fails:
            return Decision.SKIP
        return Decision.READY if c.skipped + c.removed >= c.total else Decision.WAIT
    if rule == "one_success":
        if c.success:
            return Decision.READY
        if done:
            return Decision.SKIP if c.done == c.skipped else Decision.UPSTREAM_FAILED
        return Decision.WAIT
    if rule == "one_failed":
        if fails:
            return Decision.READY
        return Decision.SKIP if done else Decision.WAIT
    if rule == "one_done":
        if c.success or c.failed:
            return Decision.READY
        return Decision.SKIP if done else Decision.WAIT
    if rule == "none_failed":
        if fails:
            return Decision.UPSTREAM_FAILED
        return Decision.READY if done else Decision.WAIT
    if rule == "none_failed_min_one_success":
        if fails:
            return Decision.UPSTREAM_FAILED
        if c.skipped >= c.total:
            return Decision.SKIP
        if not done:
            return Decision.WAIT
        return Decision.READY if c.success else Decision.SKIP
    if rule == "none_skipped":
        if c.skipped:
            return Decision.SKIP
        return Decision.READY if done else Decision.WAIT
    if rule == "always":
        return Decision.READY
    raise ValueError(f"Unknown trigger rule {rule!r}")


# ------------------------------------------------------------------ retries


def retry_delay_s(policy: RetryPolicy, try_number: int, *, dag_id: str = "", task_id: str = "",
                  logical_date: str = "") -> float:
    """Seconds to wait after try ``try_number`` (1-based) failed, as Airflow computes it.

    Exponential backoff: ``min_backoff = ceil(retry_delay * 2 ** (try_number - 1))`` (at least
    1), then a deterministic jitter from a hash of the task instance in
    ``[min_backoff, 2 * min_backoff)``, capped by ``max_retry_delay``.
    """
    delay = max(0.0, float(policy.retry_delay_s))
    if policy.exponential_backoff:
        min_backoff = max(1, math.ceil(delay * (2 ** (try_number - 1))))
        digest = hashlib.sha1(f"{dag_id}#{task_id}#{logical_date}#{try_number}".encode()).hexdigest()
        delay = float(min_backoff + int(digest, 16) % min_backoff)
    if policy.max_retry_delay_s is not None:
        delay = min(delay, float(policy.max_retry_delay_s))
    return delay


# ------------------------------------------------------------------ skip sets


def descendants(plan: StepPlan, task_id: str) -> set[str]:
    """Every task downstream of ``task_id`` (transitively)."""
    steps = plan.step_map()
    seen: set[str] = set()
    stack = list(steps[task_id].downstream)
    while stack:
        t = stack.pop()
        if t not in seen:
            seen.add(t)
            stack.extend(steps[t].downstream)
    return seen


def branch_skips(plan: StepPlan, branch_id: str, followed: Iterable[str] | str | None) -> set[str]:
    """Direct downstreams of a branch task to skip when it follows ``followed`` (Airflow's rule).

    A direct downstream is kept if it is followed or is itself downstream of a followed task.
    ``followed`` may be a task id, a task group id (its tasks), a list of them or None (skip every
    direct downstream). As in Airflow, a followed task that is not a direct downstream only keeps
    what lies below it. Raises ValueError naming a followed id that is no task of the DAG.
    """
    step = plan.step(branch_id)
    steps = plan.step_map()
    chosen = {followed} if isinstance(followed, str) else set(followed or [])
    for group in [c for c in chosen if c not in steps]:
        members = {t for t in steps if t.startswith(f"{group}.")}
        if members:  # a task group id follows the group's tasks (Airflow: its roots)
            chosen = (chosen - {group}) | members
    unknown = sorted(chosen - set(steps))
    if unknown:
        raise ValueError(
            f"Branch task '{branch_id}' returned {', '.join(repr(u) for u in unknown)}, which is not a task of "
            f"DAG '{plan.dag_id}' (its direct downstream tasks: "
            f"{', '.join(repr(d) for d in step.downstream) or 'none'})."
        )
    keep = set(chosen)
    for t in chosen:
        keep |= descendants(plan, t)
    return {d for d in step.downstream if d not in keep}


def short_circuit_skips(plan: StepPlan, task_id: str, ignore_downstream_trigger_rules: bool) -> set[str]:
    """Tasks a falsy short-circuit skips: every descendant (True) or only direct downstreams."""
    if ignore_downstream_trigger_rules:
        return descendants(plan, task_id)
    return set(plan.step(task_id).downstream)


# ------------------------------------------------------------------ mapping


def map_length(lengths: list[int]) -> int:
    """Number of mapped instances of an ``expand`` over lists of these lengths (cross product)."""
    return math.prod(lengths) if lengths else 0


def unravel(map_index: int, lengths: list[int]) -> tuple[int, ...]:
    """Per-argument element indexes of instance ``map_index`` (the last argument varies fastest)."""
    total = map_length(lengths)
    if not 0 <= map_index < total:
        raise IndexError(f"map index {map_index} out of range for {total} mapped instances")
    out = []
    for n in reversed(lengths):
        out.append(map_index % n)
        map_index //= n
    return tuple(reversed(out))


def all_combinations(lengths: list[int]) -> list[tuple[int, ...]]:
    """Every ``unravel`` result in map-index order (for tests and small expansions)."""
    return list(product(*(range(n) for n in lengths)))


def setup_guard(decision: Decision, setup_states: Iterable[str | None]) -> Decision:
    """Airflow's setup constraint for a work task with relevant setups that are not its direct
    upstream: one failed (or upstream_failed) -> upstream_failed, one skipped -> skipped, else the
    trigger rule's decision (they are its ancestors, so they are done when it is decided)."""
    states = set(setup_states)
    if states & {"failed", "upstream_failed"}:
        return Decision.UPSTREAM_FAILED
    if "skipped" in states:
        return Decision.SKIP
    return decision


def decides_run(step: Step) -> bool:
    """Whether ``step``'s state counts for the run's (a leaf; with teardowns, plan/setup_teardown.py)."""
    return step.decides_run if step.decides_run is not None else not step.downstream


def run_state(leaf_failed: int) -> str:
    """Airflow's run outcome once every task is done: failed if a leaf failed, else success."""
    return "failed" if leaf_failed > 0 else "success"

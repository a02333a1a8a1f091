"""Setup and teardown tasks (Airflow 3): the graph questions, answered once per plan.

Pure functions over a DAG's edges (``up``/``down``: task id -> ids) and its setup and teardown
ids. The compiler stores the answers on each step (``Step.indirect_setups``,
``Step.decides_run``); ``Engine.clear`` asks :func:`clear_set`. The rules are Airflow's
(``AbstractOperator.get_upstreams_only_setups_and_teardowns``, ``DagRun._tis_for_dagrun_state``,
``DAG.partial_subset``):

- a setup is *relevant* to a task when it is upstream of it (at any depth) and either has no
  teardown or has a teardown downstream of the task; a work task needs every relevant setup
  that is not its direct upstream to have succeeded (else upstream_failed, or skipped);
- a teardown does not decide the run's state unless ``on_failure_fail_dagrun=True``; a task
  whose only downstream tasks are such teardowns decides it as a leaf would;
- clearing a task clears its relevant setups and their teardowns (and a setup's teardowns).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Graph:
    up: Mapping[str, Sequence[str]]
    down: Mapping[str, Sequence[str]]
    setups: frozenset[str]
    teardowns: frozenset[str]
    fail_dagrun: frozenset[str] = frozenset()  # teardowns with on_failure_fail_dagrun=True

    def relatives(self, task_id: str, *, upstream: bool) -> set[str]:
        edges = self.up if upstream else self.down
        seen: set[str] = set()
        todo = list(edges.get(task_id, ()))
        while todo:
            t = todo.pop()
            if t not in seen:
                seen.add(t)
                todo.extend(edges.get(t, ()))
        return seen


def relevant_setups_and_teardowns(g: Graph, task_id: str) -> list[str]:
    """The setups relevant to ``task_id`` and their teardowns (other than the task itself)."""
    below = {t for t in g.relatives(task_id, upstream=False) if t in g.teardowns}
    out: list[str] = []
    for s in sorted(g.relatives(task_id, upstream=True)):
        if s not in g.setups:
            continue
        own = [t for t in g.down.get(s, ()) if t in g.teardowns]
        if not own or set(own) & below:
            out.append(s)
            out.extend(t for t in own if t != task_id)
    return out


def indirect_setups(g: Graph, task_id: str) -> list[str]:
    """Relevant setups of a work task that are not its direct upstream (all must succeed)."""
    if task_id in g.teardowns:
        return []  # a teardown has no indirect setups (Airflow)
    direct = set(g.up.get(task_id, ()))
    return [s for s in relevant_setups_and_teardowns(g, task_id) if s in g.setups and s not in direct]


def run_leaves(g: Graph) -> set[str]:
    """The tasks whose states decide the run's state (teardowns ignored unless they fail the run)."""
    ignorable = g.teardowns - g.fail_dagrun
    tasks = set(g.up) | set(g.down)
    leaves = {t for t in tasks if t not in ignorable and all(d in ignorable for d in g.down.get(t, ()))}
    return leaves or {t for t in tasks if not g.down.get(t)}


def clear_set(g: Graph, task_ids: Iterable[str], *, downstream: bool) -> set[str]:
    """The tasks a clear of ``task_ids`` touches: Airflow adds their setups and teardowns."""
    matched = set(task_ids)
    out = set(matched)
    for t in matched:
        if downstream:
            for rel in g.relatives(t, upstream=False):
                out.add(rel)
                if rel not in matched and rel not in g.setups and rel not in g.teardowns:
                    out.update(relevant_setups_and_teardowns(g, rel))
        if t not in g.setups and t not in g.teardowns:
            out.update(relevant_setups_and_teardowns(g, t))
        if t in g.setups and not downstream:
            out.update(d for d in g.down.get(t, ()) if d in g.teardowns)
    return out


def graph_of(dag: Any) -> Graph | None:
    """The setup/teardown graph of an authored DAG, or None when it has no setup or teardown task."""
    ops = dag.task_dict
    setups = frozenset(t for t, op in ops.items() if getattr(op, "is_setup", False))
    teardowns = frozenset(t for t, op in ops.items() if getattr(op, "is_teardown", False))
    if not setups and not teardowns:
        return None
    return Graph(up={t: sorted(op.upstream_task_ids) for t, op in ops.items()},
                 down={t: sorted(op.downstream_task_ids) for t, op in ops.items()},
                 setups=setups, teardowns=teardowns,
                 fail_dagrun=frozenset(t for t in teardowns if getattr(ops[t], "on_failure_fail_dagrun", False)))


def annotate(dag: Any, steps: list[dict[str, Any]]) -> None:
    """Set the setup/teardown fields of the compiler's step dicts (nothing without such tasks)."""
    g = graph_of(dag)
    if g is None:
        return
    leaves = run_leaves(g)
    for step in steps:
        t = step["task_id"]
        step["is_setup"] = t in g.setups
        step["is_teardown"] = t in g.teardowns
        step["indirect_setups"] = indirect_setups(g, t)
        step["decides_run"] = t in leaves


def problems(dag: Any, where: Any) -> list[str]:
    """Airflow's ``validate_setup_teardown``: a work task right after a setup must use all_success."""
    out = []
    for op in dag.task_dict.values():
        if not getattr(op, "is_setup", False):
            continue
        for d in sorted(op.downstream_task_ids):
            down = dag.task_dict[d]
            if not getattr(down, "is_teardown", False) and str(down.trigger_rule) != "all_success":
                out.append(f"{where(down)}: it runs right after setup task '{op.task_id}', so its trigger_rule must "
                           f"be 'all_success' (got '{down.trigger_rule}'), as Airflow requires. Put another task "
                           "between them, or make it a teardown.")
    return out


def plan_graph(plan: Any) -> Graph:
    """The graph of a compiled plan (for clear)."""
    return Graph(up={s.task_id: s.upstream for s in plan.steps}, down={s.task_id: s.downstream for s in plan.steps},
                 setups=frozenset(s.task_id for s in plan.steps if s.is_setup),
                 teardowns=frozenset(s.task_id for s in plan.steps if s.is_teardown))

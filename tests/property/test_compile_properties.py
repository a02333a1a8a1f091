"""Random DAGs compile to plans that keep every dependency, reachability and a topological order."""

from __future__ import annotations

from datetime import datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator import DAG, EmptyOperator
from orchestrator.plan.compiler import compile_dag
from orchestrator.plan.model import StepPlan


@st.composite
def dag_shapes(draw: st.DrawFn) -> tuple[int, list[tuple[int, int]]]:
    """``(n, edges)``: edges only go from a lower to a higher index, so the graph is acyclic."""
    n = draw(st.integers(min_value=1, max_value=14))
    pairs = [(a, b) for b in range(n) for a in range(b)]
    edges = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=min(len(pairs), 30))) if pairs else []
    return n, edges


def _build(n: int, edges: list[tuple[int, int]], dag_id: str = "prop") -> DAG:
    with DAG(dag_id=dag_id, schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        ops = [EmptyOperator(task_id=f"t{i}") for i in range(n)]
        for a, b in edges:
            ops[a] >> ops[b]
    return dag


def _closure(nodes: list[str], edges: set[tuple[str, str]]) -> set[tuple[str, str]]:
    succ: dict[str, set[str]] = {v: set() for v in nodes}
    for a, b in edges:
        succ[a].add(b)
    out = set()
    for v in nodes:
        stack, seen = list(succ[v]), set()
        while stack:
            w = stack.pop()
            if w not in seen:
                seen.add(w)
                stack += succ[w]
        out |= {(v, w) for w in seen}
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dag_shapes())
def test_plan_keeps_dependencies_reachability_and_topological_order(shape):
    n, edges = shape
    plan = compile_dag(_build(n, edges))
    ids = [s.task_id for s in plan.steps]
    assert sorted(ids) == sorted(f"t{i}" for i in range(n))
    want = {(f"t{a}", f"t{b}") for a, b in edges}
    got_up = {(u, s.task_id) for s in plan.steps for u in s.upstream}
    got_down = {(s.task_id, d) for s in plan.steps for d in s.downstream}
    assert got_up == want == got_down
    position = {t: i for i, t in enumerate(ids)}
    assert all(position[a] < position[b] for a, b in want)
    assert _closure(ids, got_up) == _closure(ids, want)


@settings(max_examples=40, deadline=None)
@given(dag_shapes(), st.randoms(use_true_random=False))
def test_plan_is_deterministic_json_round_trippable_and_edge_order_free(shape, rnd):
    n, edges = shape
    plan = compile_dag(_build(n, edges))
    again = StepPlan.model_validate_json(plan.model_dump_json())
    assert again == plan and again.with_hash().hash == plan.hash
    shuffled = list(edges)
    rnd.shuffle(shuffled)
    assert compile_dag(_build(n, shuffled)).hash == plan.hash

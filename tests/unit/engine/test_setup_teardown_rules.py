"""Setup/teardown rules (pure): the teardown trigger rule, the setup constraint, the run's leaves, clears."""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest

from orchestrator import DAG, EmptyOperator, TaskGroup, task
from orchestrator.authoring.setup_teardown import setup, teardown
from orchestrator.engine.rules import Counts, Decision, evaluate, setup_guard
from orchestrator.errors import DagDefinitionError, PlanValidationError
from orchestrator.plan.compiler import compile_dag
from orchestrator.plan.setup_teardown import Graph, clear_set, indirect_setups, relevant_setups_and_teardowns, run_leaves

R, W, S, U = Decision.READY, Decision.WAIT, Decision.SKIP, Decision.UPSTREAM_FAILED
STATES = ["success", "failed", "skipped", "upstream_failed"]


def teardown_oracle(upstream: list[tuple[str, bool]], pending: int) -> Decision:
    """Airflow's TriggerRuleDep for ALL_DONE_SETUP_SUCCESS over (state, is_setup) of finished upstreams."""
    upstream_done = pending == 0
    upstream_setup = sum(1 for _, s in upstream if s)  # pending ones are never decided on (not done)
    success_setup = sum(1 for st, s in upstream if s and st == "success")
    skipped_setup = sum(1 for st, s in upstream if s and st == "skipped")
    if upstream_done and upstream_setup and skipped_setup >= upstream_setup:
        return S
    if upstream_done and upstream_setup and success_setup == 0:
        return U
    return R if upstream_done else W


def test_teardown_rule_matches_airflow_on_every_small_combination():
    for total in range(1, 4):
        for pending in range(0, total + 1):
            for ups in itertools.product(itertools.product(STATES, (True, False)), repeat=total - pending):
                states: dict[str, int] = {}
                setups: dict[str, int] = {}
                for st, is_setup in ups:
                    states[st] = states.get(st, 0) + 1
                    if is_setup:
                        setups[st] = setups.get(st, 0) + 1
                got = evaluate("all_done_setup_success", Counts.of(states, pending, setups))
                assert got == teardown_oracle(list(ups), pending), (ups, pending)


def test_setup_guard_is_airflows_setup_constraint():
    assert setup_guard(R, ["success", "success"]) == R
    assert setup_guard(R, ["success", "failed"]) == U
    assert setup_guard(S, ["upstream_failed"]) == U  # the constraint is checked first
    assert setup_guard(R, ["skipped"]) == S
    assert setup_guard(U, ["success"]) == U


def g(edges: dict[str, list[str]], setups=(), teardowns=(), fail=()) -> Graph:
    ids = sorted(set(edges) | {d for ds in edges.values() for d in ds})
    return Graph(up={i: sorted(u for u, ds in edges.items() if i in ds) for i in ids},
                 down={i: sorted(edges.get(i, [])) for i in ids}, setups=frozenset(setups),
                 teardowns=frozenset(teardowns), fail_dagrun=frozenset(fail))


def test_relevant_setups_indirect_setups_and_leaves():
    graph = g({"s": ["w1", "t"], "w1": ["w2"], "w2": ["t"], "other": ["w2"]}, setups=["s"], teardowns=["t"])
    assert relevant_setups_and_teardowns(graph, "w2") == ["s", "t"]
    assert indirect_setups(graph, "w2") == ["s"] and indirect_setups(graph, "w1") == []
    assert indirect_setups(graph, "t") == []  # a teardown has none
    assert run_leaves(graph) == {"w2"}  # its only downstream is an ignorable teardown
    assert run_leaves(g({"s": ["w", "t"], "w": ["t"]}, ["s"], ["t"], fail=["t"])) == {"t"}
    # a setup whose teardown is not below the task is not relevant to it
    side = g({"s": ["a", "t"], "a": ["t", "b"]}, ["s"], ["t"])
    assert relevant_setups_and_teardowns(side, "b") == []


def test_clear_set_follows_airflows_partial_subset():
    graph = g({"s": ["w", "t"], "w": ["t", "after"]}, setups=["s"], teardowns=["t"])
    assert clear_set(graph, ["w"], downstream=False) == {"s", "w", "t"}
    assert clear_set(graph, ["s"], downstream=False) == {"s", "t"}
    assert clear_set(graph, ["after"], downstream=False) == {"after"}
    assert clear_set(graph, ["w"], downstream=True) == {"s", "w", "t", "after"}


def _compiled(build) -> object:
    with DAG("d", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        build()
    return compile_dag(dag)


def test_compiled_steps_carry_the_roles():
    def build():
        s = EmptyOperator(task_id="s").as_setup()
        w1, w2 = EmptyOperator(task_id="w1"), EmptyOperator(task_id="w2", trigger_rule="all_done")
        t = EmptyOperator(task_id="t").as_teardown(setups=s)
        s >> w1 >> w2 >> t

    plan = _compiled(build)
    steps = plan.step_map()
    assert steps["s"].is_setup and steps["t"].is_teardown and steps["t"].trigger_rule == "all_done_setup_success"
    assert steps["w2"].indirect_setups == ["s"] and steps["w1"].indirect_setups == []
    assert [t for t, st in steps.items() if st.decides_run] == ["w2"]


def test_plain_dags_compile_as_before():
    plan = _compiled(lambda: EmptyOperator(task_id="a") >> EmptyOperator(task_id="b"))
    assert all(not s.is_setup and not s.is_teardown and s.decides_run is None for s in plan.steps)


def test_a_setup_followed_by_a_non_all_success_task_is_refused():
    def build():
        s = EmptyOperator(task_id="s").as_setup()
        s >> EmptyOperator(task_id="w", trigger_rule="all_done")

    with pytest.raises(PlanValidationError, match=r"Task 'w' .*right after setup task 's', so its trigger_rule must "
                                                  r"be 'all_success' \(got 'all_done'\)"):
        _compiled(build)


def test_decorators_mark_tasks_and_refuse_what_airflow_refuses():
    with DAG("d", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        @setup
        def make() -> int:
            return 1

        @teardown(on_failure_fail_dagrun=True)
        def drop(x: int) -> None:
            pass

        m = make()
        drop(m)
        with pytest.raises(DagDefinitionError, match="cannot be mapped"):
            make.expand(x=[1])

        @task
        def item(x: int) -> int:
            return x

        with pytest.raises(DagDefinitionError, match="a mapped task cannot be a setup"):
            item.expand(x=[1, 2]).as_setup()
        with pytest.raises(DagDefinitionError, match="trigger rule not configurable for teardown tasks"):
            teardown(task(lambda: None)).override(task_id="t2", trigger_rule="all_success")
    assert dag.task_dict["make"].is_setup
    assert dag.task_dict["drop"].is_teardown and dag.task_dict["drop"].on_failure_fail_dagrun
    assert dag.task_dict["drop"].upstream_task_ids == {"make"}


def test_group_leaves_skip_teardowns():
    with DAG("d", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        with TaskGroup("g") as grp:
            s = EmptyOperator(task_id="s").as_setup()
            w = EmptyOperator(task_id="w")
            t = EmptyOperator(task_id="t").as_teardown(setups=s)
            s >> w >> t
        grp >> EmptyOperator(task_id="after")
    assert dag.task_dict["after"].upstream_task_ids == {"g.w"}

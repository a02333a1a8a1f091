from __future__ import annotations

import itertools

import pytest

from orchestrator.engine.rules import (Counts, Decision, all_combinations, branch_skips, evaluate, map_length,
                                       retry_delay_s, run_state, short_circuit_skips, unravel)
from orchestrator.plan.model import RetryPolicy, Schedule, Step, StepPlan

R, W, S, U = Decision.READY, Decision.WAIT, Decision.SKIP, Decision.UPSTREAM_FAILED
RULES = ["all_success", "all_failed", "all_done", "all_done_min_one_success", "all_done_setup_success",
         "all_skipped", "one_success", "one_failed", "one_done", "none_failed", "none_failed_min_one_success",
         "none_skipped", "always"]


def oracle(rule: str, states: list[str], pending: int) -> Decision:
    """A direct transcription of Airflow's TriggerRuleDep over an explicit list of upstream states."""
    n = lambda s: states.count(s)  # noqa: E731
    success, failed, skipped, uf = n("success"), n("failed"), n("skipped"), n("upstream_failed")
    done, upstream = len(states), len(states) + pending
    upstream_done = pending == 0
    new = None
    if rule == "all_success":
        new = U if (uf or failed) else S if skipped else None
    elif rule == "all_failed":
        new = S if (success or skipped) else None
    elif rule == "one_success":
        new = (S if done == skipped else U if success <= 0 else None) if upstream_done else None
    elif rule == "one_failed":
        new = S if upstream_done and not (failed or uf) else None
    elif rule == "one_done":
        new = S if upstream_done and not (failed or success) else None
    elif rule == "none_failed":
        new = U if (uf or failed) else None
    elif rule == "none_failed_min_one_success":
        new = U if (uf or failed) else S if skipped == upstream else None
    elif rule == "none_skipped":
        new = S if skipped else None
    elif rule == "all_skipped":
        new = S if (success or failed or uf) else None
    elif rule == "all_done_min_one_success":
        new = (None if success else S if skipped == done else U) if upstream_done else None
    if new is not None:
        return new
    ready = {
        "all_success": success == upstream, "all_failed": failed + uf == upstream, "all_done": upstream_done,
        "all_done_setup_success": upstream_done, "all_done_min_one_success": upstream_done and success > 0,
        "all_skipped": skipped == upstream, "one_success": success > 0, "one_failed": failed + uf > 0,
        "one_done": success + failed > 0, "none_failed": success + skipped == upstream,
        "none_failed_min_one_success": success + skipped == upstream, "none_skipped": upstream_done and not skipped,
        "always": True,
    }[rule]
    return R if ready else W


@pytest.mark.parametrize("rule", RULES)
def test_rules_match_airflow_on_every_small_combination(rule):
    for total in range(1, 4):
        for pending in range(0, total + 1):
            for states in itertools.combinations_with_replacement(
                    ["success", "failed", "skipped", "upstream_failed"], total - pending):
                counts = Counts.of({s: states.count(s) for s in set(states)}, pending)
                assert evaluate(rule, counts) == oracle(rule, list(states), pending), (rule, states, pending)


def test_no_upstream_is_ready_and_unknown_rule_raises():
    assert evaluate("all_success", Counts()) == R
    with pytest.raises(ValueError, match="Unknown trigger rule 'sometimes'"):
        evaluate("sometimes", Counts(success=1, done=1, total=1))


@pytest.mark.parametrize("rule,states,pending,expected", [
    ("all_success", {"success": 2}, 0, R), ("all_success", {"success": 1}, 1, W),
    ("all_success", {"failed": 1}, 1, U), ("all_success", {"skipped": 1}, 1, S),
    ("one_success", {"success": 1}, 5, R), ("one_failed", {"failed": 1}, 3, R),
    ("none_failed_min_one_success", {"success": 1, "skipped": 1}, 0, R),
    ("none_failed_min_one_success", {"skipped": 2}, 0, S), ("all_done", {"failed": 1}, 0, R),
    ("all_done_min_one_success", {"failed": 1, "success": 1}, 0, R),
    ("all_done_min_one_success", {"failed": 1, "skipped": 1}, 0, U),
    ("all_skipped", {"skipped": 3}, 0, R), ("none_skipped", {"success": 1}, 1, W),
])
def test_rules_examples(rule, states, pending, expected):
    assert evaluate(rule, Counts.of(states, pending)) == expected


def test_retry_delay_plain_and_capped():
    assert retry_delay_s(RetryPolicy(retries=3, retry_delay_s=30), 1) == 30
    assert retry_delay_s(RetryPolicy(retries=3, retry_delay_s=30, max_retry_delay_s=10), 2) == 10


def test_exponential_backoff_follows_airflows_formula():
    policy = RetryPolicy(retries=5, retry_delay_s=10, exponential_backoff=True)
    for try_number in range(1, 6):
        base = 10 * 2 ** (try_number - 1)
        d = retry_delay_s(policy, try_number, dag_id="d", task_id="t", logical_date="2026-01-01")
        assert base <= d < 2 * base and d == int(d)
        assert d == retry_delay_s(policy, try_number, dag_id="d", task_id="t", logical_date="2026-01-01")
    tiny = RetryPolicy(retries=1, retry_delay_s=0, exponential_backoff=True)
    assert retry_delay_s(tiny, 1) == 1  # min_backoff has a floor of 1 s
    capped = RetryPolicy(retries=9, retry_delay_s=60, exponential_backoff=True, max_retry_delay_s=300)
    assert retry_delay_s(capped, 8) == 300


def plan_of(edges: dict[str, list[str]]) -> StepPlan:
    ids = sorted(set(edges) | {d for ds in edges.values() for d in ds})
    ups = {i: sorted(u for u, ds in edges.items() if i in ds) for i in ids}
    steps = [Step(task_id=i, operator="X", module="m.py", upstream=ups[i], downstream=sorted(edges.get(i, [])))
             for i in ids]
    return StepPlan(dag_id="d", fileloc="m.py", schedule=Schedule(kind="none"), steps=steps)


def test_branch_skip_sets_follow_airflows_rule():
    plan = plan_of({"br": ["a", "b", "join"], "a": ["join"], "b": ["c"], "c": ["join"]})
    assert branch_skips(plan, "br", "a") == {"b"}  # join is downstream of the followed 'a'
    assert branch_skips(plan, "br", ["a", "b"]) == set()
    assert branch_skips(plan, "br", None) == {"a", "b", "join"}
    assert branch_skips(plan, "br", []) == {"a", "b", "join"}
    with pytest.raises(ValueError, match="Branch task 'br' returned 'zz', which is not a task of DAG 'd'"):
        branch_skips(plan, "br", "zz")
    # Airflow 3.3 (SkipMixin.skip_all_except): a task of the DAG that is not a direct downstream is
    # accepted; every direct downstream not above it is skipped.
    assert branch_skips(plan, "br", "c") == {"a", "b"}


def test_branch_to_a_task_group_follows_its_tasks():
    plan = plan_of({"br": ["grp.a", "grp.b", "other"], "grp.a": [], "grp.b": [], "other": []})
    assert branch_skips(plan, "br", "grp") == {"other"}


def test_short_circuit_skip_sets():
    plan = plan_of({"sc": ["a"], "a": ["b"], "b": []})
    assert short_circuit_skips(plan, "sc", True) == {"a", "b"}
    assert short_circuit_skips(plan, "sc", False) == {"a"}


def test_map_index_math():
    assert map_length([2, 3]) == 6 and map_length([]) == 0 and map_length([4, 0]) == 0
    assert [unravel(i, [2, 3]) for i in range(6)] == all_combinations([2, 3])
    assert unravel(5, [2, 3]) == (1, 2) and unravel(0, [1]) == (0,)
    with pytest.raises(IndexError, match="map index 6 out of range for 6"):
        unravel(6, [2, 3])


def test_run_state():
    assert run_state(0) == "success" and run_state(2) == "failed"

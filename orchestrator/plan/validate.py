"""Plan validation: every problem of a DAG at once, each naming the DAG, file:line and task.

``validate_dag(dag)`` checks a DAG object before it is compiled (schedule, time zone,
start_date, limits, Lambda timeouts, params, mapping, assets, unknown upstreams, cycles);
``validate_plan(plan)`` checks a ``StepPlan`` read from JSON (ids, references, cycles,
assets). Both return a list of messages; ``compile_dag`` raises ``PlanValidationError``
with all of them. Every check is linear in the number of tasks and dependencies.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from orchestrator.authoring._stack import short_path
from orchestrator.authoring.assets import asset_uri_problem
from orchestrator.authoring.xcom_arg import XComArg
from orchestrator.constants import LAMBDA_MAX_TIMEOUT_S
from orchestrator.plan.params import schema_problem, value_problem
from orchestrator.plan.schedule import normalize_schedule

if TYPE_CHECKING:
    from orchestrator.authoring.baseoperator import BaseOperator
    from orchestrator.authoring.dag import DAG
    from orchestrator.plan.model import StepPlan

LAMBDA_MIN_MEMORY_MB = 128
LAMBDA_MAX_MEMORY_MB = 10240
MAX_SUGGESTIONS = 20  # difflib suggestions are O(n) each: only for the first few unknown ids
MAX_CYCLES = 10

TOO_LONG_ADVICE = (
    "split the work into smaller tasks (e.g. .expand() over chunks of the input), or start the "
    "long job on ECS/AWS Batch/Glue from a short task and wait for it with a sensor-style task "
    "that retries"
)


def dag_where(dag: DAG) -> str:
    return f"DAG '{dag.dag_id}' ({short_path(dag.fileloc)}:{dag.lineno})"


def task_where(dag: DAG, op: BaseOperator) -> str:
    return f"Task '{op.task_id}' in DAG '{dag.dag_id}' ({short_path(op.fileloc)}:{op.lineno})"


def timeouts_within(plan: StepPlan, worker_timeout_s: int) -> list[str]:
    """Tasks of ``plan`` whose ``execution_timeout``/``lambda_timeout`` exceed the worker
    function's Lambda timeout (template parameter ``WorkerTimeout``): Lambda would stop the
    try before the task's own limit, so they are refused when the plan is registered."""
    problems = []
    for step in plan.steps:
        where = f"Task '{step.task_id}' in DAG '{plan.dag_id}' ({step.module}:{step.line})"
        for setting, value in (("lambda_timeout", step.target.timeout_s), ("execution_timeout", step.execution_timeout_s)):
            if value is not None and value > worker_timeout_s:
                problems.append(
                    f"{where}: {setting} is {value:g} s, longer than the worker function's timeout of "
                    f"{worker_timeout_s} s (template parameter WorkerTimeout), so Lambda would stop the try first. "
                    f"Lower {setting} or deploy with WorkerTimeout of at least {int(-(-value // 1))} (900 at most)."
                )
    return problems


def validate_dag(dag: DAG) -> list[str]:
    """Every problem of ``dag`` (empty when it compiles)."""
    refused = refusal_problems(dag)
    if refused:
        return refused  # the other checks would only repeat what the stand-ins lack
    problems = _dag_level(dag)
    for op in dag.task_dict.values():
        problems.extend(_task_level(dag, op))
    upstream = {tid: op.upstream_task_ids for tid, op in dag.task_dict.items()}
    problems.extend(graph_problems(upstream, lambda tid: task_where(dag, dag.task_dict[tid])))
    from orchestrator.plan.setup_teardown import problems as setup_teardown_problems

    problems.extend(setup_teardown_problems(dag, lambda op: task_where(dag, op)))
    problems.extend(_mapped_group_problems(dag))
    return problems


# Rules Airflow 3.3 evaluates over every upstream instance before a mapped group's task is expanded
# (TriggerRuleDep._get_relevant_upstream_map_indexes, "fast-triggered").
_FAST_RULES = frozenset({"one_success", "one_failed", "one_done", "none_failed_min_one_success"})


def _mapped_group_problems(dag: DAG) -> list[str]:
    """What the engine's per-index rules for mapped task groups need (engine.groupmap): a task of the
    group that follows another task of the group depends on nothing outside the group but what the
    group maps over, and it is no setup, teardown or depends_on_past task."""
    problems: list[str] = []
    for op in dag.task_dict.values():
        if op.is_mapped and op._step_kind in ("branch", "short_circuit"):
            kind = "@task.branch" if op._step_kind == "branch" else "@task.short_circuit"
            problems.append(f"{task_where(dag, op)}: a mapped {kind} (by .expand() or in a mapped task group) is not "
                            "supported by Stratus (Airflow 3.3.2's dag.test() does not apply its skips per map index "
                            "either); decide in one unmapped task before the mapping, or skip inside the mapped task "
                            "(raise AirflowSkipException).")
        group = op.mapped_group
        if group is None:
            continue
        where = task_where(dag, op)
        if op.is_setup or op.is_teardown or op.depends_on_past:
            what = "setup" if op.is_setup else "teardown" if op.is_teardown else "depends_on_past"
            problems.append(f"{where}: a {what} task inside mapped task group '{group.group_id}' is not supported "
                            "by Stratus; move it outside the group.")
        members = {t.task_id for t in group.iter_tasks()}
        inner = op.upstream_task_ids & members
        if not inner:
            continue  # a root of the group: a mapped task like any other
        sources = {ref.operator.task_id for ref in group.expand_input.references()}
        rule = op.trigger_rule.value
        if rule in _FAST_RULES and op.upstream_task_ids - members:
            problems.append(
                f"{where}: trigger_rule '{rule}' on a task that follows another task of mapped task group "
                f"'{group.group_id}' and also depends on a task outside the group is not supported by Stratus yet "
                "(Airflow 3.3 first decides it over every upstream instance); pass the value through a task of "
                "the group, or give it a rule decided per index (all_success, all_done, none_failed, ...).")
        outside = sorted(op.upstream_task_ids - members - sources)
        if outside:
            problems.append(
                f"{where}: depends on '{outside[0]}', outside mapped task group '{group.group_id}', but also on "
                "tasks inside it; Stratus decides such a task per map index from the group's tasks only. Make "
                f"'{outside[0]}' upstream of the whole group (`{outside[0]} >> group`) instead.")
    return problems


def refusal_problems(dag: DAG) -> list[str]:
    """The Airflow features ``dag`` uses that Stratus does not serve, one message per use (file:line)."""
    from orchestrator.authoring import unserved

    found: list[tuple[Any, str]] = []
    for value in unserved.find_unserved(dag.schedule):
        found.append((unserved.refusal_of(value, (dag.fileloc, dag.lineno)), f"DAG '{dag.dag_id}' (schedule)"))
    for op in dag.task_dict.values():
        subject = f"Task '{op.task_id}' in DAG '{dag.dag_id}'"
        refusal = getattr(op, "_refusal", None)
        if refusal is not None:
            found.append((refusal, subject))
        for value in unserved.find_unserved([*op.outlets, *op.inlets]):
            found.append((unserved.refusal_of(value, (op.fileloc, op.lineno)), subject))
        fn = getattr(op, "python_callable", None)
        for _, value, (file, line) in unserved.names_used_by(fn):
            found.append((unserved.refusal_of(value)._replace(file=file, line=line), subject))
    for asset in _schedule_assets(dag.schedule):
        if getattr(asset, "watchers", None):
            found.append((unserved.Refusal(
                f"Asset({asset.uri!r}, watchers=[...])", "asset watchers (event-driven scheduling)",
                "Stratus starts runs from S3 object events for s3:// assets by itself (drop the watchers); for "
                "another source, emit the asset from a task's outlets or trigger the DAG through the API",
                dag.fileloc, dag.lineno), f"DAG '{dag.dag_id}' (schedule)"))
    by_tasks = {r.name for r, _ in found if not isinstance(r, str)}
    # A name already reported at the task that uses it is not repeated for the DAG (its decorator line).
    found.extend((r, f"DAG '{dag.dag_id}'") for r in getattr(dag, "refusals", [])
                 if isinstance(r, str) or r.name not in by_tasks)
    out: list[str] = []
    seen: set[Any] = set()
    for refusal, subject in found:
        if isinstance(refusal, str):  # an UnservedFeatureError's own message (file:line included)
            if refusal not in seen:
                seen.add(refusal)
                out.append(refusal)
            continue
        key = (refusal.file, refusal.line, refusal.name)
        if key not in seen:
            seen.add(key)
            out.append(refusal.message(subject))
    return out


def _schedule_assets(schedule: Any) -> list[Any]:
    from orchestrator.authoring.assets import BaseAsset

    if isinstance(schedule, BaseAsset):
        return schedule.iter_assets()
    if isinstance(schedule, (list, tuple)):
        return [a for item in schedule if isinstance(item, BaseAsset) for a in item.iter_assets()]
    return []


def _dag_level(dag: DAG) -> list[str]:
    where = dag_where(dag)
    problems: list[str] = []
    schedule, sched_problems = normalize_schedule(dag.schedule, dag.start_date)
    problems.extend(f"{where}: {p}." for p in sched_problems)
    for name in ("start_date", "end_date"):
        value = getattr(dag, name)
        if value is not None and not isinstance(value, datetime):
            problems.append(f"{where}: {name} must be a datetime, got {value!r}; write datetime(2026, 1, 1).")
    from orchestrator.plan.compiler import runs_from_now

    if schedule is not None and schedule.kind in ("cron", "timedelta", "once") and dag.start_date is None \
            and not runs_from_now(dag):
        shown = dag.schedule if isinstance(dag.schedule, str) else schedule.expression or dag.schedule
        problems.append(
            f"{where}: has schedule {shown!r} but no start_date; add start_date=datetime(2026, 1, 1) "
            "(a fixed date: runs are scheduled from it), or set schedule=None for manual runs."
        )
    if isinstance(dag.start_date, datetime) and isinstance(dag.end_date, datetime):
        try:
            if dag.end_date < dag.start_date:
                problems.append(f"{where}: end_date {dag.end_date} is before start_date {dag.start_date}.")
        except TypeError:
            problems.append(f"{where}: start_date and end_date must both be naive or both have a time zone.")
    for name in ("max_active_runs", "max_active_tasks"):
        value = getattr(dag, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            problems.append(f"{where}: {name} must be a positive integer, got {value!r}.")
    if not isinstance(dag.catchup, bool):
        problems.append(f"{where}: catchup must be True or False, got {dag.catchup!r}.")
    if dag.dagrun_timeout is not None and not isinstance(dag.dagrun_timeout, timedelta):
        problems.append(f"{where}: dagrun_timeout must be a timedelta, got {dag.dagrun_timeout!r}.")
    for name in sorted(dag.params):
        param = dag.params[name]
        pwhere = f"Param '{name}' of {where}"
        problem = schema_problem(param.schema)
        if problem:
            problems.append(f"{pwhere}: {problem}; fix the Param's keywords.")
            continue
        if param.has_value:
            problem = value_problem(param.value, param.schema)
            if problem:
                problems.append(f"{pwhere}: default {param.value!r} is invalid: {problem}. Fix the default or the schema.")
    return problems


def _task_level(dag: DAG, op: BaseOperator) -> list[str]:
    # Most tasks have nothing to report: check cheaply first, build messages only on a problem.
    if (
        op.execution_timeout is None
        and op.lambda_timeout is None
        and op.lambda_memory is None
        and op.expand_input is None
        and not op.outlets
        and op.retries >= 0
        and op.retry_delay.days >= 0
        and not getattr(op, "wait_for_past_depends_before_skipping", False)
        and not getattr(op, "params", None)
    ):
        return []
    where = task_where(dag, op)
    problems: list[str] = []
    if op.execution_timeout is not None:
        seconds = op.execution_timeout.total_seconds()
        if seconds > LAMBDA_MAX_TIMEOUT_S:
            problems.append(
                f"{where}: execution_timeout is {seconds:g} s, above AWS Lambda's {LAMBDA_MAX_TIMEOUT_S} s "
                f"limit for one task: {TOO_LONG_ADVICE}."
            )
        elif seconds <= 0:
            problems.append(f"{where}: execution_timeout must be positive, got {seconds:g} s.")
    if op.lambda_timeout is not None:
        if op.lambda_timeout > LAMBDA_MAX_TIMEOUT_S:
            problems.append(
                f"{where}: lambda_timeout is {op.lambda_timeout} s, above AWS Lambda's "
                f"{LAMBDA_MAX_TIMEOUT_S} s maximum: {TOO_LONG_ADVICE}."
            )
        elif op.lambda_timeout < 1:
            problems.append(f"{where}: lambda_timeout must be at least 1 s, got {op.lambda_timeout}.")
        elif op.execution_timeout is not None and op.execution_timeout.total_seconds() > op.lambda_timeout:
            problems.append(
                f"{where}: execution_timeout ({op.execution_timeout.total_seconds():g} s) is longer than "
                f"lambda_timeout ({op.lambda_timeout} s), so Lambda would stop the task first; raise "
                "lambda_timeout or lower execution_timeout."
            )
    if op.lambda_memory is not None and not LAMBDA_MIN_MEMORY_MB <= op.lambda_memory <= LAMBDA_MAX_MEMORY_MB:
        problems.append(
            f"{where}: lambda_memory is {op.lambda_memory} MB; AWS Lambda allows "
            f"{LAMBDA_MIN_MEMORY_MB} to {LAMBDA_MAX_MEMORY_MB} MB."
        )
    if op.retries < 0:
        problems.append(f"{where}: retries must be 0 or more, got {op.retries}.")
    if op.retry_delay.total_seconds() < 0:
        problems.append(f"{where}: retry_delay must not be negative.")
    if getattr(op, "wait_for_past_depends_before_skipping", False):
        problems.append(
            f"{where}: wait_for_past_depends_before_skipping=True is not supported (a task skipped by its "
            "upstream is skipped at once, without waiting for the previous run); remove it."
        )
    for name, param in sorted((getattr(op, "params", None) or {}).items()):
        problem = schema_problem(param.schema)
        if problem is None and param.has_value:
            problem = value_problem(param.value, param.schema)
            problem = f"default {param.value!r} is invalid: {problem}" if problem else None
        if problem:
            problems.append(f"Param '{name}' of {where}: {problem}; fix the Param.")
    if op.expand_input is not None:
        problems.extend(_mapping_problems(where, op))
    for asset in op.outlets:
        problem = asset_uri_problem(asset.uri)
        if problem:
            problems.append(f"{where}: {problem}.")
    return problems


def _mapping_problems(where: str, op: BaseOperator) -> list[str]:
    assert op.expand_input is not None
    problems: list[str] = []
    if op.expand_input.kind == "expand":
        for name, value in op.expand_input.value.items():
            if isinstance(value, (XComArg, list, tuple, dict)):
                continue
            problems.append(
                f"{where}: cannot expand over argument '{name}' = {value!r} ({type(value).__name__}); "
                f"expand() takes a list, a dict or an upstream task's output; use .partial({name}=...) "
                "for a constant."
            )
    else:
        value = op.expand_input.value
        if not isinstance(value, XComArg) and not (
            isinstance(value, (list, tuple)) and all(isinstance(v, dict) for v in value)
        ):
            problems.append(f"{where}: expand_kwargs() takes a list of dicts or an upstream output, got {value!r}.")
    for ref in op.expand_input.references():
        if ref.operator.task_id not in op.upstream_task_ids:
            problems.append(f"{where}: maps over '{ref.operator.task_id}', which is not upstream of it.")
    return problems


def graph_problems(upstream: Mapping[str, Iterable[str]], where: Callable[[str], str]) -> list[str]:
    """Unknown upstream ids (with a suggestion) and cycles (printed ``a >> b >> a``)."""
    problems: list[str] = []
    ids = list(upstream)
    known = set(ids)
    suggestions_left = MAX_SUGGESTIONS
    clean: dict[str, list[str]] = {}
    for tid in ids:
        ups = sorted(upstream[tid])
        for up in ups:
            if up in known:
                continue
            hint = ""
            if suggestions_left > 0:
                suggestions_left -= 1
                close = difflib.get_close_matches(up, ids, n=1)
                if close:
                    hint = f" Did you mean '{close[0]}'?"
            if not hint:
                hint = " Define that task or remove the dependency."
            problems.append(f"{where(tid)}: depends on '{up}', which does not exist.{hint}")
        clean[tid] = [u for u in ups if u in known]
    remaining = _unsorted(clean)
    if not remaining:
        return problems
    for cycle in find_cycles({tid: ups for tid, ups in clean.items() if tid in remaining}):
        problems.append(
            f"{where(cycle[0])}: is part of a cycle: {' >> '.join(cycle)}. "
            "Remove one of these dependencies; a DAG must not loop."
        )
    return problems


def _unsorted(upstream: dict[str, list[str]]) -> set[str]:
    """Tasks Kahn's algorithm cannot order (on or behind a cycle); empty for a DAG. O(V + E)."""
    downstream: dict[str, list[str]] = {tid: [] for tid in upstream}
    indegree = {}
    for tid, ups in upstream.items():
        indegree[tid] = len(ups)
        for up in ups:
            downstream[up].append(tid)
    ready = [tid for tid, n in indegree.items() if n == 0]
    while ready:
        tid = ready.pop()
        for down in downstream[tid]:
            indegree[down] -= 1
            if indegree[down] == 0:
                ready.append(down)
    return {tid for tid, n in indegree.items() if n > 0}


def find_cycles(upstream: dict[str, list[str]]) -> list[list[str]]:
    """Cycles as paths ``[a, b, a]`` (a runs before b runs before a); iterative DFS, O(V + E)."""
    downstream: dict[str, list[str]] = {tid: [] for tid in upstream}
    for tid, ups in upstream.items():
        for up in ups:
            if up in downstream:
                downstream[up].append(tid)
    color = dict.fromkeys(upstream, 0)  # 0 new, 1 on the current path, 2 done
    cycles: list[list[str]] = []
    for start in upstream:
        if color[start]:
            continue
        color[start] = 1
        path = [start]
        pos = {start: 0}
        stack = [iter(downstream[start])]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                node = path.pop()
                del pos[node]
                color[node] = 2
                continue
            if color[nxt] == 1:
                cycles.append(path[pos[nxt]:] + [nxt])
                if len(cycles) >= MAX_CYCLES:
                    return cycles
            elif color[nxt] == 0:
                color[nxt] = 1
                pos[nxt] = len(path)
                path.append(nxt)
                stack.append(iter(downstream[nxt]))
    return cycles


def validate_plan(plan: StepPlan) -> list[str]:
    """Problems of a ``StepPlan`` (e.g. read from JSON): ids, references, cycles, assets."""
    def where(tid: str) -> str:
        step = by_id.get(tid)
        line = f":{step.line}" if step is not None and step.line else ""
        module = step.module if step is not None else plan.fileloc
        return f"Task '{tid}' in DAG '{plan.dag_id}' ({module}{line})"

    problems: list[str] = []
    by_id: dict[str, Any] = {}
    for step in plan.steps:
        if step.task_id in by_id:
            problems.append(f"{where(step.task_id)}: the task id is used twice; give each task a unique task_id.")
        by_id[step.task_id] = step
    upstream = {s.task_id: s.upstream for s in plan.steps}
    problems.extend(graph_problems(upstream, where))
    for step in plan.steps:
        for down in step.downstream:
            if down in by_id and step.task_id not in by_id[down].upstream:
                problems.append(f"{where(step.task_id)}: lists '{down}' downstream, but '{down}' does not list it upstream.")
        if step.mapping is not None:
            for src in step.mapping.sources:
                if src not in step.upstream:
                    problems.append(f"{where(step.task_id)}: maps over '{src}', which is not upstream of it.")
        for uri in step.outlets:
            problem = asset_uri_problem(uri)
            if problem:
                problems.append(f"{where(step.task_id)}: {problem}.")
    try:
        json.dumps(plan.model_dump(mode="json"))
    except (TypeError, ValueError) as exc:  # pragma: no cover - pydantic guarantees this
        problems.append(f"DAG '{plan.dag_id}': the plan is not JSON: {exc}")
    return problems

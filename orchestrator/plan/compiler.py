"""Compile a ``DAG`` into a ``StepPlan``: validate, order the steps, encode the arguments.

The pipeline is: validate everything (``validate.validate_dag``; all problems at once), order
the tasks topologically (Kahn's algorithm, ties broken by definition order, so the same file
gives the same plan in every process), then turn each task into a ``Step`` and hash the plan.
Linear in tasks + dependencies (plus a log factor for the ordering heap).
"""

from __future__ import annotations

import heapq
import math
import os
import re
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from orchestrator.authoring.baseoperator import MAPPED
from orchestrator.authoring.xcom_arg import XComArg
from orchestrator.constants import WORKER
from orchestrator.errors import PlanValidationError
from orchestrator.plan import setup_teardown
from orchestrator.plan.model import StepPlan
from orchestrator.plan.params import param_specs
from orchestrator.plan.schedule import normalize_schedule
from orchestrator.plan.validate import validate_dag

if TYPE_CHECKING:
    from orchestrator.authoring.baseoperator import BaseOperator
    from orchestrator.authoring.dag import DAG

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_TAGS = ("$xcom", "$repr", "$zip", "$concat")


def relative_fileloc(dag: DAG, dags_root: str | None = None) -> str:
    """The DAG file relative to the DAGs root (POSIX separators).

    The root is ``dags_root``, else the folder the loader loaded the DAG from, else the
    file's own folder.
    """
    root = dags_root or dag.dags_root or os.path.dirname(os.path.abspath(dag.fileloc))
    rel = os.path.relpath(os.path.abspath(dag.fileloc), os.path.abspath(root))
    return rel.replace(os.sep, "/")


def stable_repr(value: Any) -> str:
    """``repr`` without memory addresses, so plans hash the same in every process."""
    if isinstance(value, type) or callable(value) and hasattr(value, "__qualname__"):
        kind = "class" if isinstance(value, type) else "function"
        return f"<{kind} {value.__qualname__}>"
    if isinstance(value, (set, frozenset)):
        return "{" + ", ".join(sorted(stable_repr(v) for v in value)) + "}"
    return _ADDRESS.sub("", repr(value))


def encode(value: Any) -> Any:
    """JSON form of an argument: literals as is, ``XComArg`` as ``$xcom``, the rest as ``$repr``."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$repr": repr(value)}
    if isinstance(value, XComArg):
        return _encoded_ref(value.to_ref())
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return [encode(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value) and not any(t in value for t in _TAGS):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, (datetime, date, timedelta)):
        return {"$repr": repr(value)}
    return {"$repr": stable_repr(value)}


def _encoded_ref(ref: dict[str, Any]) -> dict[str, Any]:
    """An upstream-output reference with a zip's ``fillvalue`` (the one value it carries as
    written) in JSON form, at any depth of ``$zip``/``$concat``."""
    out = dict(ref)
    for tag in ("$zip", "$concat"):
        if tag in out:
            out[tag] = [_encoded_ref(part) for part in out[tag]]
    if "fillvalue" in out:
        out["fillvalue"] = encode(out["fillvalue"])
    return out


def _iso(value: Any) -> str | None:
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.isoformat()


def topological_order(dag: DAG) -> list[BaseOperator]:
    """Tasks so that every task comes after its upstreams; ties in definition order."""
    tasks = dag.task_dict
    indegree = {tid: len(op.upstream_task_ids) for tid, op in tasks.items()}
    heap = [(op._index, tid) for tid, op in tasks.items() if indegree[tid] == 0]
    heapq.heapify(heap)
    order: list[BaseOperator] = []
    while heap:
        _, tid = heapq.heappop(heap)
        op = tasks[tid]
        order.append(op)
        for down in op.downstream_task_ids:
            indegree[down] -= 1
            if indegree[down] == 0:
                heapq.heappush(heap, (tasks[down]._index, down))
    if len(order) != len(tasks):  # validate_dag reports cycles first; this is a safety net
        raise PlanValidationError([f"DAG '{dag.dag_id}': the tasks form a cycle."])
    return order


def _step(op: BaseOperator, module: str, dag_file: str) -> dict[str, Any]:
    python_like = hasattr(op, "python_callable") and hasattr(op, "op_kwargs")
    if python_like:
        raw_args = op.op_args  # type: ignore[attr-defined]
        raw_kwargs = op.op_kwargs  # type: ignore[attr-defined]
        op_args = [] if raw_args is MAPPED else [encode(v) for v in raw_args]
        args = {} if raw_kwargs is MAPPED else {k: encode(v) for k, v in raw_kwargs.items()}
        fn = op.python_callable  # type: ignore[attr-defined]
        callable_name = getattr(fn, "__qualname__", None) or stable_repr(fn)
    else:
        op_args = []
        args = {}
        for name in op.template_fields:
            value = getattr(op, name, None)
            if value is not None and value is not MAPPED:
                args[name] = encode(value)
        callable_name = None
    mapping: dict[str, Any] | None = None
    mgroup = op.mapped_group
    # A task in a mapped task group is mapped with the group's expansion (engine.groupmap).
    expand_input = op.expand_input or (mgroup.expand_input if mgroup is not None else None)
    if expand_input is not None:
        refs = {ref.operator.task_id for ref in expand_input.references()}
        sources = sorted(refs if op.expand_input is not None else refs & op.upstream_task_ids)
        if expand_input.kind == "expand":
            mapping = {"kind": "expand", "expand": {k: encode(v) for k, v in expand_input.value.items()},
                       "sources": sources}
        else:
            mapping = {"kind": "expand_kwargs", "expand_kwargs": encode(expand_input.value), "sources": sources}
    group = op.task_group.group_id if op.task_group is not None else None
    # Plain dicts: the whole plan is validated in one pydantic call (much faster than one
    # model per step for 10,000 steps).
    return dict(
        task_id=op.task_id,
        operator=type(op).__name__,
        kind=op._step_kind,  # type: ignore[arg-type]
        module=module,
        callable=callable_name,
        line=op.lineno if op.fileloc == dag_file else None,
        upstream=sorted(op.upstream_task_ids),
        downstream=sorted(op.downstream_task_ids),
        trigger_rule=op.trigger_rule.value,
        retry={
            "retries": op.retries,
            "retry_delay_s": op.retry_delay.total_seconds(),
            "exponential_backoff": op.retry_exponential_backoff,
            "max_retry_delay_s": op.max_retry_delay.total_seconds() if op.max_retry_delay is not None else None,
        },
        execution_timeout_s=op.execution_timeout.total_seconds() if op.execution_timeout is not None else None,
        target={"function": op.lambda_function or WORKER, "memory_mb": op.lambda_memory,
                "timeout_s": op.lambda_timeout},
        group=group,
        mapping=mapping,
        op_args=op_args,
        args=args,
        multiple_outputs=bool(getattr(op, "multiple_outputs", False)),
        ignore_downstream_trigger_rules=bool(getattr(op, "ignore_downstream_trigger_rules", True)),
        outlets=[a.uri for a in op.outlets],
        other_dags=sorted({d for d in (getattr(op, "trigger_dag_id", None), getattr(op, "external_dag_id", None))
                           if isinstance(d, str)}),
        template_fields=list(op.template_fields),
        callbacks=op.callbacks,
        doc=op.doc_md or op.doc,
        map_group=mgroup.group_id if mgroup is not None else None,
        past={"wait_for_downstream": bool(getattr(op, "wait_for_downstream", False)),
              "ignore_first": bool(getattr(op, "ignore_first_depends_on_past", False))}
        if getattr(op, "depends_on_past", False) else None,
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def runs_from_now(dag: Any) -> bool:
    """A timetable object (CronTriggerTimetable, CronPartitionTimetable) without start_date and catchup: as in
    Airflow 3 it runs from its next fire time (the plan's start is the epoch; without catchup only the latest
    due run is ever made), as an ``@asset`` with a timetable does."""
    from orchestrator.authoring.timetables import CronTriggerTimetable

    return dag.start_date is None and isinstance(dag.schedule, CronTriggerTimetable) and not dag.catchup


def compile_dag(dag: DAG, dags_root: str | None = None) -> StepPlan:
    """Validate ``dag`` and compile it to a hashed ``StepPlan``.

    ``dags_root`` is the folder ``Step.module``/``fileloc`` are relative to (see
    ``relative_fileloc``).

    Raises:
        PlanValidationError: with every problem found, each naming DAG, file:line and task.
    Example::

        plan = compile_dag(DagBag("dags").get_dag("etl_taskflow"), "dags")
        print(plan.hash, [s.task_id for s in plan.steps])
    """
    problems = validate_dag(dag)
    if problems:
        raise PlanValidationError(problems)
    schedule, _ = normalize_schedule(dag.schedule, dag.start_date)
    assert schedule is not None
    module = relative_fileloc(dag, dags_root)
    dag_file = dag.fileloc
    steps = [_step(op, module, dag_file) for op in topological_order(dag)]
    setup_teardown.annotate(dag, steps)
    timeout = dag.dagrun_timeout.total_seconds() if dag.dagrun_timeout is not None else None
    plan = StepPlan.model_validate(dict(
        dag_id=dag.dag_id,
        fileloc=module,
        schedule=schedule,
        start_date=_iso(dag.start_date if dag.start_date is not None or not runs_from_now(dag) else _EPOCH),
        end_date=_iso(dag.end_date),
        catchup=dag.catchup,
        max_active_runs=dag.max_active_runs,
        max_active_tasks=dag.max_active_tasks,
        dagrun_timeout_s=timeout,
        tags=list(dag.tags),
        doc_md=dag.doc_md,
        description=dag.description,
        params=param_specs(dag),
        callbacks=dag.callbacks,
        is_paused_upon_creation=dag.is_paused_upon_creation,
        steps=steps,
    ))
    return plan.with_hash()

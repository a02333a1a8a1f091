"""Dynamic task mapping at run time: how many instances, and each instance's arguments.

A mapped step is expanded when it becomes ready: the engine counts the instances (cross
product of the ``expand`` lists, or the length of the ``expand_kwargs`` list) and records
``map_count#{task}`` and ``map_lens#{task}`` on the run item; ``engine.expansion`` then
creates the instances chunk by chunk. Each instance's worker then
computes its own arguments from its map index with ``rules.unravel`` and reads only the
elements it needs (one XCom per mapped argument), so a 1,000-way map over a 1,000-way map
stays linear in reads.

Literal lists come from the DAG file's operator (its real Python values) when the DAG is
loaded, else from the plan JSON. Upstream outputs are ``(task_id, key)`` references: a
mapped upstream contributes one element per instance (in map-index order), a plain upstream
contributes the list (or dict items) it returned.

A plain upstream's list is read once per process per expansion, not once per instance: the
worker keeps the last few lists it read (``_LISTS``), keyed by the expansion's token
(``map_gen#{task}``, written once by the expansion and removed by a clear), so the instances of
one lane that a warm worker runs one after another read it once. A re-expansion (after a
clear) has a new token and reads the upstream again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.engine import counters as ck
from orchestrator.engine.rules import map_length, unravel
from orchestrator.errors import TaskExecutionError
from orchestrator.plan.model import Step, StepPlan


@dataclass(frozen=True)
class Source:
    """One mapped-over input: a literal list, a reference to an upstream output, or a ``zip`` /
    ``concat`` of such references (``how`` and ``parts``)."""

    name: str | None  # kwarg name (expand) or None (expand_kwargs)
    literal: list[Any] | None = None
    task_id: str | None = None
    key: str | None = None
    how: str | None = None  # "zip" | "concat"
    parts: tuple[Source, ...] = ()
    fill: bool = False  # zip with a fillvalue: as long as the longest part
    fillvalue: Any = None
    item_fn: Any = None  # a part's ``.map()`` (the DAG file's MapXComArg), applied to its items


def _as_source(name: str | None, value: Any) -> Source:
    from orchestrator.authoring.xcom_arg import MapXComArg, ZipXComArg, _Combined, NOTSET

    if isinstance(value, MapXComArg) and value.inner is not None:
        value = value.inner  # the top-level .map() is applied by the operator (_mapped_items)
    if isinstance(value, _Combined):
        parts = tuple(_part(a) for a in value.args)
        if isinstance(value, ZipXComArg):
            fill = value.fillvalue is not NOTSET
            return Source(name, how="zip", parts=parts, fill=fill, fillvalue=value.fillvalue if fill else None)
        return Source(name, how="concat", parts=parts)
    op = getattr(value, "operator", None)
    if op is not None and hasattr(value, "key"):  # an XComArg from the DAG file
        return Source(name, task_id=op.task_id, key=value.key)
    if isinstance(value, dict) and ("$zip" in value or "$concat" in value):
        how = "zip" if "$zip" in value else "concat"
        return Source(name, how=how, parts=tuple(_as_source(None, v) for v in value["$" + how]),
                      fill="fillvalue" in value, fillvalue=value.get("fillvalue"))
    if isinstance(value, dict) and "$xcom" in value:
        return Source(name, task_id=value["$xcom"], key=value.get("key"))
    if isinstance(value, dict):
        return Source(name, literal=[(k, v) for k, v in value.items()])
    return Source(name, literal=list(value))


def _part(arg: Any) -> Source:
    from orchestrator.authoring.xcom_arg import MapXComArg

    src = _as_source(None, arg)
    if isinstance(arg, MapXComArg):
        from dataclasses import replace

        return replace(src, item_fn=arg.apply)
    return src


def sources(step: Step, task: Any = None) -> tuple[str, list[Source]]:
    """The mapping kind and its inputs, preferring the loaded operator's values over the plan's."""
    expand_input = getattr(task, "expand_input", None) if task is not None else None
    if expand_input is None and task is not None and step.map_group is not None:
        group = getattr(task, "mapped_group", None)  # a task in a mapped task group: the group's input
        expand_input = getattr(group, "expand_input", None)
    if expand_input is not None:
        kind, value = expand_input.kind, expand_input.value
    else:
        assert step.mapping is not None
        kind = step.mapping.kind
        value = step.mapping.expand if kind == "expand" else step.mapping.expand_kwargs
    if kind == "expand":
        return kind, [_as_source(name, v) for name, v in dict(value).items()]
    return kind, [_as_source(None, value)]


def _upstream_list(plan: StepPlan, run: dict[str, Any], store: Any, src: Source, *, where: str,
                   gen: str | None = None) -> list[Any] | int:
    """A mapped upstream's instance count, or a plain upstream's returned list.

    ``gen``: the expansion's token; with it the list is remembered for the next instances.
    """
    assert src.task_id is not None
    up = plan.step(src.task_id)
    if up.mapping is not None:
        return int(run.get(ck.map_count(src.task_id), 0) or 0)
    key = (run["dag_id"], run["run_id"], src.task_id, src.key, gen)
    if gen is not None and key in _LISTS:
        return _LISTS[key]
    got = _read_list(plan, run, store, src, where=where)
    if gen is not None and len(got) <= LIST_CACHE_MAX_LEN:
        while len(_LISTS) >= LIST_CACHE_ENTRIES:
            _LISTS.pop(next(iter(_LISTS)), None)
        _LISTS[key] = got
    return got


# (dag_id, run_id, upstream task, key, expansion token) -> the upstream's list, oldest first.
_LISTS: dict[tuple[Any, ...], list[Any]] = {}
LIST_CACHE_ENTRIES = 4
LIST_CACHE_MAX_LEN = 100_000


def _read_list(plan: StepPlan, run: dict[str, Any], store: Any, src: Source, *, where: str) -> list[Any]:
    assert src.task_id is not None
    value = store.get_xcom(run["dag_id"], run["run_id"], src.task_id, -1)
    if src.key is not None:
        value = value[src.key] if isinstance(value, dict) and src.key in value else None
    if isinstance(value, dict):
        return [(k, v) for k, v in value.items()]
    if isinstance(value, (list, tuple)):
        return list(value)
    label = src.task_id + (f"[{src.key!r}]" if src.key else "")
    raise TaskExecutionError(
        f"{where} maps over the output of '{label}', which is {type(value).__name__} ({str(value)[:80]!r}); "
        "a mapped task needs a list or a dict. Make the upstream task return one."
    )


def _length(plan: StepPlan, run: dict[str, Any], store: Any, src: Source, *, where: str,
            gen: str | None = None) -> int:
    if src.literal is not None:
        return len(src.literal)
    if src.how is not None:
        lens = [_length(plan, run, store, p, where=where, gen=gen) for p in src.parts]
        if src.how == "zip":
            return (max(lens) if src.fill else min(lens)) if lens else 0
        return sum(lens)
    got = _upstream_list(plan, run, store, src, where=where, gen=gen)
    return got if isinstance(got, int) else len(got)


def lengths(plan: StepPlan, step: Step, run: dict[str, Any], store: Any, task: Any = None) -> tuple[str, list[int]]:
    """``(kind, per-source lengths)`` for expanding ``step`` now. Raises TaskExecutionError."""
    where = f"Mapped task '{step.task_id}' in DAG '{plan.dag_id}'"
    kind, srcs = sources(step, task)
    return kind, [_length(plan, run, store, src, where=where) for src in srcs]


def count(kind: str, lens: list[int]) -> int:
    """Number of instances: product of the lengths (expand) or the list length (expand_kwargs)."""
    return map_length(lens) if kind == "expand" else (lens[0] if lens else 0)


def _element(plan: StepPlan, run: dict[str, Any], store: Any, src: Source, j: int, *, where: str,
             gen: str | None) -> Any:
    """Item ``j`` of one source, reading only what it needs (a zip or concat: its parts' items)."""
    if src.literal is not None:
        element = src.literal[j]
    elif src.how == "zip":
        out = []
        for p in src.parts:
            # Past a shorter part's end (a zip with a fillvalue): the fillvalue, as Airflow fills it.
            inside = not src.fill or j < _length(plan, _with_counts(plan, run, store, p), store, p, where=where,
                                                 gen=gen)
            out.append(_element(plan, run, store, p, j, where=where, gen=gen) if inside else src.fillvalue)
        element = tuple(out)
    elif src.how == "concat":
        for p in src.parts:
            n = _length(plan, _with_counts(plan, run, store, p), store, p, where=where, gen=gen)
            if j < n:
                element = _element(plan, run, store, p, j, where=where, gen=gen)
                break
            j -= n
        else:
            raise TaskExecutionError(f"{where}: map index past the end of the concatenated outputs.")
    elif plan.step(src.task_id or "").mapping is not None:
        element = store.get_xcom(run["dag_id"], run["run_id"], src.task_id, j)
        if src.key is not None:
            element = element[src.key] if isinstance(element, dict) else None
    else:
        got = _upstream_list(plan, run, store, src, where=where, gen=gen)
        assert isinstance(got, list)
        element = got[j]
    return src.item_fn(element) if src.item_fn is not None else element


def _with_counts(plan: StepPlan, run: dict[str, Any], store: Any, src: Source) -> dict[str, Any]:
    """``run`` with the instance counts of the mapped upstreams ``src`` reads (the worker's run
    snapshot holds only its own task's): one read of the run item when one is missing."""
    mapped = [p.task_id for p in _plain(src) if p.task_id and plan.step(p.task_id).mapping is not None]
    if all(ck.map_count(t) in run for t in mapped):
        return run
    return {**store.get_run(run["dag_id"], run["run_id"]), **{k: v for k, v in run.items() if k.startswith("map_")}}


def _plain(src: Source) -> list[Source]:
    return [q for p in src.parts for q in _plain(p)] if src.how is not None else [src]


def instance_kwargs(plan: StepPlan, step: Step, run: dict[str, Any], store: Any, map_index: int,
                    task: Any = None) -> dict[str, Any]:
    """The mapped arguments of instance ``map_index``, reading only the elements it needs."""
    where = f"Mapped task '{step.task_id}'[{map_index}] in DAG '{plan.dag_id}'"
    kind, srcs = sources(step, task)
    lens = [int(n) for n in (run.get(ck.map_lens(step.task_id)) or [])]
    if len(lens) != len(srcs):
        kind, lens = lengths(plan, step, run, store, task)
    idx = unravel(map_index, lens) if kind == "expand" else (map_index,)
    gen = run.get(ck.map_gen(step.task_id))
    out: dict[str, Any] = {}
    for src, j in zip(srcs, idx):
        element = _element(plan, run, store, src, j, where=where, gen=gen)
        if kind == "expand":
            out[src.name or ""] = element
        else:
            if not isinstance(element, dict):
                raise TaskExecutionError(
                    f"{where}: expand_kwargs needs a list of dicts, element {j} is {type(element).__name__}."
                )
            out.update(element)
    return out

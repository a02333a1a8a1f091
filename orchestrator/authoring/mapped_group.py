"""Mapped task groups: ``@task_group`` with ``.expand(...)``, ``.partial(...).expand(...)`` and
``.expand_kwargs(...)`` (Airflow 3's "Mapping over a task group").

Calling ``group.expand(x=[1, 2, 3])`` calls the group function once, with ``x`` a
``MappedArgument``; every task created inside is mapped with the group's expansion: three
instances each. At run time instance ``i`` of a task receives item ``i`` of the group's
arguments, and an output of another task in the group resolves to that task's instance ``i``
(``engine.runtime``); a task downstream of the group receives the list of every instance's
value. Trigger rules inside the group are evaluated per map index (``engine.groupmap``).

Like Airflow, the tasks the group maps over are made upstream of the group's roots.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from orchestrator.authoring.mapping import (ExpandInput, check_expand_kwargs_value, check_expand_values,
                                            check_not_partial)
from orchestrator.authoring.xcom_arg import MapXComArg, XComArg
from orchestrator.errors import DagDefinitionError

if TYPE_CHECKING:
    from orchestrator.authoring.baseoperator import BaseOperator
    from orchestrator.authoring.taskgroup import TaskGroup


class MappedArgument:
    """An argument of a mapped task group's function: item ``i`` of the group's mapped value in
    instance ``i`` of the task it is passed to."""

    __slots__ = ("group_id", "key")

    def __init__(self, group_id: str, key: str) -> None:
        self.group_id = group_id
        self.key = key

    def pick(self, values: dict[str, Any] | None) -> Any:
        """This argument's value among an instance's group values."""
        if values is None or self.key not in values:
            raise DagDefinitionError(
                f"The argument '{self.key}' of mapped task group '{self.group_id}' is only known inside the "
                "group's own tasks; pass it to a task created in the group function.")
        return values[self.key]

    def __iter__(self) -> Any:
        raise TypeError(f"The argument '{self.key}' of mapped task group '{self.group_id}' is not known until the "
                        "task runs, so it cannot be iterated while the DAG is defined.")

    def __repr__(self) -> str:
        return f"MappedArgument({self.group_id!r}, {self.key!r})"


def mapped_group_of(task_group: TaskGroup | None) -> TaskGroup | None:
    """The innermost mapped group that ``task_group`` is (or lies in), or None."""
    g = task_group
    while g is not None:
        if getattr(g, "expand_input", None) is not None:
            return g
        g = g.parent_group
    return None


def group_values(op: BaseOperator, values: dict[str, Any]) -> dict[str, Any]:
    """An instance's group values with the items of a ``.map(f)`` argument passed through ``f``."""
    group = mapped_group_of(op.task_group)
    if group is None or group.expand_input.kind != "expand":
        return values
    sources = group.expand_input.value
    return {k: sources[k].apply(v) if isinstance(sources.get(k), MapXComArg) else v for k, v in values.items()}


class GroupPartial:
    """``my_group.partial(**constant_kwargs)``; call ``.expand(...)`` or ``.expand_kwargs(...)`` next."""

    def __init__(self, fn: Callable[..., Any], group_kwargs: dict[str, Any], partial: dict[str, Any]) -> None:
        self.fn = fn
        self.group_kwargs = group_kwargs
        self.partial = partial

    @property
    def _name(self) -> str:
        return str(self.group_kwargs.get("group_id") or self.fn.__name__)

    def _where(self) -> str:
        from orchestrator.authoring import _stack

        dag = _stack.current_dag()
        in_dag = f" in DAG '{dag.dag_id}'" if dag is not None else ""
        path, line = _stack.caller_site()
        return f"Task group '{self._name}'{in_dag} ({_stack.short_path(path)}:{line})"

    def expand(self, **mapped: Any) -> Any:
        """One instance of every task in the group per item (cross product over several arguments)."""
        where = self._where()
        check_expand_values(mapped, where)
        check_not_partial(mapped, self.partial, where)
        self._check_names(set(mapped), where)
        return self._build(ExpandInput("expand", dict(mapped)), list(mapped), where)

    def expand_kwargs(self, value: Any) -> Any:
        """One instance of every task in the group per dict of arguments (or an upstream output of them)."""
        where = self._where()
        check_expand_kwargs_value(value, where)
        params = [p for p in inspect.signature(self.fn).parameters if p not in self.partial]
        if not isinstance(value, XComArg):
            for item in value:
                self._check_names(set(item), where)
        return self._build(ExpandInput("expand_kwargs", value), params, where)

    def _check_names(self, names: set[str], where: str) -> None:
        sig = inspect.signature(self.fn)
        if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
            return
        unknown = sorted(names - set(sig.parameters))
        if unknown:
            raise DagDefinitionError(f"{where}: the group function {self.fn.__name__}() has no argument "
                                     f"{unknown[0]!r} to map over.")

    def _build(self, expand_input: ExpandInput, names: list[str], where: str) -> Any:
        from orchestrator.authoring import _stack
        from orchestrator.authoring.dependencies import DependencyMixin
        from orchestrator.authoring.taskgroup import TaskGroup
        from orchestrator.authoring.unserved import UnservedFeatureError

        dag = _stack.current_dag()
        if mapped_group_of(_stack.current_group(dag)) is not None:
            in_dag = f" in DAG '{dag.dag_id}'" if dag is not None else ""
            raise UnservedFeatureError(  # the loader names the file and line
                f"Task group '{self._name}'{in_dag}: a mapped task group inside another mapped task group is not supported by Stratus; "
                "map the outer group only and loop inside a task, or flatten the two expansions with "
                "XComArg.zip() / a @task that builds the combined list.")
        gid = self._name
        opts = {k: v for k, v in self.group_kwargs.items() if k != "group_id"}
        opts.setdefault("add_suffix_on_collision", True)
        if opts.get("tooltip") is None and self.fn.__doc__:
            opts["tooltip"] = self.fn.__doc__.strip().splitlines()[0]
        with TaskGroup(gid, **opts) as group:
            group.expand_input = expand_input
            args = {name: MappedArgument(str(group.group_id), name) for name in names}
            result = self.fn(**self.partial, **args)
        tasks = list(group.iter_tasks())
        for op in tasks:
            if op.expand_input is not None:
                raise UnservedFeatureError(
                    f"Task '{op.task_id}' in mapped task group '{group.group_id}': a mapped task (.expand) inside "
                    "a mapped task group is not supported by Stratus; map the group only, and give the task the "
                    "whole list to loop over.")
        # Airflow (MappedTaskGroup.__exit__): what the group maps over is upstream of the group's roots.
        roots = group.roots
        for ref in expand_input.references():
            for root in roots:
                root.set_upstream(ref.operator)
        if isinstance(result, DependencyMixin):
            return result
        return group


def attach(build: Callable[..., Any], fn: Callable[..., Any], group_kwargs: dict[str, Any]) -> None:
    """Give a ``@task_group`` function its ``expand`` / ``partial`` / ``expand_kwargs``."""
    build.expand = lambda **mapped: GroupPartial(fn, group_kwargs, {}).expand(**mapped)  # type: ignore[attr-defined]
    build.expand_kwargs = lambda value: GroupPartial(fn, group_kwargs, {}).expand_kwargs(value)  # type: ignore[attr-defined]
    build.partial = lambda **kw: GroupPartial(fn, group_kwargs, kw)  # type: ignore[attr-defined]

"""Dynamic task mapping at definition time: ``expand``, ``expand_kwargs`` and ``partial``.

A mapped task records *what* it maps over (``ExpandInput``); the engine expands it at run
time into one task instance per item and passes each instance's values to
``BaseOperator.run(context, expanded_kwargs)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from orchestrator.authoring import _stack
from orchestrator.authoring.xcom_arg import MapXComArg, XComArg
from orchestrator.errors import DagDefinitionError

if TYPE_CHECKING:
    from orchestrator.authoring.baseoperator import BaseOperator


def _describe(task_id: str, site: tuple[str, int]) -> str:
    dag = _stack.current_dag()
    in_dag = f" in DAG '{dag.dag_id}'" if dag is not None else ""
    return f"Task '{task_id}'{in_dag} ({_stack.short_path(site[0])}:{site[1]})"


class _MappedArgument:
    """Placeholder for an argument whose value comes from ``expand`` at run time."""

    def __repr__(self) -> str:
        return "<mapped>"


MAPPED = _MappedArgument()


def iter_xcom_args(value: Any) -> Iterator[XComArg]:
    """Every plain ``XComArg`` inside ``value`` (walking lists, tuples, sets and dict values; a
    ``zip``/``concat`` gives each output it combines)."""
    if isinstance(value, XComArg):
        yield from value.parts()
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from iter_xcom_args(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from iter_xcom_args(item)


class ExpandInput:
    """What a mapped task maps over: ``expand`` kwargs, or an ``expand_kwargs`` list."""

    __slots__ = ("kind", "value")

    def __init__(self, kind: str, value: Any) -> None:
        self.kind = kind  # "expand" | "expand_kwargs"
        self.value = value  # expand: {name: list | XComArg}; expand_kwargs: list[dict] | XComArg

    def references(self) -> list[XComArg]:
        return list(iter_xcom_args(self.value))


def check_expand_values(mapped: dict[str, Any], where: str) -> None:
    """Each mapped value must be a list/tuple literal or an upstream output."""
    if not mapped:
        raise DagDefinitionError(f"{where}: expand() needs at least one argument to map over.")
    for name, value in mapped.items():
        if isinstance(value, (XComArg, dict)) or (isinstance(value, (list, tuple)) and not hasattr(value, "_fields")):
            continue
        raise DagDefinitionError(
            f"{where}: cannot expand over argument '{name}' = {value!r} ({type(value).__name__}). "
            f"expand() takes a list, a dict (one task per key/value pair) or an upstream task's output; "
            f"to pass the same value to every mapped task, use .partial({name}=...)."
        )


def check_not_partial(mapped: Iterable[str], partial: Iterable[str], where: str) -> None:
    """An argument is either mapped or given to ``partial()``, not both."""
    both = sorted(set(mapped) & set(partial))
    if both:
        raise DagDefinitionError(f"{where}: {both} given to both partial() and expand(); give each once.")


def check_expand_kwargs_value(value: Any, where: str) -> None:
    """``expand_kwargs`` takes a list of dicts or an upstream output."""
    if isinstance(value, MapXComArg):
        from orchestrator.authoring.unserved import UnservedFeatureError

        raise UnservedFeatureError(
            f"{where}: expand_kwargs() over an output's .map() is not supported yet; build the list of kwargs "
            "dicts in a @task and pass its output to expand_kwargs()."
        )
    if isinstance(value, XComArg):
        return
    if isinstance(value, (list, tuple)) and all(isinstance(item, dict) for item in value):
        return
    raise DagDefinitionError(
        f"{where}: expand_kwargs() takes a list of dicts (one dict of arguments per mapped task) "
        f"or an upstream task's output, got {value!r}."
    )


class OperatorPartial:
    """``SomeOperator.partial(task_id=..., **constant_kwargs)``; call ``.expand`` next."""

    def __init__(self, operator_class: type[BaseOperator], kwargs: dict[str, Any]) -> None:
        self.operator_class = operator_class
        self.kwargs = kwargs
        self._site = _stack.caller_site()

    def _where(self) -> str:
        dag = _stack.current_dag()
        group = _stack.current_group(dag)
        label = self.kwargs.get("task_id", "?")
        full = group.child_id(label) if group is not None else label
        return _describe(full, self._site)

    def expand(self, **mapped: Any) -> BaseOperator:
        """Create the mapped task: one instance per item (cross product over several kwargs)."""
        where = self._where()
        check_expand_values(mapped, where)
        self._check_names(mapped, where)
        op = self._create({name: MAPPED for name in mapped}, where)
        op._set_expand_input(ExpandInput("expand", dict(mapped)))
        return op

    def expand_kwargs(self, value: Any) -> BaseOperator:
        """Create the mapped task from a list of kwargs dicts (or an upstream output of one)."""
        where = self._where()
        check_expand_kwargs_value(value, where)
        if not isinstance(value, XComArg):
            for item in value:
                self._check_names(item, where)
        op = self._create({}, where)
        op._set_expand_input(ExpandInput("expand_kwargs", value))
        return op

    def _check_names(self, mapped: dict[str, Any], where: str) -> None:
        check_not_partial(mapped, self.kwargs, where)
        from orchestrator.authoring.baseoperator import accepted_params

        unknown = sorted(set(mapped) - accepted_params(self.operator_class))
        if unknown:
            raise DagDefinitionError(
                f"{where}: {self.operator_class.__name__} has no argument {unknown[0]!r} to map over."
            )

    def _create(self, placeholders: dict[str, Any], where: str) -> BaseOperator:
        op = self.operator_class(**self.kwargs, **placeholders)
        op._partial_kwargs = dict(self.kwargs)
        return op

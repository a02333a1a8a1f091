"""``XComArg``: a reference to the future output of a task.

Calling a TaskFlow task inside a DAG returns one; so does ``operator.output``. Passing it to
another task records the dependency and, at run time, the value is pulled from the upstream
task (``output["key"]`` indexes that value).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from orchestrator.authoring.dependencies import DependencyMixin

if TYPE_CHECKING:
    from orchestrator.authoring.baseoperator import BaseOperator


class _NotSet:
    def __repr__(self) -> str:
        return "NOTSET"


NOTSET: Any = _NotSet()


class XComArg(DependencyMixin):
    """The output of ``operator`` (whole return value, or ``[key]`` of it).

    Example::

        totals = summarise()          # XComArg
        report(total=totals["sum"])   # depends on summarise, receives its return_value["sum"]
    """

    __slots__ = ("operator", "key")

    def __init__(self, operator: BaseOperator, key: str | None = None) -> None:
        self.operator = operator
        self.key = key

    def as_setup(self) -> XComArg:
        """Mark the task behind this output a setup task (Airflow 3); returns this output."""
        self.operator.as_setup()
        return self

    def as_teardown(self, *, setups: Any = None, on_failure_fail_dagrun: bool | None = None) -> XComArg:
        """Mark the task behind this output a teardown of ``setups``; returns this output."""
        self.operator.as_teardown(setups=setups, on_failure_fail_dagrun=on_failure_fail_dagrun)
        return self

    def __enter__(self) -> XComArg:
        self.operator.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.operator.__exit__(*exc)

    def __getitem__(self, key: str) -> XComArg:
        if self.key is not None:
            from orchestrator.errors import DagDefinitionError

            raise DagDefinitionError(
                f"output[{self.key!r}][{key!r}] of task '{self.operator.task_id}': only one level of "
                "indexing is supported. Return the nested value under its own key instead."
            )
        if not isinstance(key, str):
            from orchestrator.errors import DagDefinitionError

            raise DagDefinitionError(
                f"output[{key!r}] of task '{self.operator.task_id}': keys must be strings (the task "
                "returns a dict); to pick list items, map over the output with .expand()."
            )
        return XComArg(self.operator, key)

    def __iter__(self) -> Any:
        raise TypeError(
            f"The output of task '{self.operator.task_id}' is not known until it runs, so it cannot "
            "be iterated while the DAG is defined. Map over it with .expand(arg=output) instead."
        )

    def map(self, f: Any) -> MapXComArg:
        """Airflow's lazy ``XComArg.map``: ``f`` is applied to each item where the value is used.

        ``process.expand(x=files().map(lambda f: f.upper()))`` maps over the transformed items
        (``f`` runs in each mapped instance); a plain argument ``report(files().map(len))``
        receives the transformed list. Not available with ``expand_kwargs`` yet.
        """
        return MapXComArg(self, [_callable(self, f)])

    def zip(self, *others: XComArg, fillvalue: Any = NOTSET) -> ZipXComArg:
        """Airflow's ``XComArg.zip``: the outputs' items paired by position, as tuples.

        Stops at the shortest list, or runs to the longest with ``fillvalue`` filling the gaps
        when one is given. ``process.expand(pair=a.zip(b))`` maps over the pairs; a plain
        argument receives the list of tuples.
        """
        return ZipXComArg([self, *_outputs(self, "zip", others)], fillvalue=fillvalue)

    def concat(self, *others: XComArg) -> ConcatXComArg:
        """Airflow's ``XComArg.concat``: the outputs' lists one after another (dicts as their items)."""
        return ConcatXComArg([self, *_outputs(self, "concat", others)])

    def __repr__(self) -> str:
        suffix = f"[{self.key!r}]" if self.key is not None else ""
        return f"XComArg({self.operator.task_id!r}){suffix}"

    @property
    def roots(self) -> list[BaseOperator]:
        return [self.operator]

    @property
    def leaves(self) -> list[BaseOperator]:
        return [self.operator]

    def parts(self) -> list[XComArg]:
        """The plain outputs this value is made of (each a dependency)."""
        return [self]

    def resolve(self, context: dict[str, Any]) -> Any:
        """The referenced value, pulled through ``context["ti"].xcom_pull``.

        In a mapped task group, the output of another task of the same group is that task's value
        at this instance's map index (Airflow 3.3; an explicit ``ti.xcom_pull`` still gets them all).
        """
        ti = context["ti"]
        same = self._same_index(context)
        # map_indexes only when it narrows the pull: a plain ti (a test's stand-in) needs no such parameter
        value = (ti.xcom_pull(task_ids=self.operator.task_id, key="return_value") if same is None else
                 ti.xcom_pull(task_ids=self.operator.task_id, key="return_value", map_indexes=same))
        if self.key is None:
            if isinstance(value, list) and getattr(self.operator, "expand_input", None) is not None:
                # A mapped task's values as Airflow's lazy sequence holds them: only the XComs that
                # exist. An instance that was skipped, failed or returned None pushed nothing.
                return [v for v in value if v is not None]
            return value
        try:
            return value[self.key]
        except (KeyError, TypeError, IndexError) as exc:
            from orchestrator.errors import TaskExecutionError

            raise TaskExecutionError(
                f"Task '{self.operator.task_id}' returned {type(value).__name__}, which has no key "
                f"{self.key!r}; a downstream task asked for output[{self.key!r}]. Return a dict with that key."
            ) from exc

    def _same_index(self, context: dict[str, Any]) -> int | None:
        group = self.operator.mapped_group
        task = context.get("task")
        index = getattr(context.get("ti"), "map_index", -1)
        if group is None or task is None or index is None or index < 0:
            return None
        mine = getattr(task, "mapped_group", None)
        return int(index) if mine is not None and mine.group_id == group.group_id else None

    def to_ref(self) -> dict[str, Any]:
        """The plan's JSON form: ``{"$xcom": task_id, "key": key}``."""
        return {"$xcom": self.operator.task_id, "key": self.key}


class MapXComArg(XComArg):
    """``output.map(f)``: the output's items, each passed through ``f`` (then the next ``.map``)."""

    __slots__ = ("functions", "inner")

    def __init__(self, arg: XComArg, functions: list[Any]) -> None:
        super().__init__(arg.operator, arg.key)
        self.functions = list(functions)
        # What is mapped: a task's output, or a zip / concat of outputs.
        self.inner: XComArg | None = arg.inner if isinstance(arg, MapXComArg) else (
            arg if isinstance(arg, _Combined) else None)

    def map(self, f: Any) -> MapXComArg:
        return MapXComArg(self, [*self.functions, _callable(self, f)])

    def __getitem__(self, key: str) -> XComArg:
        from orchestrator.errors import DagDefinitionError

        raise DagDefinitionError(
            f"The output of task '{self.operator.task_id}' after .map(): index the value inside the mapped "
            "function instead (output.map(lambda v: v[key]))."
        )

    def apply(self, item: Any) -> Any:
        """One item through every function, in order."""
        for fn in self.functions:
            item = fn(item)
        return item

    @property
    def roots(self) -> list[BaseOperator]:
        return self.inner.roots if self.inner is not None else [self.operator]

    @property
    def leaves(self) -> list[BaseOperator]:
        return self.roots

    def parts(self) -> list[XComArg]:
        """The plain outputs this value is made of (each a dependency)."""
        return self.inner.parts() if self.inner is not None else [self]

    def to_ref(self) -> dict[str, Any]:
        return self.inner.to_ref() if self.inner is not None else super().to_ref()

    def resolve(self, context: dict[str, Any]) -> Any:
        value = self.inner.resolve(context) if self.inner is not None else super().resolve(context)
        if isinstance(value, dict):
            value = list(value.items())
        if not isinstance(value, (list, tuple)):
            from orchestrator.errors import TaskExecutionError

            raise TaskExecutionError(
                f"Task '{self.operator.task_id}' returned {type(value).__name__}; .map() needs a list (or dict)."
            )
        return [self.apply(v) for v in value]

    def __repr__(self) -> str:
        return f"{super().__repr__()}.map(...)"


class _Combined(XComArg):
    """Several outputs seen as one list (``zip``, ``concat``): each output is a dependency."""

    __slots__ = ("args",)
    how = ""

    def __init__(self, args: list[XComArg]) -> None:
        super().__init__(args[0].operator, None)
        self.args = list(args)

    def parts(self) -> list[XComArg]:
        return [p for a in self.args for p in a.parts()]

    @property
    def roots(self) -> list[BaseOperator]:
        seen: dict[str, BaseOperator] = {}
        for p in self.parts():
            seen.setdefault(p.operator.task_id, p.operator)
        return list(seen.values())

    @property
    def leaves(self) -> list[BaseOperator]:
        return self.roots

    def __getitem__(self, key: str) -> XComArg:
        from orchestrator.errors import DagDefinitionError

        raise DagDefinitionError(
            f"{self!r}: a {self.how}() result cannot be indexed; pick the value inside the mapped task, or "
            "use .map(lambda item: item[...]).")

    def lists(self, context: dict[str, Any]) -> list[list[Any]]:
        out = []
        for arg in self.args:
            value = arg.resolve(context)
            if isinstance(value, dict):
                value = list(value.items())
            if not isinstance(value, (list, tuple)):
                from orchestrator.errors import TaskExecutionError

                raise TaskExecutionError(
                    f"{self!r}: the output of task '{arg.operator.task_id}' is {type(value).__name__}; "
                    f"{self.how}() needs lists (or dicts).")
            out.append(list(value))
        return out

    def __repr__(self) -> str:
        first, rest = self.args[0], self.args[1:]
        return f"{first!r}.{self.how}({', '.join(repr(a) for a in rest)})"


class ZipXComArg(_Combined):
    """``a.zip(b, ...)``: tuples of the items at each position (Airflow's ``ZipXComArg``)."""

    __slots__ = ("fillvalue",)
    how = "zip"

    def __init__(self, args: list[XComArg], fillvalue: Any = NOTSET) -> None:
        super().__init__(args)
        self.fillvalue = fillvalue

    def resolve(self, context: dict[str, Any]) -> Any:
        return combine_zip(self.lists(context), self.fillvalue)

    def to_ref(self) -> dict[str, Any]:
        ref: dict[str, Any] = {"$zip": [a.to_ref() for a in self.args]}
        if self.fillvalue is not NOTSET:
            ref["fillvalue"] = self.fillvalue  # as written: the compiler encodes it (plan.compiler.encode)
        return ref


class ConcatXComArg(_Combined):
    """``a.concat(b, ...)``: the lists one after another (Airflow's ``ConcatXComArg``)."""

    __slots__ = ()
    how = "concat"

    def resolve(self, context: dict[str, Any]) -> Any:
        return [item for part in self.lists(context) for item in part]

    def to_ref(self) -> dict[str, Any]:
        return {"$concat": [a.to_ref() for a in self.args]}


def combine_zip(lists: list[list[Any]], fillvalue: Any = NOTSET) -> list[tuple[Any, ...]]:
    """Airflow's zip: to the shortest list, or to the longest with ``fillvalue`` when one is given."""
    if fillvalue is NOTSET:
        return list(zip(*lists))
    return list(itertools.zip_longest(*lists, fillvalue=fillvalue))


def zip_length(lengths: list[int], fill: bool) -> int:
    """How many tuples a zip of lists of these lengths has."""
    if not lengths:
        return 0
    return max(lengths) if fill else min(lengths)


def _outputs(arg: XComArg, how: str, others: tuple[Any, ...]) -> list[XComArg]:
    for other in others:
        if not isinstance(other, XComArg):
            from orchestrator.errors import DagDefinitionError

            raise DagDefinitionError(
                f"The output of task '{arg.operator.task_id}': .{how}() takes other tasks' outputs, got {other!r}; "
                "return the list from a @task to use it here.")
    return list(others)


def _callable(arg: XComArg, f: Any) -> Any:
    if not callable(f):
        from orchestrator.errors import DagDefinitionError

        raise DagDefinitionError(f"The output of task '{arg.operator.task_id}': .map() takes a function, got {f!r}.")
    return f

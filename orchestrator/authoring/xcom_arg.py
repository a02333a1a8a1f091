"""``XComArg``: a reference to the future output of a task.

Calling a TaskFlow task inside a DAG returns one; so does ``operator.output``. Passing it to
another task records the dependency and, at run time, the value is pulled from the upstream
task (``output["key"]`` indexes that value).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.authoring.dependencies import DependencyMixin

if TYPE_CHECKING:
    from orchestrator.authoring.baseoperator import BaseOperator


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

    def zip(self, *others: Any, fillvalue: Any = None) -> Any:
        """Airflow's ``XComArg.zip``: not built yet."""
        raise _not_built(self, "zip", "zip the lists inside a @task and expand over its result")

    def concat(self, *others: Any) -> Any:
        """Airflow's ``XComArg.concat``: not built yet."""
        raise _not_built(self, "concat", "join the lists inside a @task and expand over its result")

    def __repr__(self) -> str:
        suffix = f"[{self.key!r}]" if self.key is not None else ""
        return f"XComArg({self.operator.task_id!r}){suffix}"

    @property
    def roots(self) -> list[BaseOperator]:
        return [self.operator]

    @property
    def leaves(self) -> list[BaseOperator]:
        return [self.operator]

    def resolve(self, context: dict[str, Any]) -> Any:
        """The referenced value, pulled through ``context["ti"].xcom_pull``."""
        value = context["ti"].xcom_pull(task_ids=self.operator.task_id, key="return_value")
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

    def to_ref(self) -> dict[str, Any]:
        """The plan's JSON form: ``{"$xcom": task_id, "key": key}``."""
        return {"$xcom": self.operator.task_id, "key": self.key}


class MapXComArg(XComArg):
    """``output.map(f)``: the output's items, each passed through ``f`` (then the next ``.map``)."""

    __slots__ = ("functions",)

    def __init__(self, arg: XComArg, functions: list[Any]) -> None:
        super().__init__(arg.operator, arg.key)
        self.functions = list(functions)

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

    def resolve(self, context: dict[str, Any]) -> Any:
        value = super().resolve(context)
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


def _callable(arg: XComArg, f: Any) -> Any:
    if not callable(f):
        from orchestrator.errors import DagDefinitionError

        raise DagDefinitionError(f"The output of task '{arg.operator.task_id}': .map() takes a function, got {f!r}.")
    return f


def _not_built(arg: XComArg, name: str, instead: str) -> Exception:
    from orchestrator.authoring.unserved import UnservedFeatureError

    return UnservedFeatureError(
        f"The output of task '{arg.operator.task_id}': XComArg.{name}() is not supported by Stratus yet; "
        f"{instead}."
    )

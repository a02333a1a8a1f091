"""The standard operators: Python, Empty, BranchPython and ShortCircuit (Airflow names)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from orchestrator.authoring.baseoperator import MAPPED, BaseOperator
from orchestrator.errors import DagDefinitionError


@functools.lru_cache(maxsize=4096)
def signature_of(fn: Callable[..., Any]) -> inspect.Signature:
    """Cached ``inspect.signature``."""
    return inspect.signature(fn)


def call_kwargs(
    fn: Callable[..., Any], op_args: Sequence[Any], op_kwargs: dict[str, Any], context: dict[str, Any]
) -> dict[str, Any]:
    """The keyword arguments to call ``fn`` with: ``op_kwargs`` plus context keys by name.

    A function with ``**kwargs`` (``**context``) receives every context key that is not
    already an argument, as in Airflow.
    """
    try:
        params = list(signature_of(fn).parameters.values())
    except (TypeError, ValueError):  # builtins without a signature
        return dict(op_kwargs)
    out = dict(op_kwargs)
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    bound_by_position = {p.name for p in positional[: len(op_args)]}
    if any(p.kind is p.VAR_KEYWORD for p in params):
        for key, value in context.items():
            if key not in out and key not in bound_by_position:
                out[key] = value
        return out
    for p in params:
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in bound_by_position:
            if p.name not in out and p.name in context:
                out[p.name] = context[p.name]
    return out


class PythonOperator(BaseOperator):
    """Run ``python_callable(*op_args, **op_kwargs)``; context keys are passed by parameter name.

    Example::

        PythonOperator(task_id="hello", python_callable=greet, op_kwargs={"who": "{{ ds }}"})
    """

    template_fields: ClassVar[Sequence[str]] = ("templates_dict", "op_args", "op_kwargs")

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Sequence[Any] | None = None,
        op_kwargs: dict[str, Any] | None = None,
        templates_dict: dict[str, Any] | None = None,
        templates_exts: Sequence[str] | None = None,
        show_return_value_in_logs: bool = True,
        **kwargs: Any,
    ) -> None:
        if not callable(python_callable):
            raise DagDefinitionError(
                f"Task '{kwargs.get('task_id')}': python_callable must be callable, got {python_callable!r}."
            )
        super().__init__(**kwargs)
        self.python_callable = python_callable
        # MAPPED: the value comes from expand() at run time (the operator is re-created then).
        self.op_args: Any = op_args if op_args is MAPPED else list(op_args or [])
        self.op_kwargs: Any = op_kwargs if op_kwargs is MAPPED else dict(op_kwargs or {})
        self.templates_dict: Any = templates_dict
        if templates_exts:  # as in Airflow: a templated value ending so names a template file
            self.template_ext = tuple(templates_exts)  # type: ignore[misc]  # per instance, as Airflow sets it
        self.show_return_value_in_logs = show_return_value_in_logs

    def apply_mapped_kwargs(self, expanded_kwargs: dict[str, Any]) -> None:
        self.op_kwargs = {**self.op_kwargs, **expanded_kwargs}

    def execute(self, context: dict[str, Any]) -> Any:
        if self.templates_dict is not None:
            context = {**context, "templates_dict": self.templates_dict}
        kwargs = call_kwargs(self.python_callable, self.op_args, self.op_kwargs, context)
        if inspect.isgeneratorfunction(self.python_callable):
            return run_generator(self.python_callable(*self.op_args, **kwargs), context, self.task_id)
        return self.python_callable(*self.op_args, **kwargs)


def run_generator(gen: Any, context: dict[str, Any], task_id: str) -> Any:
    """A task function that yields, as in Airflow: each ``Metadata(asset, extra, alias)`` it yields goes
    into the asset event the task emits (``outlet_events[asset].extra``, and through ``alias`` when
    given); anything else yielded is ignored with a warning; the return value is the generator's."""
    from orchestrator.authoring.assets import Metadata

    events = context.get("outlet_events")
    try:
        while True:
            item = next(gen)
            if isinstance(item, Metadata) and events is not None:
                events[item.asset].extra.update(item.extra)
                if item.alias is not None:
                    events[item.alias].add(item.asset, extra=item.extra)
            else:
                print(f"Task '{task_id}': ignoring {type(item).__name__} yielded by the task (only Metadata is "
                      "used).", flush=True)
    except StopIteration as stop:
        return stop.value


class EmptyOperator(BaseOperator):
    """Does nothing; useful as a join or a start/end marker. The engine need not invoke a worker."""

    _step_kind: ClassVar[str] = "empty"

    def execute(self, context: dict[str, Any]) -> None:
        return None


class BranchPythonOperator(PythonOperator):
    """The callable returns the task id (or list of ids, or None) to follow; the others are skipped."""

    _step_kind: ClassVar[str] = "branch"


class ShortCircuitOperator(PythonOperator):
    """A falsy return value skips downstream tasks.

    ``ignore_downstream_trigger_rules=True`` (default) skips every task downstream; ``False``
    skips only the direct downstream tasks and lets the others follow their trigger rules.
    """

    _step_kind: ClassVar[str] = "short_circuit"

    def __init__(self, *, ignore_downstream_trigger_rules: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ignore_downstream_trigger_rules = ignore_downstream_trigger_rules

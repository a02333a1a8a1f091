"""TaskFlow: ``@task``, ``@task.branch``, ``@task.short_circuit``, ``@task.bash`` (``@task.python`` = ``@task``).

Calling a decorated function inside a DAG records a task and returns an ``XComArg``; the
arguments are checked against the function's signature right away. Task ids default to the
function name; calling the same function again gets ``name__1``, ``name__2``, as in Airflow.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from typing import Any, ClassVar

from orchestrator.authoring import _stack
from orchestrator.authoring.baseoperator import describe
from orchestrator.authoring.context import KNOWN_CONTEXT_KEYS
from orchestrator.authoring.mapping import (ExpandInput, check_expand_kwargs_value, check_expand_values,
                                            check_not_partial)
from orchestrator.authoring.operators import PythonOperator, signature_of
from orchestrator.authoring.xcom_arg import XComArg
from orchestrator.errors import DagDefinitionError

_DICT_ANNOTATION = re.compile(r"^(dict|Dict|typing\.Dict|Mapping|typing\.Mapping)\b")


@functools.lru_cache(maxsize=4096)
def _binding_signature(fn: Callable[..., Any]) -> inspect.Signature:
    # Parameters named like context keys are filled at run time, so they need no argument now.
    sig = signature_of(fn)
    params = [
        p.replace(default=None) if p.name in KNOWN_CONTEXT_KEYS and p.default is p.empty else p
        for p in sig.parameters.values()
    ]
    return inspect.Signature(params, __validate_parameters__=False)  # type: ignore[call-arg]


def _infer_multiple_outputs(fn: Callable[..., Any]) -> bool:
    ann = signature_of(fn).return_annotation
    if ann is inspect.Signature.empty:
        return False
    if isinstance(ann, str):
        return bool(_DICT_ANNOTATION.match(ann))
    return ann is dict or getattr(ann, "__origin__", None) is dict


class _PythonDecoratedOperator(PythonOperator):
    """The operator behind ``@task``."""

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        task_id: str | None = None,
        op_args: Any = None,
        op_kwargs: dict[str, Any] | None = None,
        multiple_outputs: bool | None = None,
        _mapped_keys: tuple[str, ...] | None = (),
        _run_conditions: tuple[tuple[bool, Callable[..., Any], str], ...] = (),
        **kwargs: Any,
    ) -> None:
        label = task_id or getattr(python_callable, "__name__", None) or "task"
        if not _stack.state.detached:
            dag = kwargs.get("dag") or _stack.current_dag()
            group = kwargs.get("task_group") or _stack.current_group(dag)
            full = group.child_id(label) if group is not None else label
            if dag is not None:
                unique = dag.unique_task_id(full)
                label, full = label + unique[len(full):], unique
            where = describe(full, dag, self.__dict__.get("_site") or _stack.caller_site())
            _check_call(python_callable, op_args or (), op_kwargs or {}, _mapped_keys, where)
        if multiple_outputs is None:
            multiple_outputs = _infer_multiple_outputs(python_callable)
        super().__init__(
            task_id=label, python_callable=python_callable, op_args=op_args, op_kwargs=op_kwargs, **kwargs
        )
        self.multiple_outputs = bool(multiple_outputs)
        self._run_conditions = tuple(_run_conditions)
        if self.doc_md is None and python_callable.__doc__:
            self.doc_md = inspect.cleandoc(python_callable.__doc__)

    def pre_execute(self, context: dict[str, Any]) -> None:
        super().pre_execute(context)
        # @task.run_if / @task.skip_if: checked in the try, after rendering, before the body (as Airflow's hook).
        from orchestrator.authoring.exceptions import AirflowSkipException

        for run_when, condition, message in self._run_conditions:
            if bool(condition(context)) != run_when:
                raise AirflowSkipException(message)

    def execute(self, context: dict[str, Any]) -> Any:
        result = super().execute(context)
        if self.multiple_outputs and self.do_xcom_push and result is not None:
            # Airflow fails such a try (TypeError): each key becomes an XCom, so it must be a str key of a dict.
            if not isinstance(result, dict):
                raise TypeError(f"Task '{self.task_id}' returned {type(result).__name__}, but multiple_outputs=True "
                                "needs a dict (each key becomes an XCom). Return a dict, or drop multiple_outputs.")
            for key in result:
                if not isinstance(key, str):
                    raise TypeError(f"Task '{self.task_id}': with multiple_outputs the dict keys must be strings, "
                                    f"found {key!r} ({type(key).__name__}).")
        return result


def _check_call(
    fn: Callable[..., Any],
    op_args: Any,
    op_kwargs: dict[str, Any],
    mapped_keys: tuple[str, ...] | None,
    where: object,
) -> None:
    sig = _binding_signature(fn)
    try:
        if mapped_keys is None:  # expand_kwargs: the keys are only known at run time
            sig.bind_partial(*op_args, **op_kwargs)
        else:
            sig.bind(*op_args, **op_kwargs, **{k: None for k in mapped_keys})
    except TypeError as exc:
        name = getattr(fn, "__name__", "task")
        raise DagDefinitionError(
            f"{where}: {exc} in the call to {name}(). The arguments must match its signature "
            f"{name}{signature_of(fn)}."
        ) from None


class _BranchPythonDecoratedOperator(_PythonDecoratedOperator):
    """The operator behind ``@task.branch``."""

    _step_kind: ClassVar[str] = "branch"


class _ShortCircuitDecoratedOperator(_PythonDecoratedOperator):
    """The operator behind ``@task.short_circuit``."""

    _step_kind: ClassVar[str] = "short_circuit"

    def __init__(self, *, ignore_downstream_trigger_rules: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ignore_downstream_trigger_rules = ignore_downstream_trigger_rules


class _TaskDecorator:
    """A decorated function. Call it in a DAG to add a task; ``.function`` is the plain function."""

    def __init__(self, function: Callable[..., Any], operator_class: type, kwargs: dict[str, Any]) -> None:
        if not callable(function):
            raise DagDefinitionError(f"@task must decorate a function, got {function!r}.")
        self.function = function
        self.operator_class = operator_class
        self.kwargs = kwargs
        functools.update_wrapper(self, function)

    def __call__(self, *args: Any, **kwargs: Any) -> XComArg:
        op = self.operator_class(python_callable=self.function, op_args=args, op_kwargs=kwargs, **self.kwargs)
        return XComArg(op)

    def override(self, **kwargs: Any) -> _TaskDecorator:
        """The same task with some task arguments replaced: ``extract.override(task_id="e2")()``."""
        return _TaskDecorator(self.function, self.operator_class, {**self.kwargs, **kwargs})

    def partial(self, **kwargs: Any) -> _TaskPartial:
        """Arguments shared by every mapped instance; follow with ``.expand(...)``."""
        return _TaskPartial(self, kwargs)

    def expand(self, **mapped: Any) -> XComArg:
        """Map over lists (or upstream outputs): one task instance per item."""
        return _TaskPartial(self, {}).expand(**mapped)

    def expand_kwargs(self, value: Any) -> XComArg:
        """Map over a list of kwargs dicts (or an upstream output of one)."""
        return _TaskPartial(self, {}).expand_kwargs(value)

    def __repr__(self) -> str:
        return f"<task {self.function.__qualname__}>"


class _TaskPartial:
    def __init__(self, decorator: _TaskDecorator, kwargs: dict[str, Any]) -> None:
        self.decorator = decorator
        self.kwargs = kwargs
        self._site = _stack.caller_site()

    def _where(self) -> str:
        dag = _stack.current_dag()
        group = _stack.current_group(dag)
        label = self.decorator.kwargs.get("task_id") or self.decorator.function.__name__
        return str(describe(group.child_id(label) if group is not None else label, dag, self._site))

    def expand(self, **mapped: Any) -> XComArg:
        where = self._where()
        check_expand_values(mapped, where)
        check_not_partial(mapped, self.kwargs, where)
        op = self._create(tuple(mapped))
        op._set_expand_input(ExpandInput("expand", dict(mapped)))
        return XComArg(op)

    def expand_kwargs(self, value: Any) -> XComArg:
        where = self._where()
        check_expand_kwargs_value(value, where)
        if not isinstance(value, XComArg):
            for item in value:
                _check_call(self.decorator.function, (), {**self.kwargs, **item}, (), where)
        op = self._create(None)
        op._set_expand_input(ExpandInput("expand_kwargs", value))
        return XComArg(op)

    def _create(self, mapped_keys: tuple[str, ...] | None) -> Any:
        d = self.decorator
        return d.operator_class(
            python_callable=d.function, op_args=(), op_kwargs=dict(self.kwargs), _mapped_keys=mapped_keys, **d.kwargs
        )


class _TaskDecoratorFactory:
    """``task``: ``@task``, ``@task(...)``, ``@task.python``, ``@task.branch``, ``@task.short_circuit``.

    Task arguments are ``BaseOperator``'s (``task_id``, ``retries``, ``retry_delay``,
    ``execution_timeout``, ``trigger_rule``, ``outlets``, callbacks, and the Lambda settings
    ``lambda_memory`` (MB), ``lambda_timeout`` (s, at most 900) and ``lambda_function``
    (the function that runs the task)) plus ``multiple_outputs``. Example::

        @task(retries=2, lambda_memory=1024)
        def transform(rows: list[dict]) -> dict: ...
    """

    def _make(self, operator_class: type, python_callable: Any, kwargs: dict[str, Any]) -> Any:
        if python_callable is not None:
            if not callable(python_callable):
                raise DagDefinitionError(
                    f"@task got {python_callable!r}; pass options by keyword, e.g. @task(task_id=...)."
                )
            return _TaskDecorator(python_callable, operator_class, kwargs)
        return lambda fn: _TaskDecorator(fn, operator_class, kwargs)

    def __call__(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        return self._make(_PythonDecoratedOperator, python_callable, kwargs)

    def python(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        """Same as ``@task``."""
        return self._make(_PythonDecoratedOperator, python_callable, kwargs)

    def branch(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        """The function returns the task id(s) to follow (or None); the others are skipped."""
        return self._make(_BranchPythonDecoratedOperator, python_callable, kwargs)

    def short_circuit(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        """A falsy return value skips what is downstream (see ``ShortCircuitOperator``)."""
        return self._make(_ShortCircuitDecoratedOperator, python_callable, kwargs)

    def bash(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        """The function returns a shell command; it is rendered and run like ``BashOperator``'s."""
        return self._make(_bash_decorated(), python_callable, kwargs)

    def sensor(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        """The function is a sensor's poke: True or ``PokeReturnValue(True, value)`` when done.

        Takes the sensor arguments (``poke_interval``, ``timeout``, ``mode``, ``soft_fail``,
        ``exponential_backoff``, ``max_wait``...); each poke is one invocation (``authoring.sensors``).
        """
        return self._make(_sensor_decorated(), python_callable, kwargs)

    def run_if(self, condition: Callable[[Any], bool], skip_message: str | None = None) -> Any:
        """Put above ``@task``: the task runs only when ``condition(context)`` is true, else it is skipped."""
        return _conditioned(True, condition, skip_message or "Task was skipped due to condition.", "run_if")

    def skip_if(self, condition: Callable[[Any], bool], skip_message: str | None = None) -> Any:
        """Put above ``@task``: the task is skipped when ``condition(context)`` is true."""
        return _conditioned(False, condition, skip_message or "Task was skipped due to condition.", "skip_if")

    def __getattr__(self, name: str) -> Any:
        # @task.virtualenv, @task.docker, @task.kubernetes, ...: say what to use instead of an AttributeError.
        if name.startswith("__"):
            raise AttributeError(name)
        from orchestrator.authoring.unserved import UnservedValue

        advice = _UNSUPPORTED_FLAVOURS.get(name, "write the step as a plain @task")
        # It decorates and calls like the real one; the DAG that uses it is refused (stratus validate).
        return UnservedValue(f"@task.{name}", f"{name.replace('_', ' ')} tasks",
                             advice + " (Stratus serves @task, @task.python, @task.branch, @task.short_circuit, "
                             "@task.bash and @task.sensor)")


_UNSUPPORTED_FLAVOURS = {
    "virtualenv": "package the dependencies with the worker function (or a per-task lambda_function) and use @task",
    "external_python": "package the dependencies with the worker function (or a per-task lambda_function) and use @task",
    "branch_virtualenv": "use @task.branch with the dependencies packaged in the worker function",
    "branch_external_python": "use @task.branch with the dependencies packaged in the worker function",
    "docker": "run the container from a @task (ECS/AWS Batch) or give the task its own lambda_function",
    "kubernetes": "run the pod's work from a @task (ECS/AWS Batch) or give the task its own lambda_function",
}


def _conditioned(run_when: bool, condition: Any, message: str, name: str) -> Callable[[Any], Any]:
    if not callable(condition):
        raise DagDefinitionError(f"@task.{name} takes a function of the context, got {condition!r}.")

    def decorate(decorated: Any) -> Any:
        if not isinstance(decorated, _TaskDecorator) or not issubclass(decorated.operator_class,
                                                                        _PythonDecoratedOperator):
            raise DagDefinitionError(f"@task.{name} decorates a task: put it above @task (got {decorated!r}).")
        conditions = (*decorated.kwargs.get("_run_conditions", ()), (run_when, condition, message))
        return _TaskDecorator(decorated.function, decorated.operator_class,
                              {**decorated.kwargs, "_run_conditions": conditions})

    return decorate


@functools.lru_cache(maxsize=1)
def _bash_decorated() -> type:
    from orchestrator.authoring.bash import bash_operator_class

    return bash_operator_class(_PythonDecoratedOperator)


@functools.lru_cache(maxsize=1)
def _sensor_decorated() -> type:
    from orchestrator.authoring.sensors import decorated_sensor_class

    return decorated_sensor_class(_PythonDecoratedOperator)


task = _TaskDecoratorFactory()

"""Setup and teardown tasks as Airflow 3 writes them: ``@setup``, ``@teardown``, ``as_setup()``,
``as_teardown(setups=...)`` and ``with teardown.as_teardown(setups=setup): ...``.

A teardown gets the trigger rule ``all_done_setup_success``: it runs once its upstream tasks
are done if one of its setups succeeded (skipped when all its setups were skipped,
upstream_failed when none succeeded). Its failure leaves the run's state alone unless
``on_failure_fail_dagrun=True``. Clearing a task clears its setups and teardowns. The engine's
side is in ``plan/setup_teardown.py`` (the rules) and ``engine.rules`` (the trigger rule).

Example::

    @setup
    def create_cluster(): ...

    @teardown
    def delete_cluster(): ...

    c = create_cluster()
    c >> run_query() >> delete_cluster().as_teardown(setups=c)
"""

from __future__ import annotations

import types
from typing import Any

from orchestrator.authoring import _stack
from orchestrator.authoring.trigger_rule import TriggerRule
from orchestrator.errors import DagDefinitionError


def _operators(value: Any, what: str) -> list[Any]:
    from orchestrator.authoring.baseoperator import BaseOperator
    from orchestrator.authoring.xcom_arg import XComArg

    items = value if isinstance(value, (list, tuple, set)) else [value]
    out = []
    for item in items:
        if isinstance(item, XComArg):
            out.append(item.operator)
        elif isinstance(item, BaseOperator):
            out.append(item)
        else:
            raise DagDefinitionError(f"{what}: setups must be tasks or task outputs, got {item!r}.")
    return out


def mark_setup(op: Any) -> None:
    if op.is_teardown:
        raise DagDefinitionError(f"Task '{op.task_id}' is a teardown; it cannot also be a setup.")
    if op.expand_input is not None:
        raise DagDefinitionError(f"Task '{op.task_id}': a mapped task cannot be a setup (as in Airflow).")
    op.is_setup = True


def mark_teardown(op: Any, *, setups: Any = None, on_failure_fail_dagrun: bool | None = None) -> None:
    if op.is_setup:
        raise DagDefinitionError(f"Task '{op.task_id}' is a setup; it cannot also be a teardown.")
    if op.expand_input is not None:
        raise DagDefinitionError(f"Task '{op.task_id}': a mapped task cannot be a teardown (as in Airflow).")
    op.is_teardown = True
    op.trigger_rule = TriggerRule.ALL_DONE_SETUP_SUCCESS
    if on_failure_fail_dagrun is not None:
        op.on_failure_fail_dagrun = bool(on_failure_fail_dagrun)
    if setups is not None:
        for s in _operators(setups, f"Task '{op.task_id}'.as_teardown()"):
            mark_setup(s)
            s.set_downstream(op)


class _Marked:
    """``@setup`` / ``@teardown`` around a TaskFlow task: calling it marks the task it records."""

    def __init__(self, inner: Any, role: str, on_failure_fail_dagrun: bool = False) -> None:
        self._inner = inner
        self._role = role
        self._fail = on_failure_fail_dagrun

    def _mark(self, out: Any) -> Any:
        for op in _operators(out, "@" + self._role):
            if self._role == "setup":
                mark_setup(op)
            else:
                mark_teardown(op, on_failure_fail_dagrun=self._fail)
        return out

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self._check(self._inner.kwargs)
        return self._mark(self._inner(*args, **kwargs))

    def override(self, **kwargs: Any) -> _Marked:
        self._check(kwargs)
        return _Marked(self._inner.override(**kwargs), self._role, self._fail)

    def _check(self, kwargs: dict[str, Any]) -> None:
        if self._role == "teardown" and "trigger_rule" in kwargs:
            raise DagDefinitionError(f"@teardown task '{kwargs.get('task_id') or self._inner.function.__name__}': "
                                     "trigger rule not configurable for teardown tasks (Airflow): a teardown always "
                                     "uses all_done_setup_success.")

    def expand(self, **_: Any) -> Any:
        raise DagDefinitionError(f"@{self._role} task '{getattr(self._inner, 'function', self._inner)}' cannot be "
                                 "mapped (as in Airflow): map a task between the setup and the teardown instead.")

    partial = expand_kwargs = expand

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _as_task(func: Any, role: str) -> Any:
    from orchestrator.authoring.decorators import _TaskDecorator, task
    from orchestrator.authoring.taskgroup import TaskGroup

    if isinstance(func, types.FunctionType):
        func = task(func)
    if isinstance(func, TaskGroup) or not isinstance(func, _TaskDecorator):
        raise DagDefinitionError(f"@{role} takes a function or a @task function, got {func!r} (task groups cannot "
                                 "be setups or teardowns).")
    return func


def setup(func: Any) -> Any:
    """``@setup``: the decorated function (or ``@task`` function) is a setup task."""
    return _Marked(_as_task(func, "setup"), "setup")


def teardown(_func: Any = None, *, on_failure_fail_dagrun: bool = False) -> Any:
    """``@teardown`` / ``@teardown(on_failure_fail_dagrun=True)``: the function is a teardown task."""
    def wrap(func: Any) -> Any:
        return _Marked(_as_task(func, "teardown"), "teardown", on_failure_fail_dagrun)

    return wrap if _func is None else wrap(_func)


class SetupTeardownScope:
    """``with teardown_task.as_teardown(setups=setup_task): work()``: tasks created inside run after the
    setups and before the teardowns (their roots downstream of the setups, their leaves upstream of
    the teardowns)."""

    def __init__(self, anchor: Any) -> None:
        self.anchor = anchor
        self.before: set[str] = set()

    def enter(self) -> None:
        dag = _stack.current_dag()
        if dag is None:
            raise DagDefinitionError(f"'with' on task '{self.anchor.task_id}' must be inside a DAG.")
        self.before = set(dag.task_dict)

    def exit(self) -> None:
        dag = _stack.current_dag()
        assert dag is not None
        anchor = self.anchor
        if anchor.is_teardown:
            teardowns = [anchor]
            setups = [dag.task_dict[t] for t in anchor.upstream_task_ids if dag.task_dict[t].is_setup]
        elif anchor.is_setup:
            setups = [anchor]
            teardowns = [dag.task_dict[t] for t in anchor.downstream_task_ids if dag.task_dict[t].is_teardown]
        else:
            raise DagDefinitionError(f"'with' on task '{anchor.task_id}': only a setup or a teardown task can be "
                                     "used as a context manager.")
        new = {tid: op for tid, op in dag.task_dict.items() if tid not in self.before}
        for op in new.values():
            if not (op.upstream_task_ids & set(new)):
                for s in setups:
                    s.set_downstream(op)
            if not (op.downstream_task_ids & set(new)):
                for t in teardowns:
                    op.set_downstream(t)


_SCOPES: list[SetupTeardownScope] = []


def enter_scope(anchor: Any) -> None:
    scope = SetupTeardownScope(anchor)
    scope.enter()
    _SCOPES.append(scope)


def exit_scope() -> None:
    _SCOPES.pop().exit()


def group_leaves(tasks: list[Any]) -> list[Any]:
    """A task group's leaves when it holds teardowns (Airflow's ``TaskGroup.get_leaves``): a teardown
    leaf is replaced by the nearest non-teardown tasks above it that have no other work below them."""
    ids = {t.task_id for t in tasks}
    by_id = {t.task_id: t for t in tasks}

    def work_below(task: Any, exclude: str) -> bool:
        return any(d != exclude and d in ids and not by_id[d].is_teardown for d in task.downstream_task_ids)

    def above(task: Any) -> list[Any]:
        out: list[Any] = []
        for u in sorted(task.upstream_task_ids):
            if u not in ids:
                continue
            up = by_id[u]
            if up.is_teardown:
                out.extend(above(up))
            elif task.is_teardown and up.is_setup:
                continue  # not through the teardown-to-setup edge
            elif not work_below(up, task.task_id):
                out.append(up)
        return out

    leaves: list[Any] = []
    for t in tasks:
        if t.downstream_task_ids & ids:
            continue
        for leaf in ([t] if not t.is_teardown else above(t)):
            if leaf not in leaves:
                leaves.append(leaf)
    return leaves

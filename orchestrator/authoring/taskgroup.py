"""Task groups: ``with TaskGroup("extract"):`` and ``@task_group``.

Tasks created inside a group get ids prefixed with the group id (``extract.pull``), nested
groups nest the prefix, and a dependency on a group is a dependency on its roots (tasks with
no upstream inside the group) or its leaves (no downstream inside the group).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from orchestrator.authoring import _stack
from orchestrator.authoring.baseoperator import validate_id
from orchestrator.authoring.dependencies import DependencyMixin
from orchestrator.errors import DagDefinitionError

if TYPE_CHECKING:
    from orchestrator.authoring.baseoperator import BaseOperator
    from orchestrator.authoring.dag import DAG


class TaskGroup(DependencyMixin):
    """A named group of tasks (and nested groups) inside a DAG.

    Parameters:
        group_id: the group's id (None only for a DAG's root group).
        prefix_group_id: prefix the ids of tasks inside with ``group_id.`` (default True).
        parent_group: defaults to the innermost open group.
        dag: defaults to the DAG being defined.
        default_args: defaults for the tasks inside, over the DAG's.
        tooltip: shown in the UI.
        add_suffix_on_collision: on a duplicate id, use ``group__1`` instead of failing.
    """

    def __init__(
        self,
        group_id: str | None,
        *,
        prefix_group_id: bool = True,
        parent_group: TaskGroup | None = None,
        dag: DAG | None = None,
        default_args: dict[str, Any] | None = None,
        tooltip: str = "",
        ui_color: str = "CornflowerBlue",
        ui_fgcolor: str = "#000",
        add_suffix_on_collision: bool = False,
        _root: bool = False,
    ) -> None:
        self.children: dict[str, Any] = {}
        self.default_args = dict(default_args or {})
        self.tooltip = tooltip
        self.ui_color = ui_color
        self.ui_fgcolor = ui_fgcolor
        self.prefix_group_id = prefix_group_id
        self.expand_input: Any = None  # a mapped task group's ExpandInput (authoring.mapped_group)
        self.fileloc, self.lineno = _stack.caller_site()
        if _root:
            self._group_id: str | None = None
            self.parent_group: TaskGroup | None = None
            self.dag = dag  # type: ignore[assignment]
            self.group_id = None
            return
        dag = dag or (parent_group.dag if parent_group else None) or _stack.current_dag()
        where = f"TaskGroup '{group_id}' ({_stack.short_path(self.fileloc)}:{self.lineno})"
        if dag is None:
            raise DagDefinitionError(f"{where} must be created inside a DAG (`with DAG(...)` or an @dag function).")
        validate_id("group_id", group_id, where)
        assert group_id is not None
        self.dag = dag
        self.parent_group = parent_group or _stack.current_group(dag)
        self._group_id = group_id
        full = self._full_id(group_id)
        if full in dag.used_group_ids or full in dag.task_dict:
            if not add_suffix_on_collision:
                raise DagDefinitionError(
                    f"{where}: group_id '{full}' is already used in DAG '{dag.dag_id}'; give each group a unique id."
                )
            full = dag.unique_group_id(full)
            self._group_id = full.rsplit(".", 1)[-1] if "." in full else full
        self.group_id = full
        dag.used_group_ids.add(full)
        assert self.parent_group is not None
        self.parent_group.children[full] = self

    def _full_id(self, label: str) -> str:
        parent = self.parent_group
        return parent.child_id(label) if parent is not None else label

    def child_id(self, label: str) -> str:
        """The id of a child called ``label`` (``group.label`` when prefixing)."""
        if self.prefix_group_id and self.group_id:
            return f"{self.group_id}.{label}"
        return label

    def add(self, op: BaseOperator) -> None:
        self.children[op.task_id] = op

    def lineage(self) -> list[TaskGroup]:
        """Groups from the root down to this one."""
        out: list[TaskGroup] = []
        g: TaskGroup | None = self
        while g is not None:
            out.append(g)
            g = g.parent_group
        return out[::-1]

    def iter_tasks(self) -> Iterator[BaseOperator]:
        """Every task in the group, nested groups included."""
        for child in self.children.values():
            if isinstance(child, TaskGroup):
                yield from child.iter_tasks()
            else:
                yield child

    @property
    def roots(self) -> list[BaseOperator]:
        tasks = list(self.iter_tasks())
        ids = {t.task_id for t in tasks}
        return [t for t in tasks if not (t.upstream_task_ids & ids)]

    @property
    def leaves(self) -> list[BaseOperator]:
        tasks = list(self.iter_tasks())
        ids = {t.task_id for t in tasks}
        if not any(t.is_teardown for t in tasks):
            return [t for t in tasks if not (t.downstream_task_ids & ids)]
        from orchestrator.authoring.setup_teardown import group_leaves

        return group_leaves(tasks)  # Airflow: `group >> x` does not wait through the group's teardowns

    def __enter__(self) -> TaskGroup:
        _stack.state.groups.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _stack.state.groups.pop()

    def __repr__(self) -> str:
        return f"<TaskGroup {self.group_id!r}>"


def task_group(group_id: Any = None, **kwargs: Any) -> Any:
    """Decorate a function that creates tasks; each call creates a ``TaskGroup``.

    The group id defaults to the function name (``name__1`` on a repeated call). The call
    returns what the function returns when that is a task or output, else the group, so
    ``start >> my_group() >> end`` works. Example::

        @task_group
        def extract():
            pull() >> check()
    """

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def build(*args: Any, **call_kwargs: Any) -> Any:
            gid = kwargs.get("group_id") or fn.__name__
            opts = {k: v for k, v in kwargs.items() if k != "group_id"}
            opts.setdefault("add_suffix_on_collision", True)
            if opts.get("tooltip") is None and fn.__doc__:
                opts["tooltip"] = fn.__doc__.strip().splitlines()[0]
            with TaskGroup(gid, **opts) as group:
                result = fn(*args, **call_kwargs)
            if isinstance(result, DependencyMixin):
                return result
            return group

        from orchestrator.authoring.mapped_group import attach

        attach(build, fn, kwargs)  # .expand / .partial / .expand_kwargs: a mapped task group
        return build

    if callable(group_id):
        return wrap(group_id)
    if group_id is not None:
        kwargs["group_id"] = group_id
    return wrap

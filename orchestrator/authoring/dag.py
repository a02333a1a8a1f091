"""``DAG`` (context manager) and ``@dag`` (decorator): the container of tasks.

``with DAG("etl", schedule="@daily", start_date=...) as dag:`` collects the tasks created in
the block; ``@dag`` builds the DAG when the decorated function is called, with the function
name as the default ``dag_id`` and its docstring as the default ``doc_md``. Defining a DAG
runs nothing: problems with schedules, time zones, timeouts and params are reported by the
plan validator (``stratus validate``) with file and line.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from orchestrator.authoring import _stack
from orchestrator.authoring.baseoperator import validate_id
from orchestrator.authoring.params import NOTSET, DagParam, Param
from orchestrator.authoring.taskgroup import TaskGroup
from orchestrator.errors import DagDefinitionError

if TYPE_CHECKING:
    from orchestrator.authoring.baseoperator import BaseOperator


class DAG:
    """A workflow: tasks and their dependencies, with a schedule.

    Parameters (keyword-only after ``dag_id``; Airflow 3 names and defaults):
        dag_id: letters, digits, ``_``, ``-``, ``.``.
        schedule: cron text, a preset (``@once``, ``@hourly``, ``@daily``, ``@weekly``,
            ``@monthly``, ``@yearly``), a ``timedelta``, ``None`` (manual only), an ``Asset``,
            a list of assets (all of them), ``AssetAll``/``AssetAny`` (or ``&``/``|``), or a
            ``CronTriggerTimetable`` with a time zone.
        start_date, end_date: ``datetime`` (naive means UTC); the time zone of ``start_date``
            is the schedule's time zone.
        catchup: create runs for missed intervals since ``start_date`` (default False).
        max_active_runs, max_active_tasks: concurrency limits (default 16 each).
        dagrun_timeout: a run still going after this fails.
        default_args: defaults for every task's arguments (retries, retry_delay, ...).
        params: ``{"name": Param(...) or value}``; a run's conf overrides them.
        doc_md, description, tags: documentation.
        on_success_callback, on_failure_callback: called with the context when a run ends.
        is_paused_upon_creation: paused when first deployed.
        user_defined_macros, user_defined_filters: extra names and filters for templates.
        render_template_as_native_obj: templates render to Python values, not strings.
        template_searchpath: folders (besides the DAG file's) where template files are found
            (a relative folder is taken from the DAG file's folder).
        jinja_environment_kwargs, template_undefined: options and the ``Undefined`` class of
            the Jinja environment (default ``StrictUndefined``).
    Accepted for compatibility and ignored: access_control, auto_register,
    max_consecutive_failed_dag_runs, disable_bundle_versioning.
    """

    def __init__(
        self,
        dag_id: str,
        *,
        description: str | None = None,
        schedule: Any = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        catchup: bool = False,
        max_active_runs: int = 16,
        max_active_tasks: int = 16,
        dagrun_timeout: timedelta | None = None,
        default_args: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        doc_md: str | None = None,
        tags: list[str] | set[str] | None = None,
        on_success_callback: Any = None,
        on_failure_callback: Any = None,
        is_paused_upon_creation: bool | None = None,
        render_template_as_native_obj: bool = False,
        user_defined_macros: dict[str, Any] | None = None,
        user_defined_filters: dict[str, Callable[..., Any]] | None = None,
        owner_links: dict[str, str] | None = None,
        template_searchpath: str | list[str] | None = None,
        jinja_environment_kwargs: dict[str, Any] | None = None,
        template_undefined: type | None = None,
        access_control: Any = None,
        auto_register: bool = True,
        max_consecutive_failed_dag_runs: int = 0,
        disable_bundle_versioning: bool = False,
        dag_display_name: str | None = None,
        fileloc: str | None = None,
        lineno: int | None = None,
        **kwargs: Any,
    ) -> None:
        site = _stack.caller_site()
        self.fileloc: str = fileloc or site[0]
        self.lineno: int = lineno if lineno is not None else site[1]
        where = f"DAG '{dag_id}' ({_stack.short_path(self.fileloc)}:{self.lineno})"
        if kwargs:
            raise DagDefinitionError(f"{where}: {_unknown_dag_args(kwargs)}")
        validate_id("dag_id", dag_id, where)
        self.dag_id = dag_id
        self.description = description
        self.schedule = schedule
        self.default_args = dict(default_args or {})
        self.start_date = start_date if start_date is not None else self.default_args.get("start_date")
        self.end_date = end_date if end_date is not None else self.default_args.get("end_date")
        self.catchup = catchup
        self.max_active_runs = max_active_runs
        self.max_active_tasks = max_active_tasks
        self.dagrun_timeout = dagrun_timeout
        # default_args["params"] are every task's params in Airflow (over the DAG's): here, DAG params.
        merged_params = {**(params or {}), **dict(self.default_args.get("params") or {})}
        self.params: dict[str, Param] = {
            name: value if isinstance(value, Param) else Param(value) for name, value in merged_params.items()
        }
        self.doc_md = doc_md
        self.tags = sorted(set(tags or ()))
        self.on_success_callback = on_success_callback
        self.on_failure_callback = on_failure_callback
        self.is_paused_upon_creation = is_paused_upon_creation
        self.render_template_as_native_obj = render_template_as_native_obj
        self.user_defined_macros = dict(user_defined_macros or {})
        self.user_defined_filters = dict(user_defined_filters or {})
        self._jinja_env: Any = None
        self.template_searchpath = ([template_searchpath] if isinstance(template_searchpath, str)
                                    else list(template_searchpath or []))
        self.jinja_environment_kwargs = dict(jinja_environment_kwargs or {})
        self.template_undefined = template_undefined
        self.owner_links = owner_links or {}
        self.dag_display_name = dag_display_name or dag_id
        self.task_dict: dict[str, BaseOperator] = {}
        self.used_group_ids: set[str] = set()
        self._suffixes: dict[str, int] = {}
        self.task_group = TaskGroup(None, dag=self, _root=True)
        # Set by the loader: the DAGs folder this DAG was loaded from.
        self.dags_root: str | None = None
        # Uses of Airflow features Stratus does not serve (orchestrator.authoring.unserved): the plan
        # validator refuses this DAG alone with them; the file's other DAGs load and run.
        self.refusals: list[Any] = []
        collector = _stack.state.collector
        if collector is not None:
            collector.append(self)

    # -- tasks ------------------------------------------------------------------------------

    @property
    def tasks(self) -> list[BaseOperator]:
        return list(self.task_dict.values())

    @property
    def task_ids(self) -> list[str]:
        return list(self.task_dict)

    def get_task(self, task_id: str) -> BaseOperator:
        """The task called ``task_id``; raises ``KeyError`` naming the DAG otherwise."""
        try:
            return self.task_dict[task_id]
        except KeyError:
            raise KeyError(f"DAG '{self.dag_id}' has no task '{task_id}'") from None

    def has_task(self, task_id: str) -> bool:
        return task_id in self.task_dict

    def add_task(self, op: BaseOperator) -> None:
        """Register ``op`` (called by the operator itself). Duplicate ids are an error."""
        if op.task_id in self.task_dict:
            other = self.task_dict[op.task_id]
            raise DagDefinitionError(
                f"Task id '{op.task_id}' has already been added to the DAG '{self.dag_id}' "
                f"(first at {_stack.short_path(other.fileloc)}:{other.lineno}, again at "
                f"{_stack.short_path(op.fileloc)}:{op.lineno}); give each task a unique task_id."
            )
        if op.task_id in self.used_group_ids:
            raise DagDefinitionError(
                f"Task id '{op.task_id}' in DAG '{self.dag_id}' ({_stack.short_path(op.fileloc)}:{op.lineno}) "
                "is already the id of a task group; rename the task or the group."
            )
        op.dag = self
        op._index = len(self.task_dict)
        self.task_dict[op.task_id] = op
        group = op.task_group or self.task_group
        op.task_group = group
        group.add(op)

    def adopt(self, op: BaseOperator) -> None:
        """Add a task created outside any DAG (when a dependency links it to this DAG)."""
        op.task_group = None
        self.add_task(op)

    def unique_task_id(self, task_id: str) -> str:
        """``task_id``, or ``task_id__N`` with the next free N (TaskFlow's rule). O(1) amortised."""
        if task_id not in self.task_dict:
            return task_id
        base = task_id
        n = self._suffixes.get(base, 0)
        while True:
            n += 1
            candidate = f"{base}__{n}"
            if candidate not in self.task_dict and candidate not in self.used_group_ids:
                self._suffixes[base] = n
                return candidate

    def unique_group_id(self, group_id: str) -> str:
        n = self._suffixes.get("group:" + group_id, 0)
        while True:
            n += 1
            candidate = f"{group_id}__{n}"
            if candidate not in self.used_group_ids and candidate not in self.task_dict:
                self._suffixes["group:" + group_id] = n
                return candidate

    def param(self, name: str, default: Any = NOTSET) -> DagParam:
        """A reference to param ``name`` resolved at run time (sets its default when given)."""
        if default is not NOTSET:
            self.params[name] = default if isinstance(default, Param) else Param(default)
        return DagParam(name, NOTSET if default is NOTSET else self.params[name].value)

    def jinja_environment(self) -> Any:
        """The sandboxed Jinja environment for this DAG's templates (native or not, its filters)."""
        if self._jinja_env is None:
            from orchestrator.authoring import templating

            # One per DAG (made once per process): its loader serves {% include %} from the DAG's folders.
            self._jinja_env = templating.make_environment(
                native=self.render_template_as_native_obj, filters=self.user_defined_filters,
                undefined=self.template_undefined, options=self.jinja_environment_kwargs,
                searchpath=self.template_folders(),
            )
        return self._jinja_env

    def template_folders(self) -> list[str]:
        """Where template files are looked up: the DAG file's folder, then ``template_searchpath``."""
        here = os.path.dirname(os.path.abspath(self.fileloc))
        return [here] + [os.path.join(here, p) for p in self.template_searchpath]

    @property
    def roots(self) -> list[BaseOperator]:
        return [t for t in self.task_dict.values() if not t.upstream_task_ids]

    @property
    def leaves(self) -> list[BaseOperator]:
        return [t for t in self.task_dict.values() if not t.downstream_task_ids]

    @property
    def callbacks(self) -> list[str]:
        return [n for n in ("on_failure_callback", "on_success_callback") if getattr(self, n, None)]

    def test(self, logical_date: datetime | None = None, run_conf: dict[str, Any] | None = None,
             **_ignored: Any) -> dict[str, Any]:
        """Airflow's ``dag.test()``: one run on an embedded local cloud, then its task table.

        For ``if __name__ == "__main__": my_dag.test()`` at the bottom of a DAG file: the file's
        folder is the DAGs folder (loaded again in isolation, where ``__name__`` is not
        ``"__main__"``). Returns the final run item (``state`` is ``success`` or ``failed``).
        Airflow-only arguments (``use_executor``, ``mark_success_pattern``, ...) are ignored.
        """
        from orchestrator.authoring.runtime_api import dag_test_runner

        # orchestrator.cli runs it (the authoring layer imports nothing above it).
        return dag_test_runner()(self, logical_date, run_conf)

    # -- context manager --------------------------------------------------------------------

    def __enter__(self) -> DAG:
        _stack.state.dags.append(self)
        return self

    def __exit__(self, exc_type: Any = None, exc: Any = None, tb: Any = None) -> bool:
        _stack.state.dags.pop()
        from orchestrator.authoring.unserved import UnservedFeatureError

        if isinstance(exc, UnservedFeatureError):
            # Only this DAG is refused (stratus validate lists it); the file's other DAGs still load.
            self.refusals.append(exc.refusal or str(exc))
            return True
        return False

    def __repr__(self) -> str:
        return f"<DAG: {self.dag_id}>"


_REMOVED_IN_AIRFLOW_3 = {
    "schedule_interval": "schedule_interval was removed in Airflow 3; use schedule=...",
    "timetable": "timetable was removed in Airflow 3; pass the timetable as schedule=...",
    "concurrency": "concurrency was removed; use max_active_tasks=...",
    "sla_miss_callback": "SLA callbacks were removed in Airflow 3; use dagrun_timeout and on_failure_callback",
    "fail_fast": ("fail_fast is not supported by Stratus (running tasks are not stopped when another fails); "
                  "remove it, or use trigger rules such as one_failed to react to a failure"),
}


def _unknown_dag_args(kwargs: dict[str, Any]) -> str:
    for name in kwargs:
        if name in _REMOVED_IN_AIRFLOW_3:
            return _REMOVED_IN_AIRFLOW_3[name] + "."
    return f"unexpected argument(s) {', '.join(sorted(kwargs))}; check the spelling against DAG's parameters."


def dag(dag_id: Any = None, **kwargs: Any) -> Any:
    """Decorate a function that creates tasks; calling it builds and returns the ``DAG``.

    ``dag_id`` defaults to the function name and ``doc_md`` to its docstring; every other
    keyword is a ``DAG`` parameter. The function's own arguments become DAG params (their
    defaults, or the values passed to the call, are the params' defaults) and the function
    receives ``DagParam`` references that resolve from the run's params. Example::

        @dag(schedule="@daily", start_date=datetime(2026, 1, 1))
        def etl():
            load(transform(extract()))

        etl()
    """

    def wrap(fn: Callable[..., Any]) -> Callable[..., DAG]:
        code = fn.__code__

        @functools.wraps(fn)
        def build(*args: Any, **call_kwargs: Any) -> DAG:
            opts = dict(kwargs)
            did = opts.pop("dag_id", None) or fn.__name__
            if opts.get("doc_md") is None and fn.__doc__:
                opts["doc_md"] = inspect.cleandoc(fn.__doc__)
            # The DAG is located where the decorated function is defined (its first decorator line).
            opts.setdefault("fileloc", code.co_filename)
            opts.setdefault("lineno", code.co_firstlineno)
            sig = inspect.signature(fn)
            try:
                bound = sig.bind(*args, **call_kwargs)
            except TypeError as exc:
                raise DagDefinitionError(
                    f"DAG '{did}' ({_stack.short_path(code.co_filename)}:{code.co_firstlineno}): {exc} in the "
                    f"call to {fn.__name__}(); give the argument a default (it becomes a DAG param) or pass it."
                ) from None
            bound.apply_defaults()
            with DAG(did, **opts) as built:
                for name, value in list(bound.arguments.items()):
                    if sig.parameters[name].kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                        continue
                    bound.arguments[name] = built.param(name, value)
                fn(*bound.args, **bound.kwargs)
            return built

        return build

    if callable(dag_id):
        return wrap(dag_id)
    if dag_id is not None:
        kwargs["dag_id"] = dag_id
    return wrap

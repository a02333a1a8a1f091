"""``BaseOperator``: one task of a DAG, and the one call the worker makes to run it.

Subclass it for a custom operator: list the attributes that are Jinja-templated (and may
hold upstream outputs) in ``template_fields`` and implement ``execute(context)``::

    class CopyOperator(BaseOperator):
        template_fields = ("source", "target")

        def __init__(self, *, source: str, target: str, **kwargs):
            super().__init__(**kwargs)
            self.source, self.target = source, target

        def execute(self, context):
            ...

Operators take keyword arguments only. Values missing from the call are taken from the
DAG's (and the enclosing task groups') ``default_args`` when the operator accepts them.
"""

from __future__ import annotations

import copy
import difflib
import functools
import inspect
import math
import re
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from orchestrator.authoring import _stack
from orchestrator.authoring.context import set_current_context
from orchestrator.authoring.dependencies import DependencyMixin
from orchestrator.authoring.exceptions import TemplateRenderError
from orchestrator.authoring.mapping import MAPPED, ExpandInput, OperatorPartial, iter_xcom_args
from orchestrator.authoring.templating import load_template_files, render
from orchestrator.authoring.trigger_rule import TriggerRule
from orchestrator.authoring.xcom_arg import XComArg
from orchestrator.errors import DagDefinitionError

if TYPE_CHECKING:
    from orchestrator.authoring.dag import DAG
    from orchestrator.authoring.taskgroup import TaskGroup

_ID_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
MAX_ID_LENGTH = 250
CALLBACK_NAMES = (
    "on_execute_callback",
    "on_failure_callback",
    "on_retry_callback",
    "on_skipped_callback",
    "on_success_callback",
)


def validate_id(kind: str, value: Any, where: Any) -> None:
    """Raise ``DagDefinitionError`` unless ``value`` is a usable DAG/task/group id."""
    if not isinstance(value, str) or not value:
        raise DagDefinitionError(f"{where}: {kind} must be a non-empty string, got {value!r}.")
    if len(value) > MAX_ID_LENGTH:
        raise DagDefinitionError(f"{where}: {kind} {value!r} is longer than {MAX_ID_LENGTH} characters.")
    if not _ID_RE.match(value):
        raise DagDefinitionError(
            f"{where}: {kind} {value!r} may only contain letters, digits, '_', '-' and '.'; rename it."
        )


class describe:  # noqa: N801 - used like a function
    """``Task 'x' in DAG 'y' (file:line)`` for error messages, formatted only when used.

    Building the text for every task of a 10,000-task DAG would cost more than the checks.
    """

    __slots__ = ("task_id", "dag", "site")

    def __init__(self, task_id: str, dag: DAG | None, site: tuple[str, int]) -> None:
        self.task_id, self.dag, self.site = task_id, dag, site

    def __str__(self) -> str:
        in_dag = f" in DAG '{self.dag.dag_id}'" if self.dag is not None else ""
        return f"Task '{self.task_id}'{in_dag} ({_stack.short_path(self.site[0])}:{self.site[1]})"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def to_seconds(value: Any, what: str, where: Any) -> float | None:
    """A ``timedelta`` or a number of seconds as float seconds (None stays None)."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise DagDefinitionError(f"{where}: {what} must be a timedelta or a number of seconds, got {value!r}.")


_ACCEPTED: dict[type, frozenset[str]] = {}


def accepted_params(cls: type) -> frozenset[str]:
    """Keyword arguments the operator class accepts (union over its ``__init__`` chain)."""
    cached = _ACCEPTED.get(cls)
    if cached is not None:
        return cached
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        for p in inspect.signature(init).parameters.values():
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self":
                names.add(p.name)
    _ACCEPTED[cls] = frozenset(names)
    return _ACCEPTED[cls]


def _apply_default_args(cls: type, kwargs: dict[str, Any]) -> dict[str, Any]:
    dag = kwargs.get("dag") or (None if _stack.state.detached else _stack.current_dag())
    group = kwargs.get("task_group") or _stack.current_group(dag)
    merged: dict[str, Any] = {}
    if dag is not None and dag.default_args:
        merged.update(dag.default_args)
    if group is not None:
        for g in group.lineage():
            if g.default_args:
                merged.update(g.default_args)
    if kwargs.get("default_args"):
        merged.update(kwargs["default_args"])
    if not merged:
        return kwargs
    accepted = accepted_params(cls)
    out = dict(kwargs)
    for key, value in merged.items():
        if key in accepted and key not in out:
            out[key] = value
    return out


def _wrap_init(init: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(init)
    def __init__(self: BaseOperator, *args: Any, **kwargs: Any) -> None:
        if self.__dict__.get("_init_state") is not None:  # a super().__init__ call inside the chain
            init(self, *args, **kwargs)
            return
        if args:
            raise DagDefinitionError(
                f"{type(self).__name__} takes keyword arguments only (got {len(args)} positional); "
                f"write {type(self).__name__}(task_id=..., ...)."
            )
        self.__dict__["_init_state"] = "running"
        # Where the user created the task (custom operators' own super().__init__ lines are not it).
        self.__dict__["_site"] = _stack.caller_site()
        kwargs = _apply_default_args(type(self), kwargs)
        self._init_kwargs = kwargs
        init(self, **kwargs)
        self._post_init()
        self.__dict__["_init_state"] = "done"

    __init__._stratus_wrapped = True  # type: ignore[attr-defined]
    return __init__


class BaseOperator(DependencyMixin):
    """Base of every task. Subclasses implement ``execute(context)``.

    Parameters (all keyword-only; defaults also come from ``default_args``):
        task_id: unique within the DAG; prefixed with the enclosing task group's id.
        retries: how many times a failed try is retried (``retries=2`` means 3 tries at most).
        retry_delay: wait before a retry (``timedelta`` or seconds; default 300 s).
        retry_exponential_backoff: double the delay on each further retry.
        max_retry_delay: ceiling for the backed-off delay.
        execution_timeout: a try running longer fails (must fit Lambda's 900 s).
        trigger_rule: a ``TriggerRule`` (default ``all_success``).
        outlets: ``Asset``s this task updates when it succeeds.
        on_success_callback, on_failure_callback, on_retry_callback, on_execute_callback,
        on_skipped_callback: callables (or lists of them) called with the context.
        lambda_memory: memory in MB of the Lambda function that runs this task (128 to 10240).
        lambda_timeout: Lambda timeout in seconds (or ``timedelta``) for this task, at most 900.
        lambda_function: logical id (in template.yaml) or name of the Lambda function that runs
            this task instead of the shared ``WorkerFunction``.
        doc_md: documentation shown with the task.
        do_xcom_push: False keeps no return value (as in Airflow); ``xcom_push`` still works.
        depends_on_past: run only when this task's instances in the previous run (by logical
            date) ended success or skipped; otherwise wait (``engine.past``).
        wait_for_downstream: also wait for the previous run's instances of this task's direct
            downstream tasks; implies ``depends_on_past=True`` (as in Airflow).
        ignore_first_depends_on_past: run when the previous run has no instance of this task
            (a task added since); Airflow's default, False, waits.
        wait_for_past_depends_before_skipping: only False (Airflow's default) is supported.
    Accepted for compatibility and ignored on Lambda: owner, email, email_on_failure,
    email_on_retry, pool, pool_slots, queue, priority_weight, weight_rule,
    max_active_tis_per_dag, executor_config, map_index_template, and (Airflow 3 arguments without a meaning
    on Lambda) task-level start_date/end_date, executor, resources, run_as_user, logger_name,
    doc_rst/doc_json/doc_yaml, max_active_tis_per_dagrun, allow_nested_operators.
    """

    template_fields: ClassVar[Sequence[str]] = ()
    template_ext: ClassVar[Sequence[str]] = ()
    _step_kind: ClassVar[str] = "task"
    # Setup/teardown roles (as_setup / as_teardown, @setup / @teardown; plan/setup_teardown.py).
    is_setup: bool = False
    is_teardown: bool = False
    on_failure_fail_dagrun: bool = False
    # An instance of a task in a mapped task group: the group function's arguments (run time only).
    _group_values: dict[str, Any] | None = None
    _init_kwargs: dict[str, Any]
    fileloc: str
    lineno: int

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and not getattr(init, "_stratus_wrapped", False):
            cls.__init__ = _wrap_init(init)  # type: ignore[method-assign]

    def __init__(
        self,
        *,
        task_id: str,
        dag: DAG | None = None,
        task_group: TaskGroup | None = None,
        default_args: dict[str, Any] | None = None,
        retries: int | None = 0,
        retry_delay: timedelta | float = timedelta(seconds=300),
        retry_exponential_backoff: bool = False,
        max_retry_delay: timedelta | float | None = None,
        execution_timeout: timedelta | float | None = None,
        trigger_rule: str = TriggerRule.ALL_SUCCESS,
        outlets: Any = None,
        inlets: Any = None,
        on_success_callback: Any = None,
        on_failure_callback: Any = None,
        on_retry_callback: Any = None,
        on_execute_callback: Any = None,
        on_skipped_callback: Any = None,
        lambda_memory: int | None = None,
        lambda_timeout: timedelta | float | None = None,
        lambda_function: str | None = None,
        doc_md: str | None = None,
        doc: str | None = None,
        task_display_name: str | None = None,
        owner: str = "stratus",
        email: Any = None,
        email_on_failure: bool = True,
        email_on_retry: bool = True,
        depends_on_past: bool = False,
        wait_for_downstream: bool = False,
        ignore_first_depends_on_past: bool = False,
        wait_for_past_depends_before_skipping: bool = False,
        pool: str | None = None,
        pool_slots: int = 1,
        queue: str | None = None,
        priority_weight: int = 1,
        weight_rule: str | None = None,
        do_xcom_push: bool = True,
        max_active_tis_per_dag: int | None = None,
        executor_config: dict[str, Any] | None = None,
        map_index_template: str | None = None,
        **kwargs: Any,
    ) -> None:
        detached = _stack.state.detached > 0
        if detached:
            dag, group = None, None
        else:
            dag = dag or _stack.current_dag()
            group = task_group or _stack.current_group(dag)
        self.fileloc, self.lineno = self.__dict__.get("_site") or _stack.caller_site()
        label = task_id
        validate_id("task_id", label, describe(str(label), dag, (self.fileloc, self.lineno)))
        self.task_id = group.child_id(label) if group is not None else label
        where = describe(self.task_id, dag, (self.fileloc, self.lineno))
        # Task-level params (Airflow): merged over the DAG's for this task; a run's conf overrides them.
        from orchestrator.authoring.params import Param

        task_params = kwargs.pop("params", None) or {}
        if not isinstance(task_params, dict):
            raise DagDefinitionError(f"{where}: params must be a dict of names to values or Param(...), "
                                     f"got {task_params!r}.")
        self.params: dict[str, Param] = {str(k): v if isinstance(v, Param) else Param(v)
                                         for k, v in task_params.items()}
        if wait_for_downstream:
            depends_on_past = True  # Airflow: wait_for_downstream=True implies depends_on_past=True
        for name in _IGNORED_ARGS.intersection(kwargs):
            kwargs.pop(name)
        if "sla" in kwargs:
            raise DagDefinitionError(f"{where}: sla was removed in Airflow 3; use the DAG's dagrun_timeout or the "
                                     "task's execution_timeout, with on_failure_callback to be told.")
        if kwargs:
            names = ", ".join(sorted(kwargs))
            raise DagDefinitionError(
                f"{where}: {type(self).__name__} got unexpected argument(s): {names}. "
                "Check the spelling against the operator's parameters."
            )
        self.label = label
        self.retries = int(retries or 0)
        self.retry_delay = timedelta(seconds=to_seconds(retry_delay, "retry_delay", where) or 0)
        self.retry_exponential_backoff = bool(retry_exponential_backoff)
        mrd = to_seconds(max_retry_delay, "max_retry_delay", where)
        self.max_retry_delay = timedelta(seconds=mrd) if mrd is not None else None
        et = to_seconds(execution_timeout, "execution_timeout", where)
        self.execution_timeout = timedelta(seconds=et) if et is not None else None
        if not TriggerRule.is_valid(trigger_rule):
            close = difflib.get_close_matches(str(trigger_rule), sorted(TriggerRule.all_triggers()), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise DagDefinitionError(
                f"{where}: trigger_rule {trigger_rule!r} is not a trigger rule.{hint} "
                f"Use one of: {', '.join(sorted(TriggerRule.all_triggers()))}."
            )
        self.trigger_rule = TriggerRule(trigger_rule)
        self.outlets = _as_assets(outlets, "outlets", where)
        self.inlets = _as_assets(inlets, "inlets", where)
        self.on_success_callback = on_success_callback
        self.on_failure_callback = on_failure_callback
        self.on_retry_callback = on_retry_callback
        self.on_execute_callback = on_execute_callback
        self.on_skipped_callback = on_skipped_callback
        if lambda_memory is not None and (not isinstance(lambda_memory, int) or isinstance(lambda_memory, bool)):
            raise DagDefinitionError(f"{where}: lambda_memory must be an int number of MB, got {lambda_memory!r}.")
        self.lambda_memory = lambda_memory
        lt = to_seconds(lambda_timeout, "lambda_timeout", where)
        self.lambda_timeout = int(math.ceil(lt)) if lt is not None else None
        if lambda_function is not None and (not isinstance(lambda_function, str) or not lambda_function):
            raise DagDefinitionError(f"{where}: lambda_function must be a function name, got {lambda_function!r}.")
        self.lambda_function = lambda_function
        self.doc_md = doc_md
        self.doc = doc
        self.task_display_name = task_display_name
        self.owner = owner
        self.email = email
        self.email_on_failure = email_on_failure
        self.email_on_retry = email_on_retry
        self.depends_on_past = bool(depends_on_past)
        self.wait_for_downstream = bool(wait_for_downstream)
        self.ignore_first_depends_on_past = bool(ignore_first_depends_on_past)
        self.wait_for_past_depends_before_skipping = bool(wait_for_past_depends_before_skipping)
        self.pool = pool
        self.pool_slots = pool_slots
        self.queue = queue
        self.priority_weight = priority_weight
        self.weight_rule = weight_rule
        self.do_xcom_push = do_xcom_push
        self.max_active_tis_per_dag = max_active_tis_per_dag
        self.executor_config = executor_config or {}
        self.map_index_template = map_index_template
        self.upstream_task_ids: set[str] = set()
        self.downstream_task_ids: set[str] = set()
        self.expand_input: ExpandInput | None = None
        self._partial_kwargs: dict[str, Any] | None = None
        self._index = -1
        self.dag: DAG | None = None
        self.task_group: TaskGroup | None = group
        if dag is not None:
            dag.add_task(self)

    # -- definition -------------------------------------------------------------------------

    def _post_init(self) -> None:
        for name in self.template_fields:
            for ref in iter_xcom_args(getattr(self, name, None)):
                self.set_upstream(ref.operator)

    def _set_expand_input(self, expand_input: ExpandInput) -> None:
        self.expand_input = expand_input
        for ref in expand_input.references():
            self.set_upstream(ref.operator)

    @classmethod
    def partial(cls, **kwargs: Any) -> OperatorPartial:
        """Constant arguments of a mapped task; ``.expand(...)`` names the mapped ones."""
        if "task_id" not in kwargs:
            raise DagDefinitionError(f"{cls.__name__}.partial() needs task_id=...")
        return OperatorPartial(cls, kwargs)

    def _add_downstream(self, other: BaseOperator) -> None:
        if self.dag is None and other.dag is None:
            raise DagDefinitionError(
                f"Cannot make '{self.task_id}' run before '{other.task_id}': neither belongs to a DAG. "
                "Create tasks inside `with DAG(...)` or an @dag function."
            )
        if self.dag is None:
            other.dag.adopt(self)  # type: ignore[union-attr]
        elif other.dag is None:
            self.dag.adopt(other)
        elif self.dag is not other.dag:
            raise DagDefinitionError(
                f"Cannot make '{self.task_id}' (DAG '{self.dag.dag_id}') run before '{other.task_id}' "
                f"(DAG '{other.dag.dag_id}'): dependencies must stay inside one DAG."
            )
        self.downstream_task_ids.add(other.task_id)
        other.upstream_task_ids.add(self.task_id)

    @property
    def roots(self) -> list[BaseOperator]:
        return [self]

    @property
    def leaves(self) -> list[BaseOperator]:
        return [self]

    def as_setup(self) -> BaseOperator:
        """Mark this task a setup task (Airflow 3); returns it."""
        from orchestrator.authoring.setup_teardown import mark_setup

        mark_setup(self)
        return self

    def as_teardown(self, *, setups: Any = None, on_failure_fail_dagrun: bool | None = None) -> BaseOperator:
        """Mark this task a teardown of ``setups`` (which become setups, upstream of it); returns it.

        A teardown runs when its upstream tasks are done and one of its setups succeeded
        (trigger rule ``all_done_setup_success``); its failure does not fail the run unless
        ``on_failure_fail_dagrun=True``.
        """
        from orchestrator.authoring.setup_teardown import mark_teardown

        mark_teardown(self, setups=setups, on_failure_fail_dagrun=on_failure_fail_dagrun)
        return self

    def __enter__(self) -> BaseOperator:
        # `with teardown.as_teardown(setups=setup):` (Airflow 3): tasks created inside go between.
        from orchestrator.authoring.setup_teardown import enter_scope

        enter_scope(self)
        return self

    def __exit__(self, *exc: object) -> None:
        from orchestrator.authoring.setup_teardown import exit_scope

        exit_scope()

    @property
    def output(self) -> XComArg:
        """A reference to this task's return value."""
        return XComArg(self)

    @property
    def is_mapped(self) -> bool:
        return self.expand_input is not None or self.mapped_group is not None

    @property
    def mapped_group(self) -> TaskGroup | None:
        """The mapped task group this task lies in (each of its tasks is mapped with the group), or None."""
        from orchestrator.authoring.mapped_group import mapped_group_of

        return mapped_group_of(self.task_group)

    @property
    def upstream_list(self) -> list[BaseOperator]:
        assert self.dag is not None
        return [self.dag.task_dict[t] for t in sorted(self.upstream_task_ids)]

    @property
    def downstream_list(self) -> list[BaseOperator]:
        assert self.dag is not None
        return [self.dag.task_dict[t] for t in sorted(self.downstream_task_ids)]

    @property
    def callbacks(self) -> list[str]:
        """Names of the callbacks that are set, sorted."""
        return [name for name in CALLBACK_NAMES if getattr(self, name, None)]

    @property
    def log(self) -> Any:
        """Airflow's ``self.log``: the ``airflow.task`` logger; its lines go to the task's log."""
        from orchestrator.authoring.tasklog import task_logger

        return task_logger()

    def __repr__(self) -> str:
        return f"<Task({type(self).__name__}): {self.task_id}>"

    # -- run time ---------------------------------------------------------------------------

    def run(self, context: dict[str, Any], expanded_kwargs: dict[str, Any] | None = None) -> Any:
        """Run one try of this task (or of one mapped instance) and return its result.

        Works on a copy (the DAG's operator is never changed): applies ``expanded_kwargs``
        over the ``partial`` ones, resolves upstream outputs through
        ``context["ti"].xcom_pull``, renders ``template_fields`` (and leaves them, as the try
        runs with them, in ``context["ti"].rendered_fields``), makes ``context`` current and
        calls ``execute(context)``. Mapped values and upstream outputs are not rendered as
        templates. Raises whatever ``execute`` raises (including the skip/fail signals).
        """
        late: dict[str, Any] | None = None
        group_values: dict[str, Any] | None = None
        if expanded_kwargs is not None and self.expand_input is None and self.mapped_group is not None:
            # An instance of a task in a mapped task group: the values are the group function's
            # arguments, which reach the task through the MappedArgument objects it was given.
            from orchestrator.authoring.mapped_group import group_values as _group_values

            group_values, expanded_kwargs = _group_values(self, expanded_kwargs), None
        if expanded_kwargs and self.expand_input is not None and self.expand_input.kind == "expand":
            expanded_kwargs = self._mapped_items(expanded_kwargs)
        if expanded_kwargs and self._partial_kwargs is not None:
            op = self._reinstantiate(expanded_kwargs)
        else:
            op = copy.copy(self)
            late = expanded_kwargs or None
        op._group_values = group_values
        op.render_template_fields(context)
        if late:
            op.apply_mapped_kwargs(late)
        ti: Any = context.get("ti")
        if hasattr(ti, "rendered_fields"):  # Airflow's "Rendered Template": what this try runs with
            ti.rendered_fields = {name: getattr(op, name, None) for name in op.template_fields}
        from orchestrator.authoring.tasklog import task_logging

        with set_current_context(context), task_logging():
            op.pre_execute(context)
            result = op.execute(context)
            op.post_execute(context, result)
        if not op.do_xcom_push and op._step_kind == "task":
            # Airflow keeps no return value (nor its multiple_outputs keys) for such a task; a
            # branch/short-circuit result is still returned, the engine decides on it.
            return None
        return result

    def _mapped_items(self, expanded_kwargs: dict[str, Any]) -> dict[str, Any]:
        # An item mapped over `output.map(f)` reaches the instance as the upstream's item: apply f here.
        from orchestrator.authoring.xcom_arg import MapXComArg

        assert self.expand_input is not None
        sources = self.expand_input.value
        return {name: sources[name].apply(item) if isinstance(sources.get(name), MapXComArg) else item
                for name, item in expanded_kwargs.items()}

    def _reinstantiate(self, expanded_kwargs: dict[str, Any]) -> BaseOperator:
        skip = ("dag", "task_group", "default_args")
        kwargs = {k: v for k, v in self._init_kwargs.items() if v is not MAPPED and k not in skip}
        kwargs.update(expanded_kwargs)
        _stack.state.detached += 1
        try:
            new = type(self)(**kwargs)
        finally:
            _stack.state.detached -= 1
        for attr in ("task_id", "label", "dag", "task_group", "upstream_task_ids", "downstream_task_ids",
                     "fileloc", "lineno", "expand_input", "_partial_kwargs", "_index"):
            setattr(new, attr, getattr(self, attr))
        return new

    def apply_mapped_kwargs(self, expanded_kwargs: dict[str, Any]) -> None:
        """Set a mapped instance's values (after rendering). Python operators merge into op_kwargs."""
        for key, value in expanded_kwargs.items():
            setattr(self, key, value)

    def render_template_fields(self, context: dict[str, Any]) -> None:
        """Resolve upstream outputs and render Jinja in every field named in ``template_fields``."""

        from orchestrator.authoring.mapped_group import MappedArgument

        def leaf(value: Any) -> Any:
            # XComArg (upstream output) and DagParam (an @dag function argument) resolve here.
            if isinstance(value, MappedArgument):
                return value.pick(getattr(self, "_group_values", None))
            resolve = getattr(value, "resolve", None)
            if isinstance(value, XComArg) or getattr(value, "_is_dag_param", False):
                return resolve(context)  # type: ignore[misc]
            return value

        env = self.dag.jinja_environment if self.dag is not None else None  # made when a field has a template
        if self.dag is not None and self.dag.user_defined_macros:
            context = {**self.dag.user_defined_macros, **context}
        extensions = tuple(self.template_ext)
        searchpath = self.dag.template_folders() if self.dag is not None and extensions else []
        for name in self.template_fields:
            value = getattr(self, name, None)
            if value is None:
                continue
            value = load_template_files(value, extensions, searchpath, task_id=self.task_id)
            try:
                setattr(self, name, render(value, context, leaf=leaf, env=env))
            except TemplateRenderError as exc:
                raise TemplateRenderError(
                    f"Task '{self.task_id}': could not render template field '{name}': {exc}"
                ) from exc

    def pre_execute(self, context: dict[str, Any]) -> None:
        """Hook called right before ``execute``."""

    def execute(self, context: dict[str, Any]) -> Any:
        """The task's work; the return value becomes its output (XCom)."""
        raise NotImplementedError(f"{type(self).__name__} must implement execute(context)")

    def post_execute(self, context: dict[str, Any], result: Any = None) -> None:
        """Hook called right after ``execute`` with its result."""


BaseOperator.__init__ = _wrap_init(BaseOperator.__init__)  # type: ignore[method-assign]

# Airflow BaseOperator arguments accepted and ignored (no meaning for a task run by Lambda).
_IGNORED_ARGS = frozenset({
    "start_date", "end_date", "executor", "resources", "run_as_user", "logger_name", "doc_rst", "doc_json",
    "doc_yaml", "max_active_tis_per_dagrun",
    "allow_nested_operators",
})


def _as_assets(value: Any, what: str, where: Any) -> list[Any]:
    from orchestrator.authoring.assets import Asset, AssetAlias

    if value is None:
        return []
    from orchestrator.authoring.unserved import is_unserved

    items = list(value) if isinstance(value, (list, tuple, set)) else [value]
    for item in items:
        if not isinstance(item, (Asset, AssetAlias)) and not is_unserved(item):  # unserved: refused by the validator
            raise DagDefinitionError(f"{where}: {what} must be Asset(...) objects, got {item!r}.")
    return items

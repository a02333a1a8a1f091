"""``@asset`` and ``@asset.multi``: a function that materialises assets is its own DAG (Airflow 3).

``@asset(schedule="@daily")`` on ``def daily_quotes(): ...`` makes, as in Airflow:

- an ``Asset`` named ``daily_quotes`` (``uri=`` when given, else the name) that the decorated name
  now refers to, so other DAGs schedule on it (``schedule=daily_quotes``);
- a DAG ``daily_quotes`` on ``schedule`` with one task ``daily_quotes`` whose outlet is that asset.

The function receives ``self`` (the asset), ``context`` (the task context), context keys by name,
and, for any other parameter, the asset of that name among ``inlets`` (Airflow passes the inlet
assets the same way). ``@asset.multi(outlets=[a, b], schedule=...)`` makes a DAG whose one task
updates several assets; the decorated name refers to the DAG's outlets.
"""

from __future__ import annotations

import inspect
from datetime import datetime, timezone
from typing import Any, Callable

from orchestrator.authoring.assets import Asset

# A timed @asset without start_date runs from its next interval (Airflow 3 needs no start_date).
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_DAG_ARGS = ("start_date", "end_date", "catchup", "tags", "params", "default_args", "max_active_runs",
             "dagrun_timeout", "doc_md", "description", "on_success_callback", "on_failure_callback",
             "is_paused_upon_creation", "access_control", "owner_links", "dag_display_name")


class AssetDefinition(Asset):
    """The ``Asset`` an ``@asset`` function materialises (also the id of its DAG and task)."""

    __slots__ = ("dag",)
    dag: Any  # the DAG the decorator built (set right after the definition)


def _build(function: Callable[..., Any], outlets: list[Asset], *, name: str, schedule: Any,
           inlets: list[Any], task_kwargs: dict[str, Any], dag_kwargs: dict[str, Any],
           definition: Asset | None) -> Any:
    from orchestrator.authoring.dag import DAG
    from orchestrator.authoring.operators import PythonOperator, run_generator

    signature = inspect.signature(function)
    # As in Airflow, a parameter named after an asset (another @asset's name here) makes it an inlet.
    for pname in signature.parameters:
        found = function.__globals__.get(pname)
        if pname not in ("self", "context") and isinstance(found, Asset) and found not in inlets:
            inlets = [*inlets, found]
    by_name = {getattr(a, "name", None): a for a in inlets}
    by_name.update({n: a for n in signature.parameters for a in inlets if function.__globals__.get(n) is a})

    def materialise(**context: Any) -> Any:  # not functools.wraps: its signature must stay **context
        kwargs: dict[str, Any] = {}
        for pname, p in signature.parameters.items():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if pname == "self":
                kwargs[pname] = definition if definition is not None else outlets
            elif pname == "context":
                kwargs[pname] = context
            elif pname in context:
                kwargs[pname] = context[pname]
            elif pname in by_name:
                kwargs[pname] = by_name[pname]
        if any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
            kwargs.update({k: v for k, v in context.items() if k not in kwargs})
        if inspect.isgeneratorfunction(function):
            return run_generator(function(**kwargs), context, name)
        return function(**kwargs)

    materialise.__name__ = materialise.__qualname__ = function.__name__
    materialise.__doc__ = function.__doc__
    opts = dict(dag_kwargs)
    if schedule is not None and not isinstance(schedule, (Asset, list, tuple)) and "start_date" not in opts:
        opts["start_date"] = _EPOCH
    code = function.__code__
    with DAG(name, schedule=schedule, fileloc=code.co_filename, lineno=code.co_firstlineno,
             doc_md=opts.pop("doc_md", None) or inspect.getdoc(function), **opts) as dag:
        PythonOperator(task_id=name, python_callable=materialise, outlets=outlets, inlets=inlets, **task_kwargs)
    return dag


def _split(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    dag_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in _DAG_ARGS}
    return kwargs, dag_kwargs


class _AssetDecorator:
    """``@asset(schedule=..., uri=..., name=..., group=..., extra=..., inlets=...)`` and ``@asset.multi``."""

    def __call__(self, function: Callable[..., Any] | None = None, *, schedule: Any = None, uri: str | None = None,
                 name: str | None = None, group: str = "asset", extra: dict[str, Any] | None = None,
                 inlets: list[Any] | None = None, **kwargs: Any) -> Any:
        def wrap(fn: Callable[..., Any]) -> AssetDefinition:
            asset_name = name or fn.__name__
            definition = AssetDefinition(name=asset_name, uri=uri or asset_name, group=group, extra=extra)
            task_kwargs, dag_kwargs = _split(dict(kwargs))
            definition.dag = _build(fn, [definition], name=asset_name, schedule=schedule, inlets=list(inlets or []),
                                    task_kwargs=task_kwargs, dag_kwargs=dag_kwargs, definition=definition)
            return definition

        return wrap(function) if function is not None else wrap

    def multi(self, function: Callable[..., Any] | None = None, *, outlets: list[Asset], schedule: Any = None,
              name: str | None = None, inlets: list[Any] | None = None, **kwargs: Any) -> Any:
        """One function (and DAG) that updates several assets: ``@asset.multi(outlets=[a, b], schedule=...)``."""

        def wrap(fn: Callable[..., Any]) -> list[Asset]:
            task_kwargs, dag_kwargs = _split(dict(kwargs))
            _build(fn, list(outlets), name=name or fn.__name__, schedule=schedule, inlets=list(inlets or []),
                   task_kwargs=task_kwargs, dag_kwargs=dag_kwargs, definition=None)
            return list(outlets)

        return wrap(function) if function is not None else wrap


asset = _AssetDecorator()

"""Run one task try: build the Airflow-style context, call the operator, enforce the timeout.

The worker path: ``Engine.handle_task`` claims the try, then calls ``execute_try`` here with
the loaded operator. The context holds Airflow 3's keys (``ds``, ``ts``, ``logical_date``,
``data_interval_start/end``, ``run_id``, ``dag_run``, ``params``, ``ti``, ``task``, ``dag``,
``triggering_asset_events``, ...). ``ti.xcom_pull`` reads upstream outputs from the run store
(a mapped upstream gives the list of its outputs in map-index order); ``ti.xcom_push`` buffers
values that are stored with the try's terminal write.
"""

from __future__ import annotations

import contextvars
import ctypes
import signal
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from orchestrator.engine import counters as ck
from orchestrator.engine.deadlines import Deadlines
from orchestrator.authoring.macros import MACROS, ConnAccessor, VarAccessor
from orchestrator.plan.model import Step, StepPlan
from orchestrator.store import xcom as codec


class TaskTimeout(Exception):
    """A try ran longer than its ``execution_timeout`` (the try fails and may be retried)."""


@dataclass(frozen=True)
class RuntimeDagRun:
    """``context["dag_run"]``: the run as a task sees it."""

    dag_id: str
    run_id: str
    run_type: str
    conf: dict[str, Any]
    logical_date: datetime | None
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    start_date: datetime | None
    triggering_asset_events: Any = None
    state: str | None = None  # "running" in a task; "success"/"failed" in the DAG's callbacks
    partition_key: str | None = None  # a partitioned run's key (Airflow 3.2+)
    partition_date: datetime | None = None


def parse_dt(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _pendulum(value: datetime | None) -> datetime | None:
    """As in Airflow, the context's dates are pendulum DateTimes (``.add(days=1)``, ``.format(...)``)."""
    if value is None:
        return None
    import pendulum

    return pendulum.instance(value)


@dataclass
class RuntimeTaskInstance:
    """``context["ti"]``: identity of the try plus XCom access (Airflow's RuntimeTaskInstance)."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    max_tries: int
    plan: StepPlan
    store: Any
    task: Any = None
    start_date: datetime | None = None
    state: str = "running"
    pushed: dict[str, Any] = field(default_factory=dict)
    # The worker's engine, for operators that act on runs (TriggerDagRunOperator).
    engine: Any = field(default=None, repr=False, compare=False)
    # A rescheduled sensor: when this try's first poke started (engine.sensors).
    first_reschedule_date: datetime | None = None
    # The task's template fields as this try renders them (BaseOperator.run sets it); stored
    # with the try's end (orchestrator.store.rendered).
    rendered_fields: dict[str, Any] | None = None

    def get_first_reschedule_date(self, context: Any = None) -> datetime | None:
        """Airflow's: the start of this try's first poke when the sensor was rescheduled, else None."""
        return self.first_reschedule_date

    def xcom_push(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` for downstream tasks (written when the try ends)."""
        if not isinstance(key, str) or not key:
            raise ValueError(f"Task '{self.task_id}': xcom_push needs a non-empty string key, got {key!r}.")
        codec.encode(value)  # fail now, with the task's traceback, on an unstorable value
        self.pushed[key] = value

    def xcom_pull(self, task_ids: str | list[str] | None = None, key: str = "return_value",
                  map_indexes: int | list[int] | None = None, default: Any = None,
                  dag_id: str | None = None, run_id: str | None = None, include_prior_dates: bool = False) -> Any:
        """Read upstream outputs: one value for a task id, a list for a list of ids.

        For a mapped task without ``map_indexes`` the value is the list of its instances'
        outputs in map-index order. ``task_ids=None`` pulls this task's own pushes.
        """
        if task_ids is None:
            task_ids = self.task_id
        if isinstance(task_ids, str):
            return self._pull_one(task_ids, key, map_indexes, default, dag_id, run_id)
        return [self._pull_one(t, key, map_indexes, default, dag_id, run_id) for t in task_ids]

    def _pull_one(self, task_id: str, key: str, map_indexes: int | list[int] | None, default: Any,
                  dag_id: str | None, run_id: str | None) -> Any:
        dag_id, run_id = dag_id or self.dag_id, run_id or self.run_id
        if task_id == self.task_id and key in self.pushed and dag_id == self.dag_id and run_id == self.run_id:
            return self.pushed[key]
        try:
            mapped = self.plan.step(task_id).mapping is not None if dag_id == self.dag_id else False
        except KeyError:
            mapped = False
        if isinstance(map_indexes, list):
            return [self._value(dag_id, run_id, task_id, i, key, default) for i in map_indexes]
        if map_indexes is not None:
            return self._value(dag_id, run_id, task_id, int(map_indexes), key, default)
        if mapped:
            # Airflow returns the XComs that exist: an instance that was skipped, failed or
            # returned None pushed nothing and is left out (as in a TaskFlow argument).
            return [v for v in self.store.list_xcom(dag_id, run_id, task_id, key) if v is not None]
        return self._value(dag_id, run_id, task_id, -1, key, default)

    def _value(self, dag_id: str, run_id: str, task_id: str, map_index: int, key: str, default: Any) -> Any:
        value = self.store.get_xcom(dag_id, run_id, task_id, map_index, key)
        return default if value is None else value

    def __repr__(self) -> str:
        return (f"<TaskInstance: {self.dag_id}.{self.task_id} {self.run_id} map_index={self.map_index} "
                f"try_number={self.try_number}>")


class OutletEventAccessor:
    """``context["outlet_events"][asset]``: the ``extra`` of the event this task emits for it."""

    def __init__(self, alias: bool = False) -> None:
        self.extra: dict[str, Any] = {}
        self.asset_alias_events: list[tuple[str, dict[str, Any]]] = []
        self.partition_keys: set[str] = set()
        self._alias = alias

    def add_partitions(self, keys: str | list[str]) -> None:
        """Emit the asset's event once per partition key (Airflow 3.3); without it the event carries the
        run's partition key (if the run has one)."""
        from orchestrator.authoring.partitions import check_partition_key

        if self._alias:
            raise TypeError("add_partitions() is not supported on asset alias outlet events; partition keys can "
                            "only be attached to a concrete asset.")
        for key in [keys] if isinstance(keys, str) else list(keys):
            self.partition_keys.add(check_partition_key(key))

    def add(self, asset: Any, extra: dict[str, Any] | None = None) -> None:
        """Through an ``AssetAlias`` outlet: emit an event for ``asset`` (decided at run time) with ``extra``."""
        uri = getattr(asset, "uri", None)
        if not isinstance(uri, str):
            raise TypeError(f"outlet_events[alias].add() takes an Asset, got {asset!r}")
        self.asset_alias_events.append((uri, dict(extra or {})))


class OutletEventAccessors(dict):  # type: ignore[type-arg]
    """Airflow 3's ``outlet_events``: indexed by an ``Asset`` (or its uri), created on first use.

    ``context["outlet_events"][my_asset].extra = {"rows": 3}`` puts ``rows`` in the ``extra`` of
    the asset event the task emits when it succeeds (consumers see it in
    ``triggering_asset_events``).
    """

    def __getitem__(self, asset: Any) -> OutletEventAccessor:
        uri = str(getattr(asset, "uri", asset))
        if not dict.__contains__(self, uri):
            from orchestrator.authoring.assets import ALIAS_PREFIX

            dict.__setitem__(self, uri, OutletEventAccessor(alias=uri.startswith(ALIAS_PREFIX)))
        return dict.__getitem__(self, uri)

    def partition_keys(self) -> dict[str, list[str]]:
        """``{uri: [key, ...]}`` of the assets whose task called ``add_partitions``."""
        return {uri: sorted(acc.partition_keys) for uri, acc in self.items() if acc.partition_keys}

    def extras(self) -> dict[str, dict[str, Any]]:
        """``{uri: extra}`` of the accessors a task filled; for an alias (``alias:NAME``) the assets added
        through it: ``{"alias:NAME": {"added": [{"uri": ..., "extra": {...}}, ...]}}``."""
        out = {uri: dict(acc.extra) for uri, acc in self.items() if acc.extra}
        for uri, acc in self.items():
            if acc.asset_alias_events:
                out[uri] = {"added": [{"uri": u, "extra": e} for u, e in acc.asset_alias_events]}
        return out


class TaskStateStore:
    """``context["task_state_store"]`` (Airflow 3.3): a key/value store of this task instance in this
    run, kept in the run table; it survives retries (a retry reads what the failed try set)."""

    def __init__(self, store: Any, dag_id: str, run_id: str, task_id: str, map_index: int) -> None:
        self._store, self._at = store, (dag_id, run_id, task_id, map_index)

    def get(self, key: str, default: Any = None) -> Any:
        if not self._store.has_task_state(*self._at, _key(key)):
            return default
        return self._store.get_task_state(*self._at, key)

    def set(self, key: str, value: Any) -> None:
        self._store.set_task_state(*self._at, _key(key), _json_value(value, key))

    def delete(self, key: str) -> None:
        self._store.delete_task_state(*self._at, _key(key))

    def clear(self) -> None:
        self._store.clear_task_state(*self._at)


class AssetStateStore:
    """One asset's key/value store (Airflow 3.3's asset state store): persists across runs."""

    def __init__(self, store: Any, uri: str) -> None:
        self._store, self.uri = store, uri

    def get(self, key: str, default: Any = None) -> Any:
        found, value = self._store.get_asset_state(self.uri, _key(key))
        return value if found else default

    def set(self, key: str, value: Any) -> None:
        self._store.set_asset_state(self.uri, _key(key), _json_value(value, key))

    def delete(self, key: str) -> None:
        self._store.delete_asset_state(self.uri, _key(key))

    def clear(self) -> None:
        self._store.clear_asset_state(self.uri)


class AssetStateStores:
    """``context["asset_state_store"]``: ``[asset]`` gives that inlet's or outlet's store; with one
    asset, ``.get/.set/.delete/.clear`` act on it directly (an ``@asset`` DAG's)."""

    def __init__(self, store: Any, assets: list[Any]) -> None:
        self._store = store
        self._uris = list(dict.fromkeys(str(getattr(a, "uri", a)) for a in assets))

    def __getitem__(self, asset: Any) -> AssetStateStore:
        uri = str(getattr(asset, "uri", asset))
        if uri not in self._uris:
            raise KeyError(f"asset_state_store has no asset {uri!r}: declare it in the task's inlets or outlets "
                           f"(it has {self._uris or 'none'}).")
        return AssetStateStore(self._store, uri)

    def _only(self) -> AssetStateStore:
        if len(self._uris) != 1:
            raise KeyError(f"this task has {len(self._uris)} assets {self._uris}; pick one with "
                           "asset_state_store[asset].")
        return AssetStateStore(self._store, self._uris[0])

    def get(self, key: str, default: Any = None) -> Any:
        return self._only().get(key, default)

    def set(self, key: str, value: Any) -> None:
        self._only().set(key, value)

    def delete(self, key: str) -> None:
        self._only().delete(key)

    def clear(self) -> None:
        self._only().clear()


class InletEventsAccessor:
    """``context["inlet_events"][asset]``: the asset's events, oldest first (``[-1]`` is the newest),
    as ``AssetEvent`` objects, read when first asked for. As in Airflow the asset must be one of the
    task's inlets. Stratus keeps an asset's events 7 days (the triggers' dedup items); an S3
    prefix or glob asset has only the events emitted for that uri itself (task outlets)."""

    def __init__(self, store: Any, inlets: list[Any]) -> None:
        self._store = store
        self._uris = [str(getattr(a, "uri", a)) for a in inlets if getattr(a, "uri", None)]
        self._cache: dict[str, list[Any]] = {}

    def __getitem__(self, asset: Any) -> list[Any]:
        from orchestrator.authoring.assets import AssetEvent

        uri = str(getattr(asset, "uri", asset))
        if uri not in self._uris:
            raise KeyError(f"inlet_events has no asset {uri!r}: add it to the task's inlets=[...] "
                           f"(the task's inlets: {self._uris or 'none'}).")
        if uri not in self._cache:
            self._cache[uri] = [AssetEvent(e) for e in self._store.asset_events(uri)]
        return self._cache[uri]

    def __contains__(self, asset: Any) -> bool:
        return str(getattr(asset, "uri", asset)) in self._uris

    def __iter__(self) -> Any:
        return iter(self._uris)

    def __len__(self) -> int:
        return len(self._uris)


def _key(key: Any) -> str:
    if not isinstance(key, str) or not key or len(key) > 512:
        raise ValueError(f"a state store key must be a non-empty string of at most 512 characters, got {key!r}")
    return key


def _json_value(value: Any, key: str) -> Any:
    import json

    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"state store value for {key!r} must be JSON-serialisable (no pickle): {exc}") from None
    return value


def _task_params(run_params: dict[str, Any], conf: dict[str, Any], task: Any, dag_id: str) -> dict[str, Any]:
    """The run's params with the task's own params over them (Airflow); the run's conf overrides both."""
    own = getattr(task, "params", None)
    if not own:
        return run_params
    from orchestrator.plan.params import check_value

    out = dict(run_params)
    for name, param in own.items():
        if name in conf:
            value, has = conf[name], True
        else:
            value, has = param.value, param.has_value
        out[name] = check_value(value, param.schema, has_value=has, name=name,
                                dag_id=f"{dag_id}' task '{getattr(task, 'task_id', '?')}")
    return out


_PREV_SUCCESS = ("prev_data_interval_start_success", "prev_data_interval_end_success", "prev_start_date_success",
                 "prev_end_date_success")


def _asks_for(task: Any, names: tuple[str, ...]) -> bool:
    """Does the task name one of ``names`` (a parameter of its function, or in a templated field)?
    Only then is the run table read for them (one query), so other tasks cost nothing more."""
    from orchestrator.authoring.operators import signature_of  # kept per function

    fn = getattr(task, "python_callable", None)
    try:
        params = set(signature_of(fn).parameters) if callable(fn) else set()
    except (TypeError, ValueError):
        params = set()
    if params & set(names):
        return True
    texts = [str(getattr(task, f, "")) for f in getattr(task, "template_fields", ())]
    return any(n in t for n in names for t in texts)


def _prev_success(store: Any, dag_id: str, logical: Any) -> dict[str, Any]:
    """Airflow's ``prev_*_success``: the newest successful run of the DAG before this one's logical date."""
    out: dict[str, Any] = dict.fromkeys(_PREV_SUCCESS)
    here = str(logical or "")
    for prev in store.list_runs(dag_id, limit=50, states=["success"]):
        if here and str(prev.get("logical_date") or "") < here:
            out.update(
                prev_data_interval_start_success=_pendulum(parse_dt(prev.get("data_interval_start"))),
                prev_data_interval_end_success=_pendulum(parse_dt(prev.get("data_interval_end"))),
                prev_start_date_success=_pendulum(parse_dt(prev.get("start_date"))),
                prev_end_date_success=_pendulum(parse_dt(prev.get("end_date"))))
            break
    return out


def build_context(*, plan: StepPlan, step: Step, run: dict[str, Any], ti: RuntimeTaskInstance,
                  task: Any = None, dag: Any = None) -> dict[str, Any]:
    """The task's context dict (Airflow 3 keys)."""
    logical = _pendulum(parse_dt(run.get("logical_date")))
    start = _pendulum(parse_dt(run.get("data_interval_start"))) or logical
    end = _pendulum(parse_dt(run.get("data_interval_end"))) or logical
    from orchestrator.authoring.assets import TriggeringAssetEvents

    conf = run.get("conf") or {}
    params = _task_params(run.get("params") or {}, conf, task, plan.dag_id)
    triggering = TriggeringAssetEvents(run.get("triggering_asset_events"))
    dag_run = RuntimeDagRun(
        dag_id=plan.dag_id, run_id=run["run_id"], run_type=run.get("run_type", "manual"), conf=conf,
        logical_date=logical, data_interval_start=start, data_interval_end=end,
        start_date=parse_dt(run.get("start_date")), triggering_asset_events=triggering,
        state=run.get("state"), partition_key=run.get("partition_key"),
        partition_date=_pendulum(parse_dt(run.get("partition_date"))),
    )
    ctx: dict[str, Any] = {
        "dag": dag,
        "task": task,
        "ti": ti,
        "task_instance": ti,
        "dag_run": dag_run,
        "run_id": run["run_id"],
        "params": dict(params),
        "conf": conf,
        "logical_date": logical,
        "data_interval_start": start,
        "data_interval_end": end,
        "start_date": ti.start_date,
        "map_index": ti.map_index,
        "try_number": ti.try_number,
        "partition_key": dag_run.partition_key,
        "partition_date": dag_run.partition_date,
        "triggering_asset_events": triggering,
        "inlet_events": InletEventsAccessor(ti.store, list(getattr(task, "inlets", []) or [])),
        "task_state_store": TaskStateStore(ti.store, plan.dag_id, run["run_id"], step.task_id, ti.map_index),
        "task_instance_key_str": f"{plan.dag_id}__{step.task_id}__{(logical or datetime.min).strftime('%Y%m%d')}",
        "outlets": list(getattr(task, "outlets", []) or []),
        "inlets": list(getattr(task, "inlets", []) or []),
        "expanded_ti_count": run.get(ck.map_count(step.task_id)),
        "outlet_events": OutletEventAccessors(),
        "macros": MACROS,
        "var": VarAccessor(),
        "conn": ConnAccessor(),
    }
    ctx.update(test_mode=False, reason=None, task_reschedule_count=0,
               map_index_template=getattr(task, "map_index_template", None), templates_dict=None)
    if _asks_for(task, _PREV_SUCCESS):
        ctx.update(_prev_success(ti.store, plan.dag_id, run.get("logical_date")))
    assets = [*(getattr(task, "inlets", []) or []), *(getattr(task, "outlets", []) or [])]
    if assets:  # as in Airflow: only a task with asset inlets or outlets has the key
        ctx["asset_state_store"] = AssetStateStores(ti.store, assets)
    if logical is not None:
        ctx.update(
            ds=logical.strftime("%Y-%m-%d"),
            ds_nodash=logical.strftime("%Y%m%d"),
            ts=logical.isoformat(),
            ts_nodash=logical.strftime("%Y%m%dT%H%M%S"),
            ts_nodash_with_tz=logical.isoformat().replace("-", "").replace(":", ""),
        )
    return ctx


def run_with_timeout(fn: Callable[[], Any], timeout_s: float | None, *, what: str,
                     setting: str = "execution_timeout", in_thread: bool = False) -> Any:
    """Call ``fn`` and fail with TaskTimeout after ``timeout_s`` seconds.

    In the main thread (a Lambda handler) SIGALRM interrupts the task body itself. Elsewhere
    (the local cloud's thread pool) the body runs in a helper thread; on timeout an
    asynchronous TaskTimeout is raised inside it (it stops at its next Python bytecode; a
    blocking C call finishes first) and the try fails at once either way. With ``in_thread``
    (the limit is the worker function's own timeout, which Lambda enforces anyway) the body
    stays in the calling thread and a watchdog raises the TaskTimeout there.
    """
    if not timeout_s or timeout_s <= 0:
        return fn()
    message = f"{what} timed out after {timeout_s:g}s ({setting})"
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        def on_alarm(signum: int, frame: Any) -> None:
            raise TaskTimeout(message)

        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout_s)
        try:
            return fn()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    if in_thread:
        return _run_with_watchdog(fn, timeout_s, message)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    # The body runs in this context (the local cloud's caller identity, context variables a task set).
    worker = threading.Thread(target=contextvars.copy_context().run, args=(target,), name=f"stratus-task-{what}",
                              daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(worker.ident or 0), ctypes.py_object(TaskTimeout))
        raise TaskTimeout(message)
    if "error" in box:
        raise box["error"]
    return box.get("value")


_WATCHDOG = Deadlines("stratus-task-timeouts")


def _run_with_watchdog(fn: Callable[[], Any], timeout_s: float, message: str) -> Any:
    guard = _WATCHDOG.watch(timeout_s, TaskTimeout)
    try:
        try:
            value = fn()
        finally:
            guard.finish()
        if guard.timed_out:  # it fired as the body returned: the exception may still be pending here
            raise TaskTimeout(message)
        return value
    except TaskTimeout:
        raise TaskTimeout(message) from None

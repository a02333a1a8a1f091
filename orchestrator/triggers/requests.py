"""What an isolated DAG's worker cannot do itself, asked of the requests function and checked there.

With per-DAG isolation (``orchestrator.plan.isolation``) a worker's role reaches only its own
DAG's items. Three things a task does cross DAGs: the asset events of its ``outlets`` (asset
items, and runs of the DAGs scheduled on them), ``TriggerDagRunOperator`` (another DAG's run,
the global ``RUNID#`` pointer) and waiting for that run, ``ExternalTaskSensor`` (reading
another DAG's runs and task states). The worker asks the requests function (the trigger code, deployed apart so a DAG role may invoke it and nothing else)::

    worker (DAG A's role)                             requests function (shared role)
    1. put  RUN#A#{run} / REQ#{task}#{map}#{try}#{id}   (only A's role, or the platform, can write there)
    2. invoke {"kind": "dag_request", "dag_id": A, "run_id", "request": sk}  (RequestResponse)
                                                      3. read the request from A's partition: A asked
                                                      4. the asking try is A's live try of that task
                                                      5. the plan of A's run allows it:
                                                         outlets -> only the step's outlets, after success
                                                         runs    -> only the DAGs the step names (other_dags)
                                                      6. do it; answer {"result"} or {"error"}

Who asks is proved by where the request is (``dynamodb:LeadingKeys`` of the asking DAG's role),
not by what the invoke says, so DAG A cannot ask in DAG B's name. A refusal is logged and
answered, never raised (nothing is retried).
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime
from typing import Any

from orchestrator.config import Clients, Resources
from orchestrator.errors import EventError, NotFoundError, StratusError
from orchestrator.telemetry import logger

KIND = "dag_request"
REQUEST_PREFIX = "REQ#"
REQUEST_TTL_S = 7 * 24 * 3600  # the table's TTL removes answered requests after a week
OPS = ("outlets", "start_run", "clear", "read")
READS = ("get_run", "get_dag", "runs_at", "list_tis")  # the run store reads a task may make of another DAG


class RequestRefused(StratusError):
    """The requests function refused a worker's cross-DAG request (the message says why)."""


# ---------------------------------------------------------------- worker side
class CrossDagRequests:
    """The worker's side: write the request in its own partition, invoke the requests function."""

    def __init__(self, clients: Clients, resources: Resources, store: Any) -> None:
        self.clients, self.resources, self.store = clients, resources, store

    def submit(self, *, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int,
               op: str, args: dict[str, Any]) -> Any:
        """Ask for ``op``; returns its result. RequestRefused or NotFoundError as the answer says."""
        if not self.resources.requests_function:
            raise RequestRefused("Per-DAG isolation needs the requests function (STRATUS_REQUESTS_FUNCTION is "
                                 "empty): deploy the current template.yaml.")
        sk = f"{REQUEST_PREFIX}{task_id}#{map_index}#{try_number}#{uuid.uuid4().hex}"
        self.store.put_request(dag_id, run_id, sk, {
            "op": op, "args": json.dumps(args, default=str), "task_id": task_id, "map_index": map_index,
            "try_number": try_number, "expires_at": int(time.time()) + REQUEST_TTL_S})
        resp = self.clients.client("lambda").invoke(
            FunctionName=self.resources.requests_function, InvocationType="RequestResponse",
            Payload=json.dumps({"kind": KIND, "dag_id": dag_id, "run_id": run_id, "request": sk}).encode())
        body = json.loads(resp["Payload"].read() or b"null")
        if resp.get("FunctionError"):
            raise RequestRefused(f"The requests function failed on {op!r}: {(body or {}).get('errorMessage', body)}")
        error = (body or {}).get("error")
        if error:
            raise (NotFoundError if error.get("type") == "not_found" else RequestRefused)(error.get("message", ""))
        return (body or {}).get("result")


class RunStoreView:
    """``RunControl.store`` for a bound task: another DAG's runs and tasks, read through requests."""

    def __init__(self, control: BoundRunControl) -> None:
        self._control = control

    def _read(self, method: str, dag_id: str, **args: Any) -> Any:
        return self._control.ask("read", method=method, dag_id=dag_id, **args)

    def get_run(self, dag_id: str, run_id: str, **_: Any) -> dict[str, Any]:
        return self._read("get_run", dag_id, run_id=run_id)  # type: ignore[no-any-return]

    def get_dag(self, dag_id: str) -> dict[str, Any]:
        return self._read("get_dag", dag_id)  # type: ignore[no-any-return]

    def runs_at(self, dag_id: str, moment: datetime) -> list[dict[str, Any]]:
        return self._read("runs_at", dag_id, moment=moment.isoformat())  # type: ignore[no-any-return]

    def list_tis(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self._read("list_tis", dag_id, run_id=run_id)  # type: ignore[no-any-return]


class BoundRunControl:
    """``RunControl`` (``authoring.runtime_api``) of one running task, over the requests."""

    def __init__(self, requests: CrossDagRequests, ti: Any) -> None:
        self.requests, self.ti = requests, ti
        self.store = RunStoreView(self)

    def ask(self, op: str, **args: Any) -> Any:
        ti = self.ti
        return self.requests.submit(dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id,
                                    map_index=int(getattr(ti, "map_index", -1)), try_number=int(ti.try_number),
                                    op=op, args=args)

    def start_run(self, dag_id: str, *, run_id: str | None = None, logical_date: datetime | None = None,
                  conf: Any = None, run_type: str = "manual") -> dict[str, Any]:
        return self.ask("start_run", dag_id=dag_id, run_id=run_id, conf=conf, run_type=run_type,  # type: ignore[no-any-return]
                        logical_date=logical_date.isoformat() if logical_date else None)

    def clear(self, dag_id: str, run_id: str) -> list[tuple[str, int]]:
        return [tuple(x) for x in self.ask("clear", dag_id=dag_id, run_id=run_id)]  # type: ignore[misc]


class IsolatedRunControl:
    """``Engine.run_control`` of an isolated worker: binds the requests to the running task."""

    def __init__(self, requests: CrossDagRequests) -> None:
        self.requests = requests

    def bind(self, ti: Any) -> BoundRunControl:
        return BoundRunControl(self.requests, ti)


def outlet_request_hook(requests: CrossDagRequests) -> Any:
    """``Engine.on_outlets`` of an isolated worker: the requests function emits the events."""

    def on_outlets(plan: Any, step: Any, run: dict[str, Any], extras: dict[str, dict[str, Any]],
                   partitions: dict[str, list[str]] | None = None, ti: dict[str, Any] | None = None) -> None:
        ti = ti or {}
        requests.submit(dag_id=plan.dag_id, run_id=run["run_id"], task_id=step.task_id,
                        map_index=int(ti.get("map_index", -1)), try_number=int(ti.get("try_number", 0)),
                        op="outlets", args={"extras": extras, "partitions": partitions or {}})

    return on_outlets


# ---------------------------------------------------------------- requests function side
def is_request(event: Any) -> bool:
    return isinstance(event, dict) and event.get("kind") == KIND


def handle_request_only(clients: Clients, resources: Resources, event: Any) -> dict[str, Any]:
    """The requests function's whole job: a ``dag_request`` event, or EventError for anything else
    (a worker may invoke this function, so it must not take the trigger function's events)."""
    if not is_request(event):
        kind = event.get("kind") if isinstance(event, dict) else type(event).__name__
        raise EventError(f"The requests function serves only {KIND!r} events, got {str(kind)[:60]!r}.")
    return {"kind": KIND, **handle_request(clients, resources, event)}


def handle_request(clients: Clients, resources: Resources, event: dict[str, Any]) -> dict[str, Any]:
    """Serve one request (see the module docstring); ``{"result": ...}`` or ``{"error": {...}}``."""
    for name in ("dag_id", "run_id", "request"):
        if not isinstance(event.get(name), str) or not event[name]:
            raise EventError(f"A {KIND} event needs a string {name!r}.")
    dag_id, run_id, sk = event["dag_id"], event["run_id"], event["request"]
    try:
        return {"result": _serve(clients, resources, dag_id, run_id, sk)}
    except (RequestRefused, NotFoundError) as exc:
        logger.warning("cross-DAG request refused", extra={"dag_id": dag_id, "run_id": run_id, "request": sk,
                                                            "reason": str(exc)})
        return {"error": {"type": "not_found" if isinstance(exc, NotFoundError) else "refused", "message": str(exc)}}


def _serve(clients: Clients, resources: Resources, dag_id: str, run_id: str, sk: str) -> Any:
    from orchestrator.triggers.runs import make_engine

    if not sk.startswith(REQUEST_PREFIX):
        raise RequestRefused(f"{sk!r} is not a request key.")
    engine = make_engine(clients, resources)
    store = engine.store
    item = store.get_request(dag_id, run_id, sk)
    if item is None:
        raise RequestRefused(f"No request {sk!r} in run '{run_id}' of DAG '{dag_id}'.")
    op, task_id = item.get("op"), str(item.get("task_id"))
    map_index, try_number = int(item.get("map_index", -1)), int(item.get("try_number", 0))
    args = json.loads(item.get("args") or "{}")
    if op not in OPS:
        raise RequestRefused(f"Unknown request {op!r} (expected one of {', '.join(OPS)}).")
    who = f"task '{task_id}' (try {try_number}) of run '{run_id}' of DAG '{dag_id}'"
    try:
        ti = store.get_ti(dag_id, run_id, task_id, map_index)
        run = store.get_run(dag_id, run_id)
    except NotFoundError as exc:
        raise RequestRefused(f"{who}: {exc}") from None
    if int(ti.get("try_number", 0)) != try_number:
        raise RequestRefused(f"{who} is not the task's current try.")
    step = store.get_plan(dag_id, run["plan_hash"]).step(task_id)
    if op == "outlets":
        if ti.get("state") != "success":
            raise RequestRefused(f"{who} emits asset events only after it succeeded (it is {ti.get('state')}).")
        from orchestrator.triggers.assets import emit_outlet_events

        extras = {uri: v for uri, v in (args.get("extras") or {}).items() if uri in step.outlets}
        partitions = {uri: [str(k) for k in keys] for uri, keys in (args.get("partitions") or {}).items()
                      if uri in step.outlets and isinstance(keys, list)}
        started = emit_outlet_events(clients, resources, step, run, extras, partitions=partitions)
        return [{"dag_id": r.get("dag_id"), "run_id": r.get("run_id")} for r in started if isinstance(r, dict)]
    if ti.get("state") != "running":
        raise RequestRefused(f"{who} acts on other runs only while it runs (it is {ti.get('state')}).")
    target = args.get("dag_id")
    if isinstance(target, str) and "{{" in target:
        raise RequestRefused(f"{who}: a templated DAG id ({target!r}) cannot be checked under per-DAG isolation; "
                             "name the other DAG literally.")
    if not isinstance(target, str) or target not in step.other_dags:
        allowed = ", ".join(repr(t) for t in step.other_dags) or "no other DAG"
        raise RequestRefused(f"{who} may act on {allowed} (its plan), not {target!r}.")
    if op == "read":
        return _read(store, target, args)
    if op == "clear":
        return engine.clear(target, str(args.get("run_id")))
    logical = args.get("logical_date")
    run_started = engine.start_run(target, run_id=args.get("run_id"), conf=args.get("conf"),
                                   logical_date=datetime.fromisoformat(logical) if logical else None,
                                   run_type="manual")  # as TriggerDagRunOperator starts them; never
    # "scheduled"/"backfill" on a task's say: those would change which run another DAG's depends_on_past sees
    return _jsonable(run_started)


def _read(store: Any, dag_id: str, args: dict[str, Any]) -> Any:
    method = args.get("method")
    if method == "get_run":
        return _jsonable(store.get_run(dag_id, str(args.get("run_id"))))
    if method == "get_dag":
        return _jsonable(store.get_dag(dag_id))
    if method == "runs_at":
        return _jsonable(store.runs_at(dag_id, datetime.fromisoformat(str(args.get("moment")))))
    if method == "list_tis":
        return _jsonable(store.list_tis(dag_id, str(args.get("run_id"))))
    raise RequestRefused(f"Unknown read {method!r} (expected one of {', '.join(READS)}).")


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))

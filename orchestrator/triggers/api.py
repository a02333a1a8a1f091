"""Manual runs and pausing: the logic behind `stratus trigger|pause|unpause` and the HTTP API.

The HTTP API is a Powertools ``LambdaFunctionUrlResolver`` (the Function URL has IAM auth
in template.yaml), built by :func:`build_resolver`; ``functions/api/app.py`` only creates
it. Routes::

    POST /dags/{dag_id}/runs   {"conf": {...}, "logical_date": "...", "run_id": "...", "client_token": "...",
                                "partition_key": "..."}
                                                                  -> 201 run (200: the token's run, again)
    GET  /dags/{dag_id}/runs?limit=25&state=failed                                           -> 200 runs
    GET  /dags/{dag_id}/runs/{run_id}                                              -> 200 run + task instances
    POST /dags/{dag_id}/pause | /unpause                                                     -> 200 DAG

Errors are JSON ``{"error": "...", "status": N}``: 400 bad input (invalid conf for the DAG's
params, bad JSON, bad dates or ids), 404 unknown DAG or run, 409 a run id that exists.

Retrying a trigger: send a ``client_token`` (1-64 letters, digits, ``_`` or ``-``) and a
retried request never starts a second run: the token names the run (``manual__<token>``), and
the same token answers 200 with the run it started. If the run was created but starting its
first tasks failed (the worker invoke), the answer is still the run (with ``"note"``): the
conductor's sweeper starts what is ready, so the client must not retry into a second run.
"""

from __future__ import annotations

import binascii
import json
import logging
import re
from datetime import UTC, datetime
from typing import Any, Callable

from botocore.exceptions import ClientError

from orchestrator.config import Clients, Resources
from orchestrator.errors import (
    ConflictError,
    EventError,
    NotFoundError,
    ParamValidationError,
    ScheduleError,
    StratusError,
)
from orchestrator.engine.start import MAX_CONF_BYTES, RUN_ID_RE, check_run_id, parse_conf
from orchestrator.plan.confshape import check_numbers, strict_json_loads
from orchestrator.triggers.runs import make_engine, make_run_id, start_run
from orchestrator.triggers.timetable import timetable_for, utc

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 2 * MAX_CONF_BYTES
DAG_ID_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,250}$")
RUN_STATES = ("queued", "running", "success", "failed")
CLIENT_TOKEN_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
MAX_LIMIT = 500


def _check_dag_id(dag_id: str) -> str:
    if not isinstance(dag_id, str) or not DAG_ID_RE.match(dag_id):
        raise EventError(f"Invalid DAG id {str(dag_id)[:80]!r}: use letters, digits, '_', '-' and '.'.")
    return dag_id


def trigger_dag(
    clients: Clients,
    resources: Resources,
    dag_id: str,
    *,
    conf: Any = None,
    logical_date: str | datetime | None = None,
    run_id: str | None = None,
    client_token: str | None = None,
    engine: Any = None,
    now: datetime | None = None,
    partition_key: Any = None,
) -> dict[str, Any]:
    """Start a manual run of a registered DAG; returns the run item.

    ``partition_key`` (a partitioned DAG only, as in Airflow 3.3) makes it a partitioned run.

    ``client_token`` makes a retried call idempotent: it names the run, and a second call
    with it returns that run (``"replayed": True``) instead of a ConflictError.

    ``conf`` must be a JSON object and is checked against the DAG's params before anything
    is written (ParamValidationError naming the DAG and param). The logical date defaults to
    now; the run id to ``manual__<logical date>``. A run id that exists raises ConflictError.
    """
    _check_dag_id(dag_id)
    for name, value in (("run_id", run_id), ("client_token", client_token)):
        if value is not None and not isinstance(value, str):
            raise ParamValidationError(f"The field {name} of a run of DAG '{dag_id}' must be a string, "
                                       f"got {type(value).__name__}.")
    if logical_date is not None and not isinstance(logical_date, (str, datetime)):
        raise ParamValidationError(f"The field logical_date of a run of DAG '{dag_id}' must be an ISO-8601 string "
                                   f"(e.g. 2026-01-31T06:00:00Z), got {type(logical_date).__name__}.")
    if client_token is not None and not CLIENT_TOKEN_RE.match(client_token):
        raise ParamValidationError(f"The field client_token of a run of DAG '{dag_id}' must be 1-64 letters, "
                                   "digits, '_' or '-'.")
    engine = engine or make_engine(clients, resources)
    plan = engine.store.get_current_plan(dag_id)
    checked = check_numbers(parse_conf(conf, dag_id=dag_id), dag_id=dag_id)
    from orchestrator.plan.params import resolve_params

    resolve_params(dict(plan.params), checked, dag_id=dag_id)  # fail before writing anything
    if partition_key is not None:
        from orchestrator.engine.start import partition_date_of

        partition_date_of(plan, partition_key)
    try:
        moment = utc(logical_date) if logical_date else utc(now or datetime.now(UTC))
    except (ValueError, TypeError, OverflowError):
        raise ParamValidationError(
            f"The field logical_date {str(logical_date)[:60]!r} for DAG '{dag_id}' is not ISO-8601 "
            "(e.g. 2026-01-31T06:00:00Z)."
        ) from None
    if client_token and not run_id:
        run_id = f"manual__{client_token}"
    run_id = check_run_id(run_id, dag_id) if run_id is not None else make_run_id("manual", moment)
    info = timetable_for(plan).infer_manual(moment)
    try:
        run, created = start_run(clients, resources, plan, run_id=run_id, run_type="manual", info=info, conf=checked,
                                 engine=engine, partition_key=partition_key)
    except (ClientError, OSError) as err:
        # Created, but starting its first tasks failed (e.g. the worker invoke): the run exists
        # and the sweeper starts it; answering an error would make the client retry into a second run.
        try:
            run = dict(engine.store.get_run(dag_id, run_id))
        except NotFoundError:
            raise err from None
        log.warning("run %r of DAG %r created; starting it failed (the sweeper retries): %s", run_id, dag_id, err)
        run["note"] = f"Run created; starting its first tasks failed ({type(err).__name__}); the sweeper starts them."
        return run
    if not created:
        if client_token and run.get("run_type") == "manual" and run_id == f"manual__{client_token}":
            return {**run, "replayed": True}
        raise ConflictError(
            f"Run '{run_id}' of DAG '{dag_id}' already exists; pass another run id or logical date."
        )
    return run


def list_runs(store: Any, dag_id: str, *, limit: int = 25, state: str | None = None) -> list[dict[str, Any]]:
    """Runs of a registered DAG, newest first."""
    _check_dag_id(dag_id)
    store.get_dag(dag_id)  # NotFoundError for an unknown DAG
    if state is not None and state not in RUN_STATES:
        raise EventError(f"Unknown run state {state!r}; use one of {', '.join(RUN_STATES)}.")
    limit = max(1, min(int(limit), MAX_LIMIT))
    return list(store.list_runs(dag_id, limit=limit, states=[state] if state else None))


def get_run(store: Any, dag_id: str, run_id: str) -> dict[str, Any]:
    """One run with its task instances (``task_instances``, map-index order)."""
    _check_dag_id(dag_id)
    if not RUN_ID_RE.match(run_id or ""):
        raise EventError(f"Invalid run id {str(run_id)[:80]!r}.")
    run = dict(store.get_run(dag_id, run_id))
    run["task_instances"] = list(store.list_tis(dag_id, run_id))
    return run


def set_paused(
    clients: Clients, resources: Resources, dag_id: str, paused: bool, *, now: datetime | None = None,
    catch_up: bool = True,
) -> dict[str, Any]:
    """Pause or unpause a DAG: the registry flag, then its schedules; on unpause, what is due now.

    A paused DAG's schedule is deleted (and a fire that still arrives is a no-op). Unpausing
    recreates it and creates the runs due now (all missed ones with ``catchup=True``). If the
    caller may not change schedules (the API function's role), the flag alone takes effect.
    """
    from orchestrator.store import RunStore
    from orchestrator.triggers.fire import due_now
    from orchestrator.triggers.sync import sync_dag

    _check_dag_id(dag_id)
    store = RunStore(clients, resources)
    item = store.set_paused(dag_id, paused)
    out: dict[str, Any] = {"dag_id": dag_id, "paused": bool(item.get("paused")), "schedule_changes": [],
                           "started": []}
    if resources.scheduler_group:
        try:
            out["schedule_changes"] = [c.describe() for c in sync_dag(clients, resources, dag_id, now=now)]
        except (ClientError, StratusError) as err:
            log.warning("schedules of DAG %r left unchanged: %s", dag_id, err)
            out["schedule_note"] = f"schedules unchanged: {err}"
    if not paused and catch_up:
        out["started"] = due_now(clients, resources, dag_id, now).created
    return out


# ------------------------------------------------------------------ HTTP (Powertools)


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return str(value)


def _dumps(body: Any) -> str:
    return json.dumps(body, default=_json_default)


def build_resolver(target: Callable[[], tuple[Clients, Resources]]) -> Any:
    """The Function URL HTTP API (routes in the module doc). ``target()`` gives clients and resources."""
    from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response, content_types

    app = LambdaFunctionUrlResolver(serializer=_dumps)

    def error(status: int, message: str) -> Response:
        return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                        body=_dumps({"error": message, "status": status}))

    def body() -> dict[str, Any]:
        try:
            raw = app.current_event.decoded_body if app.current_event.body else None
        except (ValueError, binascii.Error):  # invalid base64 or not UTF-8
            raise EventError("The request body is not valid base64-encoded UTF-8.") from None
        if not raw:
            return {}
        if len(raw) > MAX_BODY_BYTES:
            raise EventError(f"The request body is {len(raw):,} bytes; a run's conf and options take at most "
                             f"{MAX_BODY_BYTES:,}. Put large inputs in S3 and pass their key in conf.")
        try:
            parsed = strict_json_loads(raw)
        except ValueError as exc:
            raise EventError(f"The request body is not valid JSON: {exc}.") from None
        if not isinstance(parsed, dict):
            raise EventError("The request body must be a JSON object.")
        unknown = sorted(str(k)[:40] for k in set(parsed) - {"conf", "logical_date", "run_id", "client_token",
                                                             "partition_key"})
        if unknown:
            raise EventError(f"Unknown field(s) {', '.join(unknown)}; use conf, logical_date, run_id, client_token "
                             "and partition_key.")
        return parsed

    @app.post("/dags/<dag_id>/runs")
    def post_run(dag_id: str) -> Response:
        clients, resources = target()
        req = body()
        run = trigger_dag(clients, resources, dag_id, conf=req.get("conf"), logical_date=req.get("logical_date"),
                          run_id=req.get("run_id"), client_token=req.get("client_token"),
                          partition_key=req.get("partition_key"))
        return Response(status_code=200 if run.get("replayed") else 201, content_type=content_types.APPLICATION_JSON, body=_dumps(run))

    @app.get("/dags/<dag_id>/runs")
    def get_runs(dag_id: str) -> dict[str, Any]:
        from orchestrator.store import RunStore

        clients, resources = target()
        limit_text = app.current_event.get_query_string_value("limit", "25") or "25"
        if not limit_text.isdigit():
            raise EventError(f"limit must be a positive integer, not {limit_text[:20]!r}.")
        runs = list_runs(RunStore(clients, resources), dag_id, limit=int(limit_text),
                         state=app.current_event.get_query_string_value("state"))
        return {"dag_id": dag_id, "runs": runs}

    @app.get("/dags/<dag_id>/runs/<run_id>")
    def get_one(dag_id: str, run_id: str) -> dict[str, Any]:
        from orchestrator.store import RunStore

        clients, resources = target()
        return get_run(RunStore(clients, resources), dag_id, run_id)

    @app.post("/dags/<dag_id>/pause")
    def pause(dag_id: str) -> dict[str, Any]:
        clients, resources = target()
        return set_paused(clients, resources, dag_id, True)

    @app.post("/dags/<dag_id>/unpause")
    def unpause(dag_id: str) -> dict[str, Any]:
        clients, resources = target()
        return set_paused(clients, resources, dag_id, False)

    @app.exception_handler(NotFoundError)
    def not_found(exc: NotFoundError) -> Response:
        return error(404, str(exc))

    @app.exception_handler(ConflictError)
    def conflict(exc: ConflictError) -> Response:
        return error(409, str(exc))

    @app.exception_handler(ParamValidationError)
    def bad_conf(exc: ParamValidationError) -> Response:
        return error(400, str(exc))

    @app.exception_handler(EventError)
    def bad_request(exc: EventError) -> Response:
        return error(400, str(exc))

    @app.exception_handler(ScheduleError)
    def bad_schedule(exc: ScheduleError) -> Response:
        return error(400, str(exc))

    @app.exception_handler(ClientError)
    def aws_error(exc: ClientError) -> Response:
        code = exc.response.get("Error", {}).get("Code", "ClientError")
        return error(503, f"An AWS call failed ({code}); nothing was started. Retry with the same client_token.")

    @app.not_found
    def no_route(exc: Exception) -> Response:
        return error(404, f"No route {app.current_event.http_method} {app.current_event.path}; see the API routes "
                          "in orchestrator/triggers/api.py.")

    return app

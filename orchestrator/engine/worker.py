"""One task try on the worker, and the failure path shared with the conductor.

``run_try`` is ``Engine.handle_task``: claim the try (a duplicate delivery stops here), load
the DAG, build the context, run ``operator.run(context, expanded_kwargs)`` under the task's
``execution_timeout``, store the output, then either complete the task (terminal write +
counters + dispatch of what became ready) or mark it up_for_retry and park the next try.
"""

from __future__ import annotations

import os
from typing import Any

from orchestrator import constants as c
from orchestrator.engine import callbacks, mapping, sensors
from orchestrator.engine.engine import Engine, format_error, iso
from orchestrator.engine.messages import TaskMessage
from orchestrator.engine.rules import retry_delay_s
from orchestrator.engine.runtime import OutletEventAccessors, RuntimeTaskInstance, TaskTimeout, build_context
from orchestrator.engine.runtime import parse_dt, run_with_timeout
from orchestrator.errors import ConflictError, EventError, NotFoundError
from orchestrator import telemetry
from orchestrator.secrets import printmask
from orchestrator.secrets.backend import dag_scope
from orchestrator.telemetry import logger, task_log_context
from orchestrator.plan.model import Step, StepPlan
from orchestrator.store import rendered
from orchestrator.store import xcom as codec


def _skip_exceptions() -> tuple[type[BaseException], tuple[type[BaseException], ...]]:
    from orchestrator.authoring.exceptions import AirflowFailException, AirflowSensorTimeout, AirflowSkipException

    # As in Airflow's task runner, a sensor's timeout fails the task without using its retries.
    return AirflowSkipException, (AirflowFailException, AirflowSensorTimeout)


# One number bounds a try: the worker function's Lambda timeout (template WorkerTimeout, in
# STRATUS_WORKER_TIMEOUT), or the task's lambda_timeout when lower. The task body gets that
# less FINISH_MARGIN_S (so the try's failure is written before Lambda stops the function), or
# its execution_timeout when lower; the claim's deadline, after which the sweeper calls the
# try dead, is that number plus LOST_GRACE_S.
FINISH_MARGIN_S = 10
LOST_GRACE_S = 120
FUNCTION_LIMIT = "the worker function's timeout"


def worker_timeout_s() -> int:
    """The worker function's Lambda timeout in seconds (Lambda's 900 s maximum when unknown)."""
    raw = os.environ.get(c.ENV_WORKER_TIMEOUT, "")
    try:
        return max(1, min(int(float(raw)), c.LAMBDA_MAX_TIMEOUT_S)) if raw else c.LAMBDA_MAX_TIMEOUT_S
    except ValueError:
        return c.LAMBDA_MAX_TIMEOUT_S


def _timeout_s(step: Step) -> int:
    limit = worker_timeout_s()
    return min(int(step.target.timeout_s or limit), limit)


def body_timeout_s(step: Step) -> tuple[float, str]:
    """(seconds the task body may run, the setting that sets it) for one try of ``step``."""
    limit = _timeout_s(step)
    budget = float(limit) - min(FINISH_MARGIN_S, limit * 0.2)
    setting = "lambda_timeout" if step.target.timeout_s and step.target.timeout_s <= limit else FUNCTION_LIMIT
    if step.execution_timeout_s is not None and step.execution_timeout_s <= budget:
        return float(step.execution_timeout_s), "execution_timeout"
    return budget, setting


def run_try(engine: Engine, msg: TaskMessage, *, invocation_id: str | None = None) -> dict[str, Any]:
    store = engine.store
    try:
        plan = store.get_plan(msg.dag_id, msg.plan_hash)
        step = plan.step(msg.task_id)
    except KeyError as exc:
        raise EventError(f"Task '{msg.task_id}' is not in plan {msg.plan_hash} of DAG '{msg.dag_id}'.") from exc
    run = _snapshot_run(engine, msg)
    if run is None:
        try:
            run = store.get_run(msg.dag_id, msg.run_id)
        except NotFoundError:
            logger.warning("task message for a run that does not exist", extra=msg.bare().model_dump())
            return {"status": "ignored"}
        if run.get("state") != "running":
            return {"status": "ignored", "run_state": run.get("state")}
    with task_log_context(msg.dag_id, msg.run_id, msg.task_id, msg.map_index, msg.try_number) as log, \
            dag_scope(msg.dag_id):  # per-DAG isolation: Variables and Connections from the DAG's own prefix
        try:
            # At-least-once delivery: the conditional claim lets exactly one delivery run the try.
            ti = store.claim_ti(msg.dag_id, msg.run_id, msg.task_id, msg.map_index, msg.try_number,
                                deadline=engine.epoch() + _timeout_s(step) + LOST_GRACE_S,
                                log_stream=_log_stream(), invocation_id=invocation_id)
        except ConflictError:
            logger.info("duplicate task message: this try is not queued any more")
            return {"status": "duplicate"}
        # From here every write of this try is conditional on this invocation owning it.
        msg = msg.model_copy(update={"owner": invocation_id})
        log.info("task started", extra={"code": _code_version(engine, plan)})
        # observe (H5): scheduling delay, ready (queued_at) -> started (the claim's start_date).
        delay_ms = telemetry.millis_between(ti.get("queued_at"), ti.get("start_date"))
        if delay_ms is not None:
            telemetry.scheduling_delay(msg.dag_id, msg.task_id, delay_ms, msg.run_id)
        state, fields, forced, retry_error, task, ctx = _execute(engine, plan, step, run, ti, msg)
        if fields.get("duration") is not None:  # observe (H5): how long this try ran
            telemetry.task_duration(msg.dag_id, msg.task_id, float(fields["duration"]) * 1000.0, msg.run_id)
        if state == "up_for_reschedule":
            return sensors.reschedule(engine, msg, ti, fields, task)
        if retry_error is not None and int(ti["try_number"]) <= int(ti.get("max_tries", 0)):
            _retry(engine, plan, step, run, msg, ti, retry_error, task, ctx,
                   rendered_ref=fields.get(rendered.ITEM_ATTR))
            return {"status": "up_for_retry"}
        done = engine.complete(plan, run, step, msg, state, fields=fields, forced=forced,
                               carry=int(ti.get("carry") or 0), riding=riding(ti))
        if done:
            _after_terminal(engine, plan, step, run, state, task, ctx, ti)
        log.info("task finished", extra={"state": state})
        return {"status": "done", "state": state}


def _code_version(engine: Engine, plan: StepPlan) -> str:
    """Which code this try runs: the DAG file and a digest of its text (a run pins its plan, not
    the file: an edit reaches the next tasks of a running run, as a deploy does on AWS)."""
    from orchestrator.plan.loader import source_digest

    return f"{plan.fileloc} {source_digest(engine.dags_root or '.', plan.fileloc)}"


def riding(ti: dict[str, Any]) -> dict[str, Any]:
    """What an instance carries along its lane (``engine.lanes``), for ``Engine.complete``."""
    return {k: ti[k] for k in ("mcarry", "lcarry", "lane") if ti.get(k)}


def _snapshot_run(engine: Engine, msg: TaskMessage) -> dict[str, Any] | None:
    """The run as the dispatcher saw it (no read), or None when the worker must read the run item.

    Skipping the read keeps "a message for a run that is not running is ignored": the run was
    running when the message was sent, and the only ways it stops while this try is still
    queued are its ``dagrun_timeout`` (past ``deadline_at``: read the run, as without a
    snapshot) and a clear/mark of this task, which moves the instance out of ``queued`` so the
    claim's condition (``state = queued AND try_number = n``) turns the message into a no-op.
    A run finishes by its counters only once every task, this one included, is done.
    """
    snap = msg.run
    if snap is None:
        return None
    if snap.deadline_at is not None and engine.epoch() >= int(snap.deadline_at):
        return None
    if msg.map_index >= 0 and (snap.map_count is None or snap.map_lens is None):
        return None  # a mapped instance needs its task's count and argument lengths
    return snap.as_run(msg)


def _log_stream() -> str | None:
    import os

    return os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")


def _execute(engine: Engine, plan: StepPlan, step: Step, run: dict[str, Any], ti: dict[str, Any],
             msg: TaskMessage) -> tuple[str, dict[str, Any], frozenset[str], str | None, Any, dict[str, Any]]:
    """Run the task body. Returns (state, item fields, forced skips, retryable error, task, context).

    The fields include the try's rendered template fields when the body got as far as rendering
    them (``orchestrator.store.rendered``), whatever the outcome.
    """
    started = parse_dt(ti.get("start_date")) or engine.now()
    rti = RuntimeTaskInstance(msg.dag_id, msg.run_id, msg.task_id, msg.map_index, msg.try_number,
                              int(ti.get("max_tries", 0)), plan, engine.store, start_date=started, engine=engine,
                              first_reschedule_date=sensors.first_poke(ti))
    out = _run_body(engine, plan, step, run, msg, rti, started)
    if rti.rendered_fields is not None:
        stored = _rendered_ref(engine, msg, rti.rendered_fields)
        if stored is not None:
            out[1][rendered.ITEM_ATTR] = stored
    return out


def _rendered_ref(engine: Engine, msg: TaskMessage, fields: dict[str, Any]) -> str | None:
    """The item value of the try's rendered fields; None (and a warning) if they cannot be stored:
    a view of the try must never fail the try."""
    try:
        return rendered.place(engine.store.xcom, rendered.encode(fields), dag_id=msg.dag_id, run_id=msg.run_id,
                              task_id=msg.task_id, map_index=msg.map_index, try_number=msg.try_number)
    except Exception as exc:  # noqa: BLE001
        logger.warning(f"{msg.describe()}: its rendered template fields were not stored",
                       extra={"error": f"{type(exc).__name__}: {exc}"})
        return None


def _run_body(engine: Engine, plan: StepPlan, step: Step, run: dict[str, Any], msg: TaskMessage,
              rti: RuntimeTaskInstance, started: Any
              ) -> tuple[str, dict[str, Any], frozenset[str], str | None, Any, dict[str, Any]]:
    skip_exc, fail_exc = _skip_exceptions()
    store = engine.store
    task: Any = None
    ctx: dict[str, Any] = {}
    what = msg.describe()
    try:
        dag = engine.dag_of(plan)
        task = dag.task_dict[msg.task_id]
        rti.task = task
        ctx = build_context(plan=plan, step=step, run=run, ti=rti, task=task, dag=dag)
        expanded = None
        if msg.map_index >= 0:
            expanded = mapping.instance_kwargs(plan, step, run, store, msg.map_index, task)
        callbacks.call(task, "on_execute_callback", ctx, what=f"task '{msg.task_id}'")
        printmask.install()  # a print() of a secret the task read is masked like its log lines
        budget, setting = body_timeout_s(step)
        value = run_with_timeout(lambda: task.run(ctx, expanded), budget, what=f"Task '{msg.task_id}'", setting=setting,
                                 in_thread=setting == FUNCTION_LIMIT)
    except sensors.RESCHEDULE as exc:  # a sensor's poke said "not yet": the try waits, nothing runs
        return "up_for_reschedule", {**_end_fields(engine, started, None, {}, msg), "reschedule": exc}, \
            frozenset(), None, task, ctx
    except skip_exc as exc:
        return "skipped", _end_fields(engine, started, str(exc) or None, rti.pushed, msg), frozenset(), None, task, ctx
    except fail_exc as exc:
        _note_exception(ctx, exc)
        return "failed", _end_fields(engine, started, format_error(exc), rti.pushed, msg), frozenset(), None, task, ctx
    except TaskTimeout as exc:
        _note_exception(ctx, exc)
        err = f"TaskTimeout: {exc}"
        return "failed", _end_fields(engine, started, err, rti.pushed, msg), frozenset(), err, task, ctx
    except Exception as exc:  # noqa: BLE001 - the task's own failure (or its DAG file's)
        _note_exception(ctx, exc)
        err = format_error(exc)
        logger.error(f"{what} failed", extra={"error": err[-2000:]})
        return "failed", _end_fields(engine, started, err, rti.pushed, msg), frozenset(), err, task, ctx
    try:
        forced = engine.skips_after_success(plan, step, value)
        if step.kind == "branch" and msg.map_index < 0:
            value = _branch_xcom(step, forced, value, rti.pushed)
        fields = _output_fields(engine, msg, step, value, rti.pushed, started)
    except (ValueError, TypeError) as exc:
        # A bad branch choice or an unstorable return value will not get better on retry.
        logger.error(f"{what} returned an unusable value", extra={"error": str(exc)})
        return "failed", _end_fields(engine, started, str(exc), {}, msg), frozenset(), None, task, ctx
    return "success", fields, forced, None, task, ctx


def _branch_xcom(step: Step, forced: frozenset[str], value: Any, pushed: dict[str, Any]) -> Any:
    """What an (unmapped) branch task leaves in XCom, as in Airflow 3.3: ``skipmixin_key`` with the
    direct downstream tasks it follows; its ``return_value`` only when it skipped nothing (Airflow's
    skip ends the try through DownstreamTasksSkipped before the return value is pushed)."""
    if step.downstream:
        pushed.setdefault("skipmixin_key", {"followed": [d for d in step.downstream if d not in forced]})
    return None if forced else value


def _note_exception(ctx: dict[str, Any], exc: BaseException | str) -> None:
    """Airflow passes the exception that failed the try to the failure and retry callbacks
    (from outside the worker: the reason the try was failed, as text)."""
    if ctx:
        ctx["exception"] = exc


def _end_fields(engine: Engine, started: Any, error: str | None, pushed: dict[str, Any],
                msg: TaskMessage) -> dict[str, Any]:
    end = engine.now()
    fields: dict[str, Any] = {"end_date": iso(end), "duration": round((end - started).total_seconds(), 3)}
    if error:
        fields["error"] = error
    if pushed:
        fields["xcom_keys"] = {
            k: engine.store.xcom.place_ref(codec.encode(v), dag_id=msg.dag_id, run_id=msg.run_id,
                                           task_id=msg.task_id, map_index=msg.map_index,
                                           try_number=msg.try_number, key=k)
            for k, v in pushed.items()
        }
    return fields


def _output_fields(engine: Engine, msg: TaskMessage, step: Step, value: Any, pushed: dict[str, Any],
                   started: Any) -> dict[str, Any]:
    pushed = dict(pushed)
    if step.multiple_outputs and isinstance(value, dict):
        for k, v in value.items():
            pushed.setdefault(str(k), v)
    fields = _end_fields(engine, started, None, pushed, msg)
    if value is not None:
        inline, key = engine.store.xcom.place(codec.encode(value), dag_id=msg.dag_id, run_id=msg.run_id,
                                              task_id=msg.task_id, map_index=msg.map_index,
                                              try_number=msg.try_number)
        fields["xcom" if inline is not None else "xcom_s3"] = inline if inline is not None else key
    return fields


def _retry(engine: Engine, plan: StepPlan, step: Step, run: dict[str, Any], msg: TaskMessage, ti: dict[str, Any],
           error: str, task: Any, ctx: dict[str, Any], expected: tuple[str, ...] = ("running",),
           rendered_ref: str | None = None) -> bool:
    delay = retry_delay_s(step.retry, msg.try_number, dag_id=msg.dag_id, task_id=msg.task_id,
                          logical_date=str(run.get("logical_date", "")))
    now = engine.now()
    history = {"try_number": msg.try_number, "state": "failed", "start_date": ti.get("start_date"),
               "end_date": iso(now), "error": error[-2000:], "log_stream": ti.get("log_stream")}
    # This try's rendered fields (from the worker, or a sensor poke of this try stored them on the item).
    rendered_ref = rendered_ref or ti.get(rendered.ITEM_ATTR)
    if rendered_ref:
        history[rendered.ITEM_ATTR] = rendered_ref
    from datetime import timedelta

    try:
        engine.store.retry_ti(msg.dag_id, msg.run_id, msg.task_id, msg.map_index, msg.try_number, error=error,
                              next_try_at=iso(now + timedelta(seconds=delay)), history=history, expected=expected,
                              owner=msg.owner)
    except ConflictError:
        return False
    engine.dispatcher.schedule_retry(msg, delay)
    telemetry.task_retried(msg.dag_id, msg.task_id, msg.run_id)
    logger.warning(f"{msg.describe()} failed; retrying in {delay:g}s", extra={"error": error[-2000:]})
    if task is not None and ctx:
        callbacks.call(task, "on_retry_callback", {**ctx, "exception": ctx.get("exception") or error},
                       what=f"task '{msg.task_id}'")
    return True


def _after_terminal(engine: Engine, plan: StepPlan, step: Step, run: dict[str, Any], state: str, task: Any,
                    ctx: dict[str, Any], ti: dict[str, Any]) -> None:
    if state == "success":
        telemetry.task_succeeded(plan.dag_id, step.task_id, run["run_id"])
        if step.outlets and engine.on_outlets is not None:
            accessors = ctx.get("outlet_events")
            extras = accessors.extras() if isinstance(accessors, OutletEventAccessors) else {}
            partitions = accessors.partition_keys() if isinstance(accessors, OutletEventAccessors) else {}
            try:
                engine.on_outlets(plan, step, run, extras, partitions, ti=ti)
            except Exception:  # noqa: BLE001
                logger.exception("emitting outlet asset events failed")
    elif state == "failed":
        telemetry.task_failed(plan.dag_id, step.task_id, run["run_id"])
    name = {"success": "on_success_callback", "failed": "on_failure_callback",
            "skipped": "on_skipped_callback"}.get(state)
    if name and task is not None and ctx:
        callbacks.call(task, name, ctx, what=f"task '{step.task_id}'")


def fail_try(engine: Engine, msg: TaskMessage, error: str, *, expected: tuple[str, ...] = ("queued", "running"),
             retryable: bool = True) -> str:
    """Fail try ``msg.try_number`` from outside the worker (OnFailure record, sweeper).

    Retries when the task has tries left, else fails it (with counters and propagation).
    Returns ``up_for_retry``, ``failed`` or ``noop`` (the try had already ended).
    """
    store = engine.store
    plan = store.get_plan(msg.dag_id, msg.plan_hash)
    step = plan.step(msg.task_id)
    try:
        run = store.get_run(msg.dag_id, msg.run_id)
        ti = store.get_ti(msg.dag_id, msg.run_id, msg.task_id, msg.map_index)
    except NotFoundError:
        return "noop"
    if ti.get("state") not in expected or int(ti.get("try_number", 0)) != msg.try_number:
        return "noop"
    task = engine.task_of(plan, msg.task_id) if step.callbacks else None
    ctx: dict[str, Any] = {}
    if task is not None:
        rti = RuntimeTaskInstance(msg.dag_id, msg.run_id, msg.task_id, msg.map_index, msg.try_number,
                                  int(ti.get("max_tries", 0)), plan, store, task=task)
        ctx = build_context(plan=plan, step=step, run=run, ti=rti, task=task, dag=getattr(task, "dag", None))
    _note_exception(ctx, error)
    if retryable and msg.try_number <= int(ti.get("max_tries", 0)):
        return "up_for_retry" if _retry(engine, plan, step, run, msg, ti, error, task, ctx, expected) else "noop"
    fields = {"end_date": iso(engine.now()), "error": error}
    if not engine.complete(plan, run, step, msg, "failed", fields=fields, expected=expected,
                           carry=int(ti.get("carry") or 0), riding=riding(ti)):
        return "noop"
    _after_terminal(engine, plan, step, run, "failed", task, ctx, ti)
    return "failed"

"""Powertools setup shared by every function, and the metric helpers the engine calls.

One ``Logger`` (JSON lines, service ``stratus``), one ``Tracer`` and one ``Metrics`` per
process, created on import (Lambda module globals). The Tracer is Powertools' X-Ray tracer
where Powertools would trace (in Lambda, ``POWERTOOLS_TRACE_DISABLED`` unset); elsewhere
(tests, the local cloud, SAM local) it is ``LocalTracer``, whose decorators return the
function unchanged, as a disabled Powertools Tracer behaves, without importing the X-Ray
SDK (most of a handler's cold import). Handlers decorate with them::

    from orchestrator.telemetry import logger, metrics, tracer

    @logger.inject_lambda_context
    @tracer.capture_lambda_handler
    def handler(event, context): ...

Engine metrics are per DAG: each helper writes one CloudWatch Embedded Metric Format (EMF)
line to stdout at once, namespace ``Stratus`` and the single dimension ``DagId``, so the
dashboard (``orchestrator.observe.dashboard``) can chart them by exactly that dimension.
(plus Powertools' ``service=stratus``). A worker that touches several DAGs in one invocation (it never does today) stays correct,
because nothing is buffered across calls. Task and run ids go in as EMF properties
(searchable in Logs Insights, not dimensions, which would explode the metric count).

Metric names (all in ``METRIC_NAMES``): RunsStarted, RunsSucceeded, RunsFailed,
TasksSucceeded, TasksFailed, TasksRetried (Count); TaskDuration and SchedulingDelay
(Milliseconds).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from orchestrator.constants import METRICS_NAMESPACE, SERVICE_NAME

DIMENSION = "DagId"
# Powertools adds ``service`` as a dimension whenever POWERTOOLS_SERVICE_NAME is set (it is on
# Lambda); we always set it so that every line has the same dimension set, which is what the
# dashboard's metric widgets and alarms must name exactly.
SERVICE_DIMENSION = "service"

RUNS_STARTED = "RunsStarted"
RUNS_SUCCEEDED = "RunsSucceeded"
RUNS_FAILED = "RunsFailed"
TASKS_SUCCEEDED = "TasksSucceeded"
TASKS_FAILED = "TasksFailed"
TASKS_RETRIED = "TasksRetried"
TASK_DURATION = "TaskDuration"
SCHEDULING_DELAY = "SchedulingDelay"

METRIC_NAMES = (
    RUNS_STARTED,
    RUNS_SUCCEEDED,
    RUNS_FAILED,
    TASKS_SUCCEEDED,
    TASKS_FAILED,
    TASKS_RETRIED,
    TASK_DURATION,
    SCHEDULING_DELAY,
)

# Structured keys every task log line carries: `stratus logs` and Logs Insights filter on them.
TASK_LOG_KEYS = ("dag_id", "run_id", "task_id", "map_index", "try_number")



class _CurrentStdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stdout`` is at emit time (so a local capture can redirect it)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


_F = TypeVar("_F", bound=Callable[..., Any])


class LocalTracer:
    """Where X-Ray does not run: Tracer's decorators and calls as a disabled Powertools Tracer, no X-Ray SDK."""

    disabled = True

    def __init__(self, service: str) -> None:
        self.service = service

    def capture_lambda_handler(self, lambda_handler: _F | None = None, capture_response: bool | None = None,
                               capture_error: bool | None = None) -> Any:
        """``@tracer.capture_lambda_handler`` (with or without arguments): the handler itself."""
        if lambda_handler is None:
            return lambda handler: handler
        return lambda_handler

    def capture_method(self, method: _F | None = None, capture_response: bool | None = None,
                       capture_error: bool | None = None) -> Any:
        """``@tracer.capture_method`` (with or without arguments): the method itself."""
        if method is None:
            return lambda fn: fn
        return method

    def put_annotation(self, key: str, value: Any) -> None:
        """No segment to annotate."""

    def put_metadata(self, key: str, value: Any, namespace: str | None = None) -> None:
        """No segment to add metadata to."""

    def patch(self, modules: Any = None) -> None:
        """Nothing to instrument."""


def tracing_enabled() -> bool:
    """Powertools' own rule: X-Ray only in Lambda (not SAM local or Chalice) unless POWERTOOLS_TRACE_DISABLED."""
    from aws_lambda_powertools.shared import constants
    from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice

    if resolve_truthy_env_var_choice(env=os.getenv(constants.TRACER_DISABLED_ENV, "false")):
        return False
    in_lambda = os.getenv(constants.LAMBDA_TASK_ROOT_ENV)
    emulated = os.getenv(constants.SAM_LOCAL_ENV) or os.getenv(constants.CHALICE_LOCAL_ENV)
    return bool(in_lambda) and not emulated


def _make_tracer() -> Any:
    if tracing_enabled():
        from aws_lambda_powertools import Tracer

        return Tracer(service=SERVICE_NAME)
    return LocalTracer(SERVICE_NAME)


logger = Logger(service=SERVICE_NAME, logger_handler=_CurrentStdoutHandler())
tracer: Any = _make_tracer()
metrics = Metrics(service=SERVICE_NAME, namespace=METRICS_NAMESPACE)


def dimensions(dag_id: str) -> dict[str, str]:
    """The dimensions of every Stratus metric: ``DagId`` and Powertools' ``service``."""
    return {DIMENSION: dag_id, SERVICE_DIMENSION: SERVICE_NAME}


def _metrics_disabled() -> bool:
    return os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() in ("1", "true")


_PUT_METRICS: Any = None  # a CloudWatch client when metrics are sent with PutMetricData (see below)


def send_metrics_with(cloudwatch: Any) -> None:
    """Outside Lambda (the CLI, ``stratus ui``) send metrics with PutMetricData to ``cloudwatch``.

    In Lambda an EMF line on stdout becomes a metric; printed by a CLI it would only be noise
    on a terminal, and a run started from the CLI would be missing from the dashboard's counts.
    Same namespace and dimensions as the EMF lines. ``None`` goes back to EMF.
    """
    global _PUT_METRICS
    _PUT_METRICS = cloudwatch


def _put_metric(name: str, value: float, unit: MetricUnit, dag_id: str) -> None:
    dims = [{"Name": k, "Value": v} for k, v in dimensions(dag_id).items()]
    try:
        _PUT_METRICS.put_metric_data(Namespace=METRICS_NAMESPACE, MetricData=[
            {"MetricName": name, "Dimensions": dims, "Value": float(value), "Unit": unit.value}])
    except Exception as exc:  # noqa: BLE001 - a metric must never fail the command (e.g. no PutMetricData right)
        logging.getLogger(__name__).debug("PutMetricData %s failed: %s", name, exc)


def emit(name: str, value: float, unit: MetricUnit, dag_id: str, **properties: Any) -> None:
    """Write one EMF line for metric ``name`` with dimension ``DagId=dag_id``.

    ``properties`` (task_id, run_id, ...) become EMF metadata: kept in the log line, not
    dimensions. ``POWERTOOLS_METRICS_DISABLED=true`` silences it (Powertools' own switch).
    After ``send_metrics_with(client)`` (CLI processes) the metric goes by PutMetricData instead.
    """
    if _metrics_disabled():
        return
    if _PUT_METRICS is not None and not os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        _put_metric(name, value, unit, dag_id)
        return
    print(emf_line(name, float(value), unit, dag_id, properties))


def emf_line(name: str, value: float, unit: MetricUnit, dag_id: str, properties: dict[str, Any]) -> str:
    """One metric in CloudWatch's embedded metric format: the line Powertools' ``single_metric``
    prints for it (same keys, order and separators), written directly: a task prints three, and
    Powertools' provider objects and checks cost ~90 us a line against ~10 us."""
    dims = dimensions(dag_id)
    doc: dict[str, Any] = {
        "_aws": {"Timestamp": int(datetime.now().timestamp() * 1000), "CloudWatchMetrics": [
            {"Namespace": METRICS_NAMESPACE, "Dimensions": [list(dims)],
             "Metrics": [{"Name": name, "Unit": unit.value}]}]},
        **dims,
    }
    doc.update((key, val) for key, val in properties.items() if val is not None)
    doc[name] = [value]
    return json.dumps(doc, separators=(",", ":"), default=str)


def run_started(dag_id: str, run_id: str | None = None) -> None:
    """A run moved to running."""
    emit(RUNS_STARTED, 1, MetricUnit.Count, dag_id, run_id=run_id)


def run_succeeded(dag_id: str, run_id: str | None = None) -> None:
    """A run finished in success."""
    emit(RUNS_SUCCEEDED, 1, MetricUnit.Count, dag_id, run_id=run_id)


def run_failed(dag_id: str, run_id: str | None = None) -> None:
    """A run finished in failed."""
    emit(RUNS_FAILED, 1, MetricUnit.Count, dag_id, run_id=run_id)


def task_succeeded(dag_id: str, task_id: str, run_id: str | None = None) -> None:
    """A task instance reached success."""
    emit(TASKS_SUCCEEDED, 1, MetricUnit.Count, dag_id, task_id=task_id, run_id=run_id)


def task_failed(dag_id: str, task_id: str, run_id: str | None = None) -> None:
    """A task instance reached failed (no retry left)."""
    emit(TASKS_FAILED, 1, MetricUnit.Count, dag_id, task_id=task_id, run_id=run_id)


def task_retried(dag_id: str, task_id: str, run_id: str | None = None) -> None:
    """A task try failed and the task went to up_for_retry."""
    emit(TASKS_RETRIED, 1, MetricUnit.Count, dag_id, task_id=task_id, run_id=run_id)


def task_duration(dag_id: str, task_id: str, duration_ms: float, run_id: str | None = None) -> None:
    """How long one try ran (start_date -> end_date), in milliseconds."""
    emit(TASK_DURATION, duration_ms, MetricUnit.Milliseconds, dag_id, task_id=task_id, run_id=run_id)


def scheduling_delay(dag_id: str, task_id: str, delay_ms: float, run_id: str | None = None) -> None:
    """How long a ready task waited to start (queued_at -> start_date), in milliseconds."""
    emit(SCHEDULING_DELAY, delay_ms, MetricUnit.Milliseconds, dag_id, task_id=task_id, run_id=run_id)


def millis_between(start: str | datetime | None, end: str | datetime | None) -> float | None:
    """Milliseconds from ``start`` to ``end`` (ISO strings or datetimes); None if either is missing."""
    if not start or not end:
        return None
    a = start if isinstance(start, datetime) else datetime.fromisoformat(start)
    b = end if isinstance(end, datetime) else datetime.fromisoformat(end)
    return max(0.0, (b - a).total_seconds() * 1000.0)


_TASK_LOGGER_LOCK = threading.Lock()


def configure_task_logger() -> logging.Logger:
    """Airflow's ``airflow.task`` logger, writing JSON lines through the Powertools formatter.

    Set up once per process (handler, INFO level, no propagation to the root logger, whose
    Lambda handler would print each line a second time as plain text), never torn down: the
    local cloud runs tries concurrently on threads, and per-try setup would race.
    """
    task_log = logging.getLogger("airflow.task")
    with _TASK_LOGGER_LOCK:
        if not any(isinstance(h, _CurrentStdoutHandler) for h in task_log.handlers):
            handler = _CurrentStdoutHandler()
            handler.setFormatter(logger.registered_formatter)
            task_log.addHandler(handler)
            task_log.setLevel(logging.INFO)
            task_log.propagate = False
    return task_log


@contextlib.contextmanager
def task_log_context(
    dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int
) -> Iterator[logging.Logger]:
    """Tag every log line of one task try with the keys `stratus logs` filters on.

    Appends ``TASK_LOG_KEYS`` to the Powertools logger and yields ``configure_task_logger()``, whose
    records go out through the same JSON formatter, so lines the task logs itself are
    findable by run, task and try as well. The keys are removed on exit (Lambda containers
    are reused across tries). They are per thread: the local cloud runs concurrent
    invocations on threads of one process, and one try ending must not strip the keys of
    another.
    """
    keys = {
        "dag_id": dag_id,
        "run_id": run_id,
        "task_id": task_id,
        "map_index": map_index,
        "try_number": try_number,
    }
    logger.thread_safe_append_keys(**keys)
    try:
        yield configure_task_logger()
    finally:
        logger.thread_safe_remove_keys(list(keys))

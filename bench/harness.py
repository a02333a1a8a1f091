"""Shared plumbing of the benchmark scripts: a local cloud over generated DAGs, one run, its task instances.

``bench_cloud(specs)`` writes the DAG files into a temporary folder and starts
``orchestrator.local.cloud.LocalCloud`` on it (moto in process, template deployed, handlers
run for real on invoke). ``run_and_wait(cloud, spec)`` triggers one run, waits until the cloud
is idle and reads back the run and task-instance items from DynamoDB.
``operator_markers(recorder)`` puts ``task_start``/``task_end`` markers around every
``BaseOperator.run`` into a ``CallRecorder`` timeline.
"""

from __future__ import annotations

import contextlib
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.dags import BenchDag, write_dags  # noqa: E402

# Powertools warns on every flush of a handler that published no metric; the bench's tasks publish none.
warnings.filterwarnings("ignore", message="No application metrics to publish")
# Concurrent invocations share the Powertools logger's keys in one process (not so on Lambda):
# a line formatted while another thread changes them fails; keep such tracebacks out of the tables.
logging.raiseExceptions = False


@dataclass
class RunResult:
    """One finished run on the local cloud."""

    dag_id: str
    run_id: str
    state: str
    total_s: float
    task_instances: list[dict[str, Any]] = field(default_factory=list)
    cpu_s: float = 0.0  # this process's CPU time during the run (every thread), steadier than wall time on a busy machine

    @property
    def succeeded(self) -> int:
        return sum(1 for ti in self.task_instances if ti.get("state") == "success")

    def gaps_s(self) -> list[float]:
        """Time from each task's end to the start of the next task to start (sorted by start), in seconds."""
        timed = [
            (_parse(ti.get("start_date")), _parse(ti.get("end_date")))
            for ti in self.task_instances
        ]
        spans = sorted((s, e) for s, e in timed if s is not None and e is not None)
        return [(b[0] - a[1]).total_seconds() for a, b in zip(spans, spans[1:])]

    @property
    def median_gap_ms(self) -> float | None:
        gaps = self.gaps_s()
        return statistics.median(gaps) * 1000 if gaps else None


def _parse(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


BACKENDS = ("local", "engine")


def default_backend() -> str:
    """``local`` (the local cloud) when ``orchestrator.local.cloud`` imports, else ``engine``."""
    try:
        import orchestrator.local.cloud  # noqa: F401
    except ImportError:
        return "engine"
    return "local"


@contextlib.contextmanager
def bench_cloud(specs: list[BenchDag], folder: str | Path | None = None, backend: str = "local",
                **cloud_kwargs: Any) -> Iterator[Any]:
    """A started cloud over the DAG files of ``specs`` (in ``folder`` or a temporary one).

    ``backend="local"``: ``orchestrator.local.cloud.LocalCloud`` (template deployed into moto,
    handlers run on invoke). ``backend="engine"``: ``bench.engine_direct.DirectCloud`` (the
    engine on moto, task messages run in this thread, no Lambda hop).
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    with contextlib.ExitStack() as stack:
        root = Path(folder) if folder else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="stratus-bench-")))
        write_dags(root, specs)
        if backend == "local":
            from orchestrator.local.cloud import LocalCloud

            cloud = stack.enter_context(LocalCloud(str(root), **cloud_kwargs))
        else:
            from bench.engine_direct import DirectCloud

            cloud = stack.enter_context(DirectCloud(str(root), **cloud_kwargs))
        yield cloud


def _run_id(started: Any) -> str:
    if isinstance(started, str):
        return started
    if isinstance(started, dict):
        return str(started["run_id"])
    return str(getattr(started, "run_id"))


def run_and_wait(cloud: Any, spec: BenchDag, timeout_s: float = 1800.0, recorder: Any = None) -> RunResult:
    """Trigger ``spec``'s DAG on ``cloud``, wait until nothing is left to do, read the run back.

    With a ``recorder`` (``bench.awscount.CallRecorder``), only the run itself is recorded: not
    the plan's registration before it, nor the reading back after it.
    """
    if recorder is not None:
        recorder.enabled = False
    # Registering the plan (``stratus sync`` on AWS) happens before, outside the timing and the counting.
    plan = cloud.sync_dag(spec.dag_id) if hasattr(cloud, "sync_dag") else None
    if recorder is not None:
        recorder.clear()
        recorder.enabled = True
    # The tasks' log lines (JSON on stdout, as on Lambda) are written, to nowhere: they would bury the tables.
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
        t0, c0 = time.perf_counter(), time.process_time()
        # What the trigger function does on AWS: start the run; the first tasks are dispatched.
        started = cloud.engine().start_run(spec.dag_id, plan=plan) if plan is not None else cloud.run_dag(spec.dag_id)
        cloud.wait_idle(timeout_s)
        total, cpu = time.perf_counter() - t0, time.process_time() - c0
    if recorder is not None:
        recorder.enabled = False
    run_id = _run_id(started)
    run = read_run(cloud, spec.dag_id, run_id)
    return RunResult(spec.dag_id, run_id, str(run.get("state", "?")), total,
                     read_task_instances(cloud, spec.dag_id, run_id), cpu_s=cpu)


def _table(cloud: Any) -> tuple[Any, str]:
    return cloud.clients.client("dynamodb"), cloud.resources.table


def read_run(cloud: Any, dag_id: str, run_id: str) -> dict[str, Any]:
    """The run item as plain values (``{}`` when missing)."""
    from boto3.dynamodb.types import TypeDeserializer

    ddb, table = _table(cloud)
    item = ddb.get_item(
        TableName=table, Key={"pk": {"S": f"RUN#{dag_id}#{run_id}"}, "sk": {"S": "RUN"}}, ConsistentRead=True
    ).get("Item") or {}
    des = TypeDeserializer()
    return {k: des.deserialize(v) for k, v in item.items()}


def read_task_instances(cloud: Any, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    """Every task-instance item of the run, as plain values."""
    from boto3.dynamodb.types import TypeDeserializer

    ddb, table = _table(cloud)
    des = TypeDeserializer()
    out: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :ti)",
        "ExpressionAttributeValues": {":pk": {"S": f"RUN#{dag_id}#{run_id}"}, ":ti": {"S": "TI#"}},
        "ConsistentRead": True,
    }
    while True:
        page = ddb.query(**kwargs)
        out += [{k: des.deserialize(v) for k, v in item.items()} for item in page.get("Items", [])]
        if "LastEvaluatedKey" not in page:
            return out
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@contextlib.contextmanager
def operator_markers(recorder: Any) -> Iterator[None]:
    """Markers in ``recorder``'s timeline: ``task_start``/``task_end`` (label ``task_id[map_index]``)
    around every ``BaseOperator.run``, ``invocation_start``/``invocation_end`` (label: function name)
    around every handler run of the local cloud (``bench.engine_direct`` marks its own)."""
    from orchestrator.authoring.baseoperator import BaseOperator

    original = BaseOperator.run
    host_type: Any = None
    with contextlib.suppress(ImportError):
        from orchestrator.local.functions import FunctionHost as host_type
    original_host_run = host_type.run if host_type is not None else None

    def host_run(self: Any, name: str, payload: str) -> Any:
        recorder.mark("invocation_start", name)
        try:
            return original_host_run(self, name, payload)  # type: ignore[misc]
        finally:
            recorder.mark("invocation_end", name)

    def run(self: Any, context: dict[str, Any], expanded_kwargs: dict[str, Any] | None = None) -> Any:
        ti = context.get("ti") if isinstance(context, dict) else None
        index = getattr(ti, "map_index", -1) if ti is not None else -1
        label = f"{self.task_id}[{index}]"
        recorder.mark("task_start", label)
        try:
            return original(self, context, expanded_kwargs)
        finally:
            recorder.mark("task_end", label)

    BaseOperator.run = run  # type: ignore[method-assign]
    if host_type is not None:
        host_type.run = host_run
    try:
        yield
    finally:
        BaseOperator.run = original  # type: ignore[method-assign]
        if host_type is not None:
            host_type.run = original_host_run

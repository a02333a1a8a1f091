"""The engine alone on moto, without the Lambda hop: the fallback backend of the benchmarks.

``DirectCloud(dags_root)`` has the local cloud's benchmark surface (``clients``,
``resources``, ``run_dag``, ``wait_idle``) but no template and no Lambda: moto holds the table
and the artefact bucket, every DAG under the root is compiled and registered, and each task
message the engine dispatches is queued and run by ``Engine.handle_task`` (the worker
handler's code path) in this thread. Each dispatch is recorded as a ``lambda:Invoke`` in the
active ``CallRecorder`` (it is one on AWS), so call counts match the deployed shape.

Use it to measure the engine when ``orchestrator.local.cloud`` is unavailable, or to tell the
engine's own cost from the local cloud's (thread pool, moto's Lambda emulation).
"""

from __future__ import annotations

import os
import time
from collections import deque
from typing import Any

from moto import mock_aws

from bench.awscount import CallRecorder


class DirectCloud:
    """moto + RunStore + Engine, with task messages run in-thread instead of invoked."""

    def __init__(self, dags_root: str, table: str = "stratus-bench", bucket: str = "stratus-bench-artefacts") -> None:
        self.dags_root = dags_root
        self._table, self._bucket = table, bucket
        self._mock = mock_aws()
        self._env: dict[str, str | None] = {}

    def __enter__(self) -> DirectCloud:
        from orchestrator.config import Clients, Resources
        from orchestrator.engine.conductor import Conductor
        from orchestrator.engine.dispatch import LambdaDispatcher
        from orchestrator.engine.engine import Engine
        from orchestrator.plan.compiler import compile_dag
        from orchestrator.plan.loader import DagBag
        from orchestrator.store import RunStore, create_table

        for k, v in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                     "POWERTOOLS_METRICS_DISABLED": "true"}.items():
            self._env[k] = os.environ.get(k)
            os.environ[k] = v
        self._mock.start()
        self.clients = Clients(region_name="us-east-1")
        self.resources = Resources(table=self._table, artefact_bucket=self._bucket, worker_function="worker",
                                   retry_queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/bench",
                                   dags_root=self.dags_root)
        create_table(self.clients, self.resources.table)
        self.clients.client("s3").create_bucket(Bucket=self.resources.artefact_bucket)
        self.tasks: deque[Any] = deque()
        self.retries: deque[Any] = deque()
        cloud = self

        class _QueueDispatcher(LambdaDispatcher):
            def invoke_worker(self, msg: Any, function_name: str | None = None) -> None:
                recorder = CallRecorder._active
                if recorder is not None:
                    recorder.synthetic("lambda", "Invoke")
                cloud.tasks.append(msg)

            def schedule_retry(self, msg: Any, delay_s: float) -> None:
                recorder = CallRecorder._active
                if recorder is not None:
                    recorder.synthetic("sqs", "SendMessage")
                cloud.retries.append(msg)

            def continue_expansion(self, msg: Any) -> None:
                # The rest of a map bigger than one expansion chunk: the conductor's expand message.
                recorder = CallRecorder._active
                if recorder is not None:
                    recorder.synthetic("sqs", "SendMessage")
                cloud.retries.append(msg)

        self.store = RunStore(self.clients, self.resources)
        self.engine = Engine(self.store, _QueueDispatcher(self.clients, self.resources), dags_root=self.dags_root)
        self.conductor = Conductor(self.engine)
        bag = DagBag(self.dags_root)
        if bag.import_errors:
            raise RuntimeError(f"DAG import errors: {bag.import_errors}")
        for dag_id in bag.dags:
            self.store.put_plan(compile_dag(bag.get_dag(dag_id), self.dags_root))
        return self

    def __exit__(self, *exc: object) -> None:
        self._mock.stop()
        for k, v in self._env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    def run_dag(self, dag_id: str, **kwargs: Any) -> dict[str, Any]:
        """Start a run (what the trigger function does); its first tasks are queued."""
        return self.engine.start_run(dag_id, **kwargs)

    def wait_idle(self, timeout: float = 600.0) -> None:
        """Run queued task messages (and retries, without their delay) until none is left."""
        deadline = time.monotonic() + timeout
        while self.tasks or self.retries:
            if time.monotonic() > deadline:
                raise TimeoutError(f"still {len(self.tasks)} task messages queued after {timeout} s")
            recorder = CallRecorder._active
            if recorder is not None:
                recorder.mark("invocation_start", "worker")
            if self.tasks:
                self.engine.handle_task(self.tasks.popleft())
            else:
                msg = self.retries.popleft()
                if getattr(msg, "kind", None) == "expand":
                    self.conductor.handle(msg)
                else:
                    self.conductor.retry(msg)
            if recorder is not None:
                recorder.mark("invocation_end", "worker")

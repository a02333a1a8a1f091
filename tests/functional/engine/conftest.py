"""Functional harness for the engine: moto (DynamoDB, S3), a queueing dispatcher, DAG files in tmp_path.

``QueueDispatcher`` is test-only: instead of invoking Lambda it queues each TaskMessage and
``Harness.drain()`` runs it through ``Engine.handle_task`` (the worker handler's code path
minus the Lambda hop); retry messages go through ``Conductor.retry`` and expand messages
(the rest of a big map) through ``Conductor.handle`` (the conductor's paths).
"""

from __future__ import annotations

import textwrap
from collections import deque
from typing import Any

import pytest
from moto import mock_aws

from orchestrator.config import Clients, Resources
from orchestrator.engine.conductor import Conductor
from orchestrator.engine.dispatch import LambdaDispatcher
from orchestrator.engine.engine import Engine
from orchestrator.engine.messages import ExpandMessage, TaskMessage
from orchestrator.local import ddblimits, speedups
from orchestrator.plan.compiler import compile_dag
from orchestrator.plan.loader import DagBag
from orchestrator.store import RunStore, create_table

HEADER = """\
from __future__ import annotations
from datetime import datetime, timedelta
from orchestrator import dag, task, EmptyOperator, TriggerRule, Param, AirflowSkipException, AirflowFailException
"""


class QueueDispatcher(LambdaDispatcher):
    def __init__(self, clients: Clients, resources: Resources) -> None:
        super().__init__(clients, resources)
        self.tasks: deque[TaskMessage] = deque()
        self.retries: deque[tuple[TaskMessage, float]] = deque()
        self.invoked: list[TaskMessage] = []
        self.retry_delays: list[tuple[str, int, float]] = []
        self.expansions: deque[ExpandMessage] = deque()
        self.expand_sent: list[ExpandMessage] = []

    def invoke_worker(self, msg: TaskMessage, function_name: str | None = None) -> None:
        self.invoked.append(msg)
        self.tasks.append(msg)

    def schedule_retry(self, msg: TaskMessage, delay_s: float) -> None:
        self.retry_delays.append((msg.task_id, msg.try_number, delay_s))
        self.retries.append((msg, delay_s))

    def continue_expansion(self, msg: ExpandMessage) -> None:
        self.expand_sent.append(msg)
        self.expansions.append(msg)


class CallCounter:
    """Counts AWS API calls made through some clients (botocore ``before-call`` hook)."""

    def __init__(self, clients: Clients, services: tuple[str, ...] = ("dynamodb", "s3", "lambda", "sqs")) -> None:
        self.calls: list[tuple[str, str]] = []
        for service in services:
            clients.client(service).meta.events.register(f"before-call.{clients.client(service).meta.service_model.endpoint_prefix}", self._hook)

    def _hook(self, model: Any, **_: Any) -> None:
        self.calls.append((model.service_model.service_name, model.name))

    def reset(self) -> None:
        self.calls.clear()

    @property
    def total(self) -> int:
        return len(self.calls)

    def by_operation(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for service, op in self.calls:
            out[f"{service}:{op}"] = out.get(f"{service}:{op}", 0) + 1
        return out


class Harness:
    def __init__(self, clients: Clients, resources: Resources, root) -> None:
        self.clients, self.resources, self.root = clients, resources, root
        self.store = RunStore(clients, resources)
        self.dispatcher = QueueDispatcher(clients, resources)
        self.engine = Engine(self.store, self.dispatcher, dags_root=str(root))
        self.conductor = Conductor(self.engine)
        self.plans: dict[str, Any] = {}

    def write(self, name: str, body: str) -> None:
        (self.root / f"{name}.py").write_text(HEADER + textwrap.dedent(body))

    def plan(self, dag_id: str):
        if dag_id not in self.plans:
            bag = DagBag(str(self.root))
            assert not bag.import_errors, bag.import_errors
            self.plans[dag_id] = compile_dag(bag.get_dag(dag_id), str(self.root))
            self.store.put_plan(self.plans[dag_id])
        return self.plans[dag_id]

    def start(self, dag_id: str, **kwargs: Any) -> dict[str, Any]:
        self.plan(dag_id)
        return self.engine.start_run(dag_id, **kwargs)

    def run(self, dag_id: str, *, duplicate: bool = False, **kwargs: Any) -> dict[str, Any]:
        run = self.start(dag_id, **kwargs)
        self.drain(duplicate=duplicate)
        return self.store.get_run(dag_id, run["run_id"])

    def drain(self, *, duplicate: bool = False, limit: int = 100_000) -> None:
        steps = 0
        while self.dispatcher.tasks or self.dispatcher.retries or self.dispatcher.expansions:
            steps += 1
            assert steps < limit, "runaway dispatch loop"
            if self.dispatcher.tasks:
                msg = self.dispatcher.tasks.popleft()
                self.engine.handle_task(msg)
                if duplicate:
                    self.engine.handle_task(msg)
            elif self.dispatcher.expansions:
                expand = self.dispatcher.expansions.popleft()
                self.conductor.handle(expand)
                if duplicate:
                    self.conductor.handle(expand)
            else:
                msg, _ = self.dispatcher.retries.popleft()
                self.conductor.retry(msg)
                if duplicate:
                    self.conductor.retry(msg)

    def states(self, dag_id: str, run_id: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for ti in self.store.list_tis(dag_id, run_id):
            key = ti["task_id"] if int(ti["map_index"]) < 0 else f"{ti['task_id']}[{ti['map_index']}]"
            out[key] = ti["state"]
        return out


@pytest.fixture
def aws(monkeypatch):
    for k, v in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                 "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
                 "POWERTOOLS_METRICS_DISABLED": "true"}.items():
        monkeypatch.setenv(k, v)
    speedups.install()  # off with STRATUS_MOTO_FAST=0 (make test runs these suites both ways)
    ddblimits.install()
    with mock_aws():
        clients = Clients(region_name="us-east-1")
        resources = Resources(table="stratus-engine-test", artefact_bucket="stratus-engine-artefacts",
                              worker_function="worker", retry_queue_url="https://sqs.invalid/q")
        create_table(clients, resources.table)
        clients.client("s3").create_bucket(Bucket=resources.artefact_bucket)
        yield clients, resources


@pytest.fixture
def h(aws, tmp_path) -> Harness:
    clients, resources = aws
    root = tmp_path / "dags"
    root.mkdir()
    return Harness(clients, resources, root)


@pytest.fixture
def counter(h) -> CallCounter:
    """Counts the AWS calls the harness's clients make (DynamoDB, S3, Lambda, SQS)."""
    return CallCounter(h.clients)

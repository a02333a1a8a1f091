"""Shared fixtures for the observe functional tests: a moto account with the run store."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from moto import mock_aws

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "observe"))

from orchestrator.config import Clients, Resources  # noqa: E402

REGION = "us-east-1"


@pytest.fixture
def aws_env(monkeypatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("STRATUS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def stack(aws_env, monkeypatch):
    """Table + artefact bucket in moto, and the Lambda environment pointing at them."""
    from orchestrator.store import RunStore, create_table

    clients = Clients(region_name=REGION)
    resources = Resources(table="stratus-runs", artefact_bucket="stratus-artefacts", worker_function="stratus-worker")
    create_table(clients, resources.table)
    clients.client("s3").create_bucket(Bucket=resources.artefact_bucket)
    for key, value in resources.as_env().items():
        monkeypatch.setenv(key, value)
    return clients, resources, RunStore(clients, resources)


@pytest.fixture
def inline_engine(stack, tmp_path):
    """Build (engine, drain, store, view) for DAG files written to tmp_path.

    Workers run inline from a queue: ``drain()`` runs every queued task message through
    ``Engine.handle_task`` (the worker's code path minus the Lambda hop); retries are run
    at once (their delay is not waited for).
    """
    import textwrap
    from collections import deque

    from orchestrator.engine.dispatch import LambdaDispatcher
    from orchestrator.engine.engine import Engine
    from orchestrator.observe.service import RunsView
    from orchestrator.plan.compiler import compile_dag
    from orchestrator.plan.loader import DagBag

    clients, resources, store = stack

    class InlineDispatcher(LambdaDispatcher):
        def __init__(self) -> None:
            super().__init__(clients, resources)
            self.queue: deque = deque()
            self.retries: deque = deque()

        def invoke_worker(self, msg, function_name=None) -> None:
            self.queue.append(msg)

        def schedule_retry(self, msg, delay_s) -> None:
            self.retries.append(msg)

    def build(files: dict[str, str], *dag_ids: str):
        root = tmp_path / "dags"
        root.mkdir(exist_ok=True)
        for name, body in files.items():
            (root / name).write_text(textwrap.dedent(body))
        bag = DagBag(str(root))
        assert not bag.import_errors, bag.import_errors
        for dag_id in dag_ids:
            store.put_plan(compile_dag(bag.get_dag(dag_id), str(root)))
        dispatcher = InlineDispatcher()
        engine = Engine(store, dispatcher, dags_root=str(root))
        from orchestrator.engine.conductor import Conductor

        conductor = Conductor(engine)

        def drain() -> None:
            while dispatcher.queue or dispatcher.retries:
                if dispatcher.queue:
                    engine.handle_task(dispatcher.queue.popleft())
                else:
                    conductor.retry(dispatcher.retries.popleft())

        return engine, drain, store, RunsView(clients, resources, store=store, engine=engine)

    return build

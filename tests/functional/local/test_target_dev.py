"""Which cloud the CLI talks to (stack, `stratus dev`, or an error) and the dev server itself."""

from __future__ import annotations

import argparse
import json
import threading
from pathlib import Path

import pytest
from moto import mock_aws

from orchestrator.config import Clients
from orchestrator.errors import TargetError
from orchestrator.local.target import dev_target, resolve_target, state_path, write_dev_state

ROOT = Path(__file__).resolve().parents[3]


def test_no_stack_and_no_dev_says_what_to_start(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STRATUS_STACK", raising=False)
    with pytest.raises(TargetError, match=r"start `stratus dev` in this folder .* or pass --stack NAME \(or set STRATUS_STACK\)"):
        resolve_target(argparse.Namespace(stack=None, dags="dags"))


def test_stale_dev_state_file_is_reported(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STRATUS_STACK", raising=False)
    from orchestrator.config import Resources

    write_dev_state(state_path(), endpoint_url="http://127.0.0.1:9", region="us-east-1",
                    resources=Resources(table="t", artefact_bucket="b"), pid=2**22 + 12345, stack="stratus-dev")
    with pytest.raises(TargetError, match=r"dev.json' but the `stratus dev` it describes \(pid 4206649, http://127.0.0.1:9\) is not running"):
        resolve_target(argparse.Namespace(stack=None, dags="dags"))


def test_stack_target_reads_the_outputs_and_names_a_missing_stack(monkeypatch):
    from orchestrator.local.stack import deploy_stack
    from orchestrator.local.template import translate

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        translated = translate(ROOT / "template.yaml", staging_bucket="stratus-target-test")
        deploy_stack(Clients(region_name="us-east-1"), translated, stack_name="prod",
                     staging_bucket="stratus-target-test", region="us-east-1")
        monkeypatch.setenv("STRATUS_STACK", "prod")
        clients, resources = resolve_target(argparse.Namespace(stack=None, dags="my_dags"))
        assert resources.worker_function == "prod-worker"
        assert resources.dags_root == "my_dags"
        clients.client("dynamodb").describe_table(TableName=resources.table)
        with pytest.raises(TargetError, match=r"Stack 'nope' cannot be read .* Deploy it with `stratus deploy --stack nope`"):
            resolve_target(argparse.Namespace(stack="nope", dags="dags"))


def test_dev_server_serves_other_clients_and_cleans_up(tmp_path, monkeypatch):
    from orchestrator.local.dev import serve

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STRATUS_STACK", raising=False)
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "etl_taskflow.py").write_text((ROOT / "dags" / "etl_taskflow.py").read_text())
    ready = threading.Event()
    stop = threading.Event()
    out = tmp_path / "dev.log"
    status: list[int] = []

    def run() -> None:
        with out.open("w") as fh:
            status.append(serve(dags, folder=tmp_path, out=fh, stop=stop, on_ready=lambda c: ready.set(),
                                template=ROOT / "template.yaml"))

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert ready.wait(120), out.read_text()
        state = json.loads(state_path(tmp_path).read_text())
        assert state["endpoint_url"].startswith("http://127.0.0.1:")
        clients, resources = resolve_target(argparse.Namespace(stack=None, dags="dags"))
        assert clients.endpoint_url == state["endpoint_url"]
        # Another client (as another process would) starts a run through the engine over HTTP.
        from orchestrator.engine.dispatch import LambdaDispatcher
        from orchestrator.engine.engine import Engine
        from orchestrator.store import RunStore

        store = RunStore(clients, resources)
        assert [d["dag_id"] for d in store.list_dags()] == ["etl_taskflow"]  # synced at start
        run = Engine(store, LambdaDispatcher(clients, resources)).start_run("etl_taskflow")
        import time

        deadline = time.monotonic() + 120
        while store.get_run("etl_taskflow", run["run_id"])["state"] != "success":
            assert time.monotonic() < deadline, "the dev cloud did not finish the run"
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(60)
    assert status == [0]
    assert not state_path(tmp_path).exists()
    assert dev_target(state_path(tmp_path)) is None
    assert "stratus dev: local cloud on http://127.0.0.1:" in out.read_text()

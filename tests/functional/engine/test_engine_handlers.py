from __future__ import annotations

import importlib.util
import json
import pathlib
from dataclasses import dataclass
from builders import single

ROOT = pathlib.Path(__file__).resolve().parents[3]


@dataclass
class FakeContext:
    function_name: str = "fn"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:fn"
    aws_request_id: str = "req-1"


def load_handler(name: str):
    spec = importlib.util.spec_from_file_location(f"stratus_fn_{name}", ROOT / "functions" / name / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_worker_and_conductor_handlers_run_a_task_and_a_sweep(h, monkeypatch):
    h.write("solo", single("solo", "only", '{"ok": True}'))
    env = {**h.resources.as_env(), "STRATUS_DAGS_ROOT": str(h.root)}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    run = h.start("solo")
    msg = h.dispatcher.tasks.popleft()
    worker = load_handler("worker")
    out = worker.handler(json.loads(msg.model_dump_json()), FakeContext())
    assert out == {"status": "done", "state": "success"}
    # A late duplicate is a no-op: with the run snapshot its claim finds the try done; without
    # one the worker reads the run and ignores a run that is not running.
    assert worker.handler(json.loads(msg.model_dump_json()), FakeContext()) == {"status": "duplicate"}
    assert worker.handler(json.loads(msg.bare().model_dump_json()), FakeContext()) == {"status": "ignored",
                                                                                         "run_state": "success"}
    assert h.store.get_run("solo", run["run_id"])["state"] == "success"
    conductor = load_handler("conductor")
    stats = conductor.handler({"kind": "sweep"}, FakeContext())
    assert stats["runs"] == 0 and stats["reconciled"] == 0
    batch = {"Records": [{"messageId": "1", "body": json.dumps({"kind": "retry", "task": json.loads(msg.model_dump_json())})}]}
    assert conductor.handler(batch, FakeContext()) == {"batchItemFailures": []}

"""The tracer: Powertools' X-Ray Tracer only where Powertools would trace; elsewhere a pass-through."""

from __future__ import annotations

import pytest

from orchestrator import telemetry


@pytest.mark.parametrize("env,enabled", [
    ({}, False),
    ({"LAMBDA_TASK_ROOT": "/var/task"}, True),
    ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"}, False),
    ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"}, False),
])
def test_tracing_follows_powertools_rule(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], enabled: bool) -> None:
    for key in ("LAMBDA_TASK_ROOT", "POWERTOOLS_TRACE_DISABLED", "AWS_SAM_LOCAL", "AWS_CHALICE_CLI_MODE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert telemetry.tracing_enabled() is enabled


def test_local_tracer_decorators_return_the_function() -> None:
    tracer = telemetry.LocalTracer("stratus")

    def handler(event: dict, context: object) -> dict:
        return {"echo": event}

    assert tracer.capture_lambda_handler(handler) is handler
    assert tracer.capture_lambda_handler(capture_response=False)(handler) is handler
    assert tracer.capture_method(handler) is handler
    assert tracer.capture_method(capture_error=False)(handler) is handler
    tracer.put_annotation("k", "v")
    tracer.put_metadata("k", {"v": 1})
    assert handler({"a": 1}, None) == {"echo": {"a": 1}}

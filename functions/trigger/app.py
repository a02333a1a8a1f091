"""Trigger function: schedule fires, S3 object events and asset events start runs; the requests
function (``requests_handler``, same code) serves the per-DAG workers' cross-DAG requests.

Thin: Powertools decorators, then ``orchestrator.triggers.handler.handle_event``, which
dispatches on the event's shape.
"""

from __future__ import annotations

from typing import Any

from orchestrator import compose  # noqa: F401  the composition root: triggers start runs with its engines
from orchestrator.config import Clients, Resources
from orchestrator.telemetry import logger, tracer
from orchestrator.triggers.handler import handle_event
from orchestrator.triggers.requests import handle_request_only

_CLIENTS = Clients.from_env()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    summary = handle_event(_CLIENTS, Resources.from_env(), event)
    logger.info("trigger event handled", extra={"summary": summary})
    return summary


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def requests_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The requests function (Isolation=dag): a worker's cross-DAG request, and nothing else."""
    return handle_request_only(_CLIENTS, Resources.from_env(), event)

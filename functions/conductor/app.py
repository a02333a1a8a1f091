"""Conductor function: retries, failed worker invocations (OnFailure) and the periodic sweep.

Inputs: SQS batches from the retry queue and the OnFailure queue (a body is a
``RetryMessage`` or Lambda's OnFailure destination record), a one-time schedule's
``RetryMessage`` for long retry delays, and the scheduled ``{"kind": "sweep"}`` event.
SQS batches report partial failures so only the failed records are redelivered.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from orchestrator.compose import build_conductor
from orchestrator.config import Clients, Resources
from orchestrator.telemetry import logger, metrics, tracer

RESOURCES = Resources.from_env()
CLIENTS = Clients.from_env()
CONDUCTOR = build_conductor(CLIENTS, RESOURCES)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return CONDUCTOR.handle_event(event, remaining_ms=getattr(context, "get_remaining_time_in_millis", None))

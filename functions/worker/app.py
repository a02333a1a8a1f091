"""Worker function: run one task try (claim, run, store the output, dispatch what became ready).

Payload: a ``TaskMessage`` (async invoke). Everything else lives in ``orchestrator.engine``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from orchestrator.compose import build_engine
from orchestrator.config import Clients, Resources
from orchestrator.engine.messages import TaskMessage
from orchestrator.telemetry import logger, metrics, tracer

# Created once per container and reused by every invocation it serves.
RESOURCES = Resources.from_env()
CLIENTS = Clients.from_env()
# With per-DAG isolation this function's role reaches only its DAG: what crosses DAGs is asked of the trigger.
ENGINE = build_engine(CLIENTS, RESOURCES, isolated_worker=RESOURCES.isolation == "dag")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return ENGINE.handle_task(TaskMessage.model_validate(event), invocation_id=context.aws_request_id)

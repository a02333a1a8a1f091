"""HTTP API (Lambda Function URL, IAM auth): trigger, list and inspect runs; pause/unpause DAGs.

Thin: Powertools decorators, then the resolver from ``orchestrator.triggers.api``.
"""

from __future__ import annotations

from typing import Any

from orchestrator import compose  # noqa: F401  the composition root: triggers start runs with its engines
from orchestrator.config import Clients, Resources
from orchestrator.telemetry import logger, tracer
from orchestrator.triggers.api import build_resolver

_CLIENTS = Clients.from_env()
app = build_resolver(lambda: (_CLIENTS, Resources.from_env()))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)

"""CloudWatch custom widget: the run grid of one DAG, with retry/clear/trigger buttons.

Thin: Powertools decorators, then ``orchestrator.observe.widget.handle_event``. The
``cwdb-action`` buttons call this same function (its own ARN, from the context).
"""

from __future__ import annotations

import os
from typing import Any

from orchestrator.config import Clients, Resources
from orchestrator.observe.service import RunsView
from orchestrator.observe.telemetry import logger, tracer
from orchestrator.observe.widget import handle_event

_CLIENTS = Clients.from_env()


def _view() -> RunsView:
    return RunsView(_CLIENTS, Resources.from_env())


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> str:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return handle_event(event, view_factory=_view, endpoint=context.invoked_function_arn, region=region)

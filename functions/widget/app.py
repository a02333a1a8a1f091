"""CloudWatch custom widget: the run grid of one DAG (read-only), and its separately authorised actions.

Thin: Powertools decorators, then ``orchestrator.observe.widget.handle_event``.

- ``handler`` (``<stack>-widget``, read-only role): draws the grid, refuses every action. Its
  buttons call ``<stack>-widget-actions`` when the stack enables actions
  (``STRATUS_WIDGET_ACTIONS_ARN``), else it draws none.
- ``action_handler`` (``<stack>-widget-actions``, only with ``WidgetActions=on``): checks and
  performs one action, then draws the grid.
"""

from __future__ import annotations

import os
from typing import Any

from orchestrator.config import Clients, Resources
from orchestrator.observe.service import RunsView
from orchestrator.telemetry import logger, tracer
from orchestrator.observe.widget import handle_event

_CLIENTS = Clients.from_env()


def _view() -> RunsView:
    return RunsView(_CLIENTS, Resources.from_env())


def _region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> str:
    return handle_event(event, view_factory=_view, endpoint=context.invoked_function_arn, region=_region(),
                        actions_endpoint=os.environ.get("STRATUS_WIDGET_ACTIONS_ARN") or None, acting=False)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def action_handler(event: dict[str, Any], context: Any) -> str:
    read_arn = os.environ.get("STRATUS_WIDGET_READ_ARN") or context.invoked_function_arn
    return handle_event(event, view_factory=_view, endpoint=read_arn, region=_region(),
                        actions_endpoint=context.invoked_function_arn, acting=True)

"""The trigger function's dispatch: which kind of event arrived, and what to do with it.

- ``{"kind": "schedule", "dag_id", "scheduled_time"}``: an EventBridge Scheduler fire ->
  :func:`orchestrator.triggers.fire.handle_fire_event`;
- an S3 object event (EventBridge ``aws.s3`` or notification ``Records``) -> asset events ->
  :func:`orchestrator.triggers.assets.handle_asset_events`;
- ``{"kind": "asset_event", "uri": "s3://...", ...}``: an asset event sent directly (an
  outlet emitted elsewhere, or a test) -> the same asset handling;

An isolated worker's cross-DAG request (``dag_request``) is not taken here: it goes to the
requests function (:func:`orchestrator.triggers.requests.handle_request_only`), the only one a
DAG's role may invoke.

Anything else raises EventError (nothing is started); the function's dead-letter queue
keeps the event for inspection.
"""

from __future__ import annotations

from typing import Any

from orchestrator.config import Clients, Resources
from orchestrator.errors import EventError
from orchestrator.triggers.assets import handle_asset_events
from orchestrator.triggers.fire import handle_fire_event, is_fire_event
from orchestrator.triggers.s3events import is_s3_event, outlet_event, parse_s3_event


def _asset_event(event: dict[str, Any]) -> list[Any]:
    for name in ("uri", "source_dag_id", "source_run_id", "source_task_id"):
        if not isinstance(event.get(name), str):
            raise EventError(f"Asset event needs a string {name!r}.")
    return [outlet_event(event["uri"], dag_id=event["source_dag_id"], run_id=event["source_run_id"],
                         task_id=event["source_task_id"])]


def handle_event(clients: Clients, resources: Resources, event: Any) -> dict[str, Any]:
    """Dispatch one trigger-function event; returns a small JSON summary of what started."""
    if is_fire_event(event):
        return {"kind": "schedule", **handle_fire_event(clients, resources, event)}
    if is_s3_event(event):
        events = parse_s3_event(event)
        started = handle_asset_events(clients, resources, events)
        return {"kind": "s3", "events": len(events), "started": [_run_ref(r) for r in started]}
    if isinstance(event, dict) and event.get("kind") == "asset_event":
        started = handle_asset_events(clients, resources, _asset_event(event))
        return {"kind": "asset_event", "started": [_run_ref(r) for r in started]}
    kind = event.get("kind") or event.get("detail-type") if isinstance(event, dict) else type(event).__name__
    raise EventError(f"The trigger function does not handle this event ({str(kind)[:60]!r}); expected a schedule "
                     "fire, an S3 object event or an asset event.")


def _run_ref(run: Any) -> Any:
    if isinstance(run, dict):
        return {"dag_id": run.get("dag_id"), "run_id": run.get("run_id")}
    return run

"""Event models crossing a boundary: worker payloads, conductor messages, OnFailure records."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestrator.errors import EventError


class TaskMessage(BaseModel):
    """The worker's async-invoke payload: run one try of one task instance."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1
    try_number: int = 1
    plan_hash: str

    def describe(self) -> str:
        idx = f"[{self.map_index}]" if self.map_index >= 0 else ""
        return f"task '{self.task_id}'{idx} try {self.try_number} of run '{self.run_id}' (DAG '{self.dag_id}')"


class RetryMessage(BaseModel):
    """SQS body (or one-time schedule input) to the conductor: queue the next try and invoke it.

    ``task`` is the message of the try that failed; the conductor moves it from
    up_for_retry to queued with ``try_number + 1``.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: Literal["retry"] = "retry"
    task: TaskMessage


class ExpandMessage(BaseModel):
    """SQS body to the conductor: continue expanding a mapped task from map index ``start``.

    Sent by whoever created the previous chunk of instances (orchestrator.engine.expansion);
    acted on only while the run item's ``map_queued#{task_id}`` still equals ``start``.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: Literal["expand"] = "expand"
    dag_id: str
    run_id: str
    task_id: str
    plan_hash: str
    start: int = Field(ge=0)


class SweepEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: Literal["sweep"] = "sweep"


class OnFailureRecord(BaseModel):
    """Lambda's asynchronous-invocation destination record (OnFailure), as documented by AWS."""

    model_config = ConfigDict(frozen=True, extra="allow")

    version: str | None = None
    timestamp: str | None = None
    requestContext: dict[str, Any]
    requestPayload: Any = None
    responseContext: dict[str, Any] | None = None
    responsePayload: Any = None

    @property
    def condition(self) -> str:
        return str(self.requestContext.get("condition", "Unknown"))

    def task(self) -> TaskMessage:
        payload = self.requestPayload
        if isinstance(payload, str):
            payload = json.loads(payload)
        return TaskMessage.model_validate(payload)

    def error_text(self) -> str:
        """A human-readable reason: the function error (type and message) or the condition."""
        resp = self.responsePayload
        if isinstance(resp, dict) and (resp.get("errorType") or resp.get("errorMessage")):
            return f"{resp.get('errorType', 'Error')}: {resp.get('errorMessage', '')}".strip()
        cond = self.condition
        if cond == "RetriesExhausted":
            return "The worker invocation crashed or timed out (Lambda retries exhausted)."
        if cond == "EventAgeExceeded":
            return "The worker invocation was never run (event age exceeded)."
        return f"The worker invocation failed ({cond})."


def parse_conductor_message(body: str | dict[str, Any]) -> RetryMessage | ExpandMessage | OnFailureRecord | SweepEvent:
    """Parse one conductor input (SQS body text or a direct event). Raises EventError."""
    try:
        data = json.loads(body) if isinstance(body, str) else body
    except ValueError as exc:
        raise EventError(f"Conductor message is not JSON: {str(body)[:200]!r}") from exc
    if not isinstance(data, dict):
        raise EventError(f"Conductor message must be a JSON object, got {type(data).__name__}.")
    try:
        if data.get("kind") == "retry":
            return RetryMessage.model_validate(data)
        if data.get("kind") == "sweep":
            return SweepEvent.model_validate(data)
        if data.get("kind") == "expand":
            return ExpandMessage.model_validate(data)
        if "requestContext" in data:
            return OnFailureRecord.model_validate(data)
    except ValidationError as exc:
        raise EventError(f"Malformed conductor message ({data.get('kind') or 'OnFailure record'}): {exc}") from exc
    raise EventError(
        "Unknown conductor message: expected {\"kind\": \"retry\"|\"expand\"|\"sweep\"} or a Lambda OnFailure record, "
        f"got keys {sorted(data)[:8]}."
    )

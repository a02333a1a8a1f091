"""Event models crossing a boundary: worker payloads, conductor messages, OnFailure records."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestrator.engine import counters as ck
from orchestrator.errors import EventError


# A run snapshot larger than this (a big conf) is left out of the task message: the worker then
# reads the run item. Lambda takes 256 KB per async payload; the OnFailure record repeats it.
SNAPSHOT_MAX_BYTES = 32 * 1024


class RunSnapshot(BaseModel):
    """What a try needs of its run, copied into the task message by the dispatcher.

    Only fields that do not change while the run is running (plus the instance count and
    argument lengths of the task when it is mapped), so the worker builds the task's context
    without reading the run item. ``deadline_at`` lets it notice a run past its
    ``dagrun_timeout`` (then it reads the run as before).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    run_type: str = "manual"
    logical_date: str | None = None
    data_interval_start: str | None = None
    data_interval_end: str | None = None
    start_date: str | None = None
    deadline_at: int | None = None
    conf: dict[str, Any] = {}
    params: dict[str, Any] = {}
    triggering_asset_events: Any = None
    partition_key: str | None = None
    partition_date: str | None = None
    map_count: int | None = None
    map_lens: list[int] | None = None
    map_gen: str | None = None

    @classmethod
    def of(cls, run: dict[str, Any], task_id: str) -> RunSnapshot | None:
        """The snapshot of a run item for ``task_id``; None when it would be too large to send
        (or a field is not what a run item holds): the worker then reads the run item."""
        try:
            snap = cls(
                run_type=str(run.get("run_type") or "manual"), logical_date=run.get("logical_date"),
                data_interval_start=run.get("data_interval_start"), data_interval_end=run.get("data_interval_end"),
                start_date=run.get("start_date"), deadline_at=run.get("deadline_at"), conf=run.get("conf") or {},
                params=run.get("params") or {}, triggering_asset_events=run.get("triggering_asset_events"),
                partition_key=run.get("partition_key"), partition_date=run.get("partition_date"),
                map_count=run.get(ck.map_count(task_id)), map_lens=run.get(ck.map_lens(task_id)),
                map_gen=run.get(ck.map_gen(task_id)),
            )
            size = len(snap.model_dump_json())
        except (ValidationError, ValueError, TypeError):
            return None
        return snap if size <= SNAPSHOT_MAX_BYTES else None

    def as_run(self, msg: TaskMessage) -> dict[str, Any]:
        """The run item as the worker would have read it (state ``running``, the fields above)."""
        run: dict[str, Any] = {
            "dag_id": msg.dag_id, "run_id": msg.run_id, "plan_hash": msg.plan_hash, "state": "running",
            **{k: v for k, v in self.model_dump().items()
               if k not in ("map_count", "map_lens", "map_gen") and v is not None},
        }
        if self.map_count is not None:
            run[ck.map_count(msg.task_id)] = self.map_count
        if self.map_lens is not None:
            run[ck.map_lens(msg.task_id)] = list(self.map_lens)
        if self.map_gen is not None:
            run[ck.map_gen(msg.task_id)] = self.map_gen
        return run


class TaskMessage(BaseModel):
    """The worker's async-invoke payload: run one try of one task instance.

    ``run`` is the dispatcher's snapshot of the run (None: the worker reads the run item).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1
    try_number: int = 1
    plan_hash: str
    run: RunSnapshot | None = None
    # The invocation that claimed this try (set by the worker after its claim, or by the
    # conductor for the failed invocation it acts for); fences every write the try makes.
    # Never sent: a message names a try, not who runs it.
    owner: str | None = Field(default=None, exclude=True)

    def describe(self) -> str:
        idx = f"[{self.map_index}]" if self.map_index >= 0 else ""
        return f"task '{self.task_id}'{idx} try {self.try_number} of run '{self.run_id}' (DAG '{self.dag_id}')"

    def bare(self) -> TaskMessage:
        """This message without the run snapshot (retry messages, schedule inputs, logs)."""
        return self if self.run is None else self.model_copy(update={"run": None})


class RetryMessage(BaseModel):
    """SQS body (or one-time schedule input) to the conductor: queue the next try and invoke it.

    ``task`` is the message of the try that failed; the conductor moves it from
    up_for_retry to queued with ``try_number + 1``.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: Literal["retry"] = "retry"
    task: TaskMessage


class PokeMessage(BaseModel):
    """SQS body (or one-time schedule input) to the conductor: a sensor's next poke is due.

    ``task`` is the try that went up_for_reschedule and ``pokes`` the instance's ``pokes`` count
    after it; the conductor moves it back to queued (same try number) only while both match.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: Literal["poke"] = "poke"
    task: TaskMessage
    pokes: int = Field(ge=1)


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
    # Not in the record: the SQS SenderId of the message that carried it, set by the conductor
    # from the SQS record's attributes (whatever a body says here is overwritten).
    sender_id: str | None = None

    @property
    def request_id(self) -> str | None:
        """The failed invocation's request id (the worker's ``context.aws_request_id``)."""
        value = self.requestContext.get("requestId")
        return str(value) if value else None

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


def parse_conductor_message(
    body: str | dict[str, Any],
) -> RetryMessage | PokeMessage | ExpandMessage | OnFailureRecord | SweepEvent:
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
        if data.get("kind") == "poke":
            return PokeMessage.model_validate(data)
        if data.get("kind") == "sweep":
            return SweepEvent.model_validate(data)
        if data.get("kind") == "expand":
            return ExpandMessage.model_validate(data)
        if "requestContext" in data:
            return OnFailureRecord.model_validate(data)
    except ValidationError as exc:
        raise EventError(f"Malformed conductor message ({data.get('kind') or 'OnFailure record'}): {exc}") from exc
    raise EventError(
        "Unknown conductor message: expected {\"kind\": \"retry\"|\"poke\"|\"expand\"|\"sweep\"} or a Lambda OnFailure record, "
        f"got keys {sorted(data)[:8]}."
    )

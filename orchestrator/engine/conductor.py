"""The conductor: everything the happy path cannot do by itself.

- retry messages (SQS, or a one-time schedule for long delays): up_for_retry -> queued try
  n+1 -> async-invoke the worker;
- poke messages (the same timers): a sensor's up_for_reschedule -> queued (same try) ->
  async-invoke the worker for its next poke;
- OnFailure destination records (a crashed or timed-out worker invocation): that try fails,
  then retries or fails the task (counters and propagation as on the worker);
- expand messages: the next chunk of a mapped task's instances (``engine.expansion``);
- ``sweep(now)``: from stored state alone, re-invoke tries that were never claimed, fail
  tries whose worker never reported back, re-send lost retries, resume stalled mapped-task
  expansions, fail runs past their ``dagrun_timeout``, start runs waiting for a slot, and
  reconcile runs with nothing in flight.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Callable

from orchestrator.engine import expansion, maintenance, past
from orchestrator.engine.engine import QUEUE_GRACE_S, Engine
from orchestrator.engine.messages import ExpandMessage, OnFailureRecord, PokeMessage, RetryMessage, SweepEvent
from orchestrator.engine.messages import TaskMessage
from orchestrator.engine.messages import parse_conductor_message
from orchestrator.engine.worker import fail_try
from orchestrator.errors import ConflictError, EventError, NotFoundError
from orchestrator.telemetry import logger

LOST_RETRY_GRACE_S = 300
# A queued try whose invocation failed before claiming it (a throttled read, a crash at the
# claim) is invoked again this many times before it is failed like a crashed try.
LOST_INVOKE_LIMIT = 3


class Conductor:
    """Handles conductor inputs with an ``Engine`` (same store and dispatcher as the worker)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.store = engine.store
        # The running invocation's remaining time (Lambda context), set by handle_event.
        self.remaining_ms: Callable[[], int] | None = None

    def handle(self, message: RetryMessage | PokeMessage | ExpandMessage | OnFailureRecord | SweepEvent) -> dict[str, Any]:
        """Dispatch on the message type; raises TypeError for anything else."""
        if isinstance(message, RetryMessage):
            return {"retry": self.retry(message.task)}
        if isinstance(message, PokeMessage):
            return {"poke": self.poke(message.task, message.pokes)}
        if isinstance(message, ExpandMessage):
            return {"expand": self.expand(message)}
        if isinstance(message, OnFailureRecord):
            return {"on_failure": self.on_failure(message)}
        if isinstance(message, SweepEvent):
            return self.sweep()
        raise TypeError(f"The conductor does not handle {type(message).__name__}")

    def handle_event(self, event: dict[str, Any], remaining_ms: Callable[[], int] | None = None) -> dict[str, Any]:
        """A conductor Lambda event: an SQS batch (partial-failure response) or one direct message.

        ``remaining_ms`` (the Lambda context's ``get_remaining_time_in_millis``) bounds the work
        an expand message does, so a batch finishes inside the function's timeout.
        """
        self.remaining_ms = remaining_ms
        try:
            return self._handle_event(event)
        finally:
            self.remaining_ms = None

    def _handle_event(self, event: dict[str, Any]) -> dict[str, Any]:
        records = event.get("Records") if isinstance(event, dict) else None
        if not records:
            message = parse_conductor_message(event)
            if isinstance(message, OnFailureRecord):  # not through SQS: no sender to trust
                message = message.model_copy(update={"sender_id": None})
            return self.handle(message)
        failures = []
        if not isinstance(records, list):
            raise EventError("A conductor SQS event's 'Records' must be a list of SQS records.")
        for record in records:
            if not isinstance(record, dict):
                # Not an SQS record at all: there is no message id to redeliver; drop it.
                logger.error("dropping a conductor record that is not an object", extra={"record_type": type(record).__name__})
                continue
            try:
                message = parse_conductor_message(record.get("body", ""))
                if isinstance(message, OnFailureRecord):  # who sent it (SQS records the sender's identity)
                    sender = (record.get("attributes") or {}).get("SenderId")
                    message = message.model_copy(update={"sender_id": str(sender) if sender else None})
                self.handle(message)
            except EventError:
                # A malformed message never gets better: log and drop it (no redelivery loop).
                logger.exception("dropping malformed conductor message", extra={"message_id": record.get("messageId")})
            except Exception:  # noqa: BLE001 - redeliver just this record
                logger.exception("conductor message failed; SQS will redeliver it",
                                 extra={"message_id": record.get("messageId")})
                failures.append({"itemIdentifier": record.get("messageId")})
        return {"batchItemFailures": failures}

    def retry(self, failed: TaskMessage) -> str:
        """Queue try ``failed.try_number + 1`` and invoke the worker; ``noop`` if already done."""
        plan = self.store.get_plan(failed.dag_id, failed.plan_hash)
        try:
            run = self.store.get_run(failed.dag_id, failed.run_id)
        except NotFoundError:
            return "noop"
        if run.get("state") != "running":
            return "noop"
        step = plan.step(failed.task_id)
        deadline = self.engine.epoch() + QUEUE_GRACE_S
        try:
            # A retry message delivered twice (SQS is at least once): the second finds the
            # next try already queued.
            ti = self.store.requeue_ti(failed.dag_id, failed.run_id, step.task_id, failed.map_index,
                                       failed.try_number, deadline=deadline)
        except ConflictError:
            return "noop"
        self.engine.invoke(plan, failed.model_copy(update={"try_number": int(ti["try_number"])}))
        return "queued"

    def poke(self, task: TaskMessage, pokes: int) -> str:
        """Queue a rescheduled sensor's next poke (same try) and invoke the worker; ``noop`` if stale."""
        plan = self.store.get_plan(task.dag_id, task.plan_hash)
        try:
            run = self.store.get_run(task.dag_id, task.run_id)
        except NotFoundError:
            return "noop"
        if run.get("state") != "running":
            return "noop"
        try:
            # A timer delivered twice, or one left from before a clear/mark: the poke count or the
            # state differs and nothing moves.
            self.store.requeue_poke(task.dag_id, task.run_id, task.task_id, task.map_index, task.try_number,
                                    pokes=pokes, deadline=self.engine.epoch() + QUEUE_GRACE_S)
        except ConflictError:
            return "noop"
        self.engine.invoke(plan, self.engine.message(plan, task.run_id, task.task_id, task.map_index,
                                                     task.try_number, run=run))
        return "queued"

    def expand(self, msg: ExpandMessage) -> str:
        """Create the next chunk of a mapped task's instances and hand the rest on (or ``noop``)."""
        budget = expansion.budget_s()
        if self.remaining_ms is not None:
            budget = min(budget, self.remaining_ms() / 1000 - expansion.SAFETY_S)
        return expansion.continue_from(self.engine, msg, stop_at=time.monotonic() + budget)

    def on_failure(self, record: OnFailureRecord) -> str:
        """A worker invocation failed outside the task code: act for the try it owned.

        - the try is ``running`` and was claimed by this invocation (its request id): the
          invocation crashed or timed out mid-try, so fail that try (retry or failed);
        - ``running`` but claimed by another invocation: the failed one was a duplicate
          delivery; the try's own invocation is alive, so nothing happens (``noop``);
        - still ``queued``: the invocation failed before its claim; with the template's
          ``MaximumRetryAttempts: 0`` nothing else delivers the try, so it is invoked again
          (``reinvoked``; after LOST_INVOKE_LIMIT times it is failed);
        - anything else (ended, or a later try): ``noop``.
        """
        msg = record.task()
        logger.warning("worker invocation failed", extra={"condition": record.condition, **msg.bare().model_dump()})
        forged = self._forged(record, msg)
        if forged:
            logger.warning("OnFailure record ignored: " + forged, extra=msg.bare().model_dump())
            return "ignored"
        try:
            ti = self.store.get_ti(msg.dag_id, msg.run_id, msg.task_id, msg.map_index)
        except NotFoundError:
            return "noop"
        if int(ti.get("try_number", 0)) != msg.try_number:
            return "noop"
        if ti.get("state") == "running":
            owner = ti.get("invocation_id")
            if owner and record.request_id and owner != record.request_id:
                logger.info("a duplicate delivery failed; the try's own invocation still runs it",
                            extra={"failed": record.request_id, "owner": owner})
                return "noop"
            return fail_try(self.engine, msg.model_copy(update={"owner": owner}), record.error_text(),
                            expected=("running",))
        if ti.get("state") != "queued":
            return "noop"
        try:
            lost = self.store.note_lost_invoke(msg.dag_id, msg.run_id, msg.task_id, msg.map_index, msg.try_number)
        except ConflictError:
            return "noop"  # claimed since the read
        if lost <= LOST_INVOKE_LIMIT:
            self.engine.invoke(self.store.get_plan(msg.dag_id, msg.plan_hash), msg)
            return "reinvoked"
        return fail_try(self.engine, msg, record.error_text(), expected=("queued",))

    def _forged(self, record: OnFailureRecord, msg: TaskMessage) -> str | None:
        """Why a record cannot be from the worker of the DAG it names, or None (per-DAG isolation).

        Every DAG's worker role may send to the failure queue (Lambda delivers the OnFailure
        records with it), so a task could forge one for another DAG's try. The record's
        ``functionArn`` and, on AWS, the SQS ``SenderId`` (``<role id>:<session>``, the session
        being the sending function's name) must both be the worker of the DAG the record names.
        """
        expected_of = getattr(self.engine.dispatcher, "worker_function_of", None)
        if expected_of is None or not expected_of(None):
            return None  # not isolated: one role runs every DAG, nothing to tell apart
        try:
            expected = expected_of(self.store.get_plan(msg.dag_id, msg.plan_hash), msg.task_id)
        except (NotFoundError, KeyError):
            return f"DAG '{msg.dag_id}' has no plan {msg.plan_hash}"
        arn = str(record.requestContext.get("functionArn", ""))
        sent_by = arn.split(":function:", 1)[1].split(":")[0] if ":function:" in arn else arn
        if sent_by != expected:
            return f"it names function {sent_by!r}, but DAG '{msg.dag_id}' runs in {expected!r}"
        sender = getattr(record, "sender_id", None)
        if not sender:  # Lambda's OnFailure records arrive through the failure queue, which names the sender
            return ("it did not come through the failure queue (no SQS sender); under per-DAG isolation only "
                    "the queue's records are trusted")
        if ":" in sender and sender.split(":", 1)[1] != expected:
            return f"it was sent by {sender.split(':', 1)[1]!r}, not by {expected!r}, the worker of DAG '{msg.dag_id}'"
        return None

    def sweep(self, now: datetime | None = None) -> dict[str, Any]:
        """Repair what lost messages left behind, from stored state alone. Returns counts."""
        stats = {"runs": 0, "reinvoked": 0, "failed_tries": 0, "retries": 0, "timed_out": 0, "reconciled": 0,
                 "expansions_resumed": 0}
        now_s = int((now or self.engine.now()).timestamp())
        stats["errors"] = 0
        # Each DAG and each run is isolated: one that fails (throttled, a broken plan) is logged
        # and retried by the next sweep, and never stops the others from being swept.
        for dag in self.store.list_dags():
            dag_id = dag["dag_id"]
            try:
                # Queued runs while slots are free, oldest logical date first: also the runs whose
                # creator died between creating them and taking a slot (their marker is written with them).
                self.engine.start_waiting(dag_id, slots=max(1, int(dag.get("max_active_runs") or 1)))
                run_ids = self.store.list_active_runs(dag_id)
            except Exception:  # noqa: BLE001
                stats["errors"] += 1
                logger.exception("sweeping a DAG failed; the next sweep retries it", extra={"dag_id": dag_id})
                continue
            for run_id in run_ids:
                try:
                    run = self.store.get_run(dag_id, run_id)
                    if run.get("state") != "running":
                        continue
                    stats["runs"] += 1
                    self._sweep_run(run, now_s, stats)
                except NotFoundError:
                    continue
                except Exception:  # noqa: BLE001 - one run's failure (e.g. throttling) must not starve the rest
                    stats["errors"] += 1
                    logger.exception("sweeping a run failed; the next sweep retries it",
                                     extra={"dag_id": dag_id, "run_id": run_id})
        return stats

    def _sweep_run(self, run: dict[str, Any], now_s: int, stats: dict[str, int]) -> None:
        dag_id, run_id = run["dag_id"], run["run_id"]
        plan = self.store.get_plan(dag_id, run["plan_hash"])
        if run.get("deadline_at") and now_s > int(run["deadline_at"]):
            self.engine.timeout_run(plan, run)
            stats["timed_out"] += 1
            return
        # A mapped task still being expanded counts as in flight; one stalled past the grace
        # period (its hand-on lost, or its executor killed mid-chunk) is resumed from the marker.
        in_flight, resumed = expansion.resume(self.engine, plan, run, now_s)
        stats["expansions_resumed"] += resumed
        waiting: list[str] = []  # instances waiting for the previous run (depends_on_past)
        for ti in self.store.list_tis(dag_id, run_id):
            state, deadline = ti.get("state"), int(ti.get("deadline", 0) or 0)
            msg = self.engine.message(plan, run_id, ti["task_id"], int(ti["map_index"]), int(ti.get("try_number", 1)))
            if state == "queued":
                in_flight += 1
                if deadline and now_s > deadline:
                    self.engine.invoke(plan, msg)  # the claim makes a duplicate harmless
                    stats["reinvoked"] += 1
            elif state == "running":
                in_flight += 1
                if deadline and now_s > deadline:
                    fail_try(self.engine, msg, "The worker did not report back before its deadline "
                             "(crashed, killed or timed out).", expected=("running",))
                    stats["failed_tries"] += 1
            elif state == "up_for_reschedule":
                in_flight += 1  # a sensor between pokes: its timer is lost only past the grace period
                due = ti.get("next_try_at")
                if due and now_s > int(datetime.fromisoformat(due).timestamp()) + LOST_RETRY_GRACE_S:
                    if self.poke(msg, int(ti.get("pokes", 0) or 0)) == "queued":
                        stats["pokes"] = stats.get("pokes", 0) + 1
            elif state == "up_for_retry":
                in_flight += 1
                due = ti.get("next_try_at")
                if due and now_s > int(datetime.fromisoformat(due).timestamp()) + LOST_RETRY_GRACE_S:
                    if self.retry(msg) == "queued":
                        stats["retries"] += 1
            elif state == "none" and ti.get("past_wait"):
                waiting.append(ti["task_id"])
        if in_flight == 0:
            # Nothing queued, running or waiting to retry: derive the run from its task states
            # (lost dispatches, lost counters, drifted slot counters for parked tasks).
            maintenance.reconcile(self.engine, dag_id, run_id)  # looks at waiting instances again too
            stats["reconciled"] += 1
        else:
            for task_id in waiting:
                # The wake-up from the previous run is the prompt path; this is the safety net.
                stats["past_released"] = stats.get("past_released", 0) + past.recheck(self.engine, dag_id, run_id,
                                                                                         task_id)
            self.engine.promote(plan, self.store.get_run(dag_id, run_id))

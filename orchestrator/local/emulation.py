"""What moto does not do, emulated in one place, following AWS's documented behaviour.

Moto stores configuration but does not act on it. The local cloud fills these gaps here
(deploy-time gaps, the resource types moto's CloudFormation skips, are in ``local.stack``;
parts 3 and 4 are implemented in ``local.eventsources``, the clock in ``local.clock``):

1. **Asynchronous invocation** (Lambda, "Asynchronous invocation" and "Destinations"):
   ``Event`` invokes run on a pool (``local.functions``); a failed or timed-out one is
   retried ``MaximumRetryAttempts`` times (default 2), 1 then 2 minutes apart on the local
   clock; then the invocation record (``version``, ``timestamp``, ``requestContext`` with
   ``condition: RetriesExhausted`` and ``approximateInvokeCount``, ``requestPayload``,
   ``responseContext``, ``responsePayload``) goes to the ``OnFailure`` destination (SQS
   queue or function), else the event goes to the function's dead-letter queue.
2. **SQS event source mappings** (Lambda, "Using Lambda with Amazon SQS"): queues mapped to
   a function are polled; visible messages are delivered in batches (``Records`` with
   ``messageId``, ``receiptHandle``, ``body``, ``attributes``, ``messageAttributes``,
   ``md5OfBody``, ``eventSource``, ``eventSourceARN``, ``awsRegion``). A successful batch is
   deleted, except the ``batchItemFailures`` it reports; a failed batch becomes visible again
   after the visibility timeout, and SQS's redrive policy moves it to the dead-letter queue.
   ``DelaySeconds`` and visibility timeouts run on the local clock (moto's SQS time source is
   pointed at it), so a test can fast-forward through retry delays.
3. **EventBridge rules with Lambda targets** and **S3 EventBridge notifications**: a
   ``PutObject`` on a bucket with EventBridge enabled produces AWS's "Object Created" event
   on the default bus (``detail.bucket.name``, ``detail.object.key/size/etag/sequencer``,
   a unique ``id`` and an increasing ``sequencer`` per event; moto reuses one of each) and
   every matching rule's Lambda targets are invoked asynchronously with ``Input``,
   ``InputPath`` or ``InputTransformer`` applied.
4. **EventBridge Scheduler** and the **clock**: ``LocalClock`` is wall time plus an offset
   that ``advance(timedelta)`` moves forward. Enabled schedules (``at``, ``rate``, ``cron``,
   in their time zone, within start/end dates) fire at each due time by invoking their
   target with its ``Input`` (``<aws.scheduler.scheduled-time>`` and the other context
   attributes substituted); one-time schedules with ``ActionAfterCompletion: DELETE`` are
   deleted after firing. ``advance`` fires what falls due in time order and lets the work it
   starts settle before moving on, so a chain of timers inside the window all happen.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestrator.local.clock import LocalClock
from orchestrator.local.eventsources import EventsMixin, _function_name, _ScheduleState, _utc, _within
from orchestrator.local.functions import MOTO_LOCK, FunctionHost, Outcome
from orchestrator.local.iam import Access
from orchestrator.local.iam import sender_id as iam_sender

log = logging.getLogger(__name__)

_ACTIVE: list[Emulation] = []  # the emulation moto's patched hooks route to (one per process)
_PATCHES: dict[str, Any] = {}

# Lambda's documented async retry spacing: about 1 minute, then 2 minutes.
ASYNC_RETRY_DELAYS_S = (60, 120)
DEFAULT_ASYNC_RETRIES = 2


@dataclass
class _Subscription:
    queue_name: str
    queue_arn: str
    function: str
    batch_size: int
    report_failures: bool
    visibility_timeout: int


class Emulation(EventsMixin):
    """The running emulation for one local cloud (see the module docstring)."""

    def __init__(
        self,
        *,
        host: FunctionHost,
        clock: LocalClock,
        region: str,
        account_id: str,
        function_names: dict[str, str],
        settle: Callable[[], None],
        dead_letters: dict[str, str] | None = None,
    ) -> None:
        self.host = host
        self.clock = clock
        self.region = region
        self.account_id = account_id
        self.function_names = function_names  # ARN -> name, for targets and destinations
        self._settle = settle
        self.dead_letters = dict(dead_letters or {})
        self._subs: list[_Subscription] = []
        self._schedules: dict[tuple[str, str, str | None], _ScheduleState] = {}
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._timer_seq = itertools.count()
        self._sequencer = itertools.count(1)
        self._pump_lock = threading.RLock()
        self._advance_lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self.fired: list[tuple[str, datetime]] = []  # (schedule ARN, scheduled time), for tests
        self.deliveries: dict[str, int] = {"sqs_batches": 0, "on_failure": 0, "dead_letter": 0, "events": 0}
        host.on_async_result = self._on_async_result

    # -- backends (direct access: these are AWS-internal actions, not API calls of the app)
    def _sqs(self) -> Any:
        from moto.sqs.models import sqs_backends

        return sqs_backends[self.account_id][self.region]

    def _lambda(self) -> Any:
        from moto.awslambda.models import lambda_backends

        return lambda_backends[self.account_id][self.region]

    def _scheduler(self) -> Any:
        from moto.scheduler.models import scheduler_backends

        return scheduler_backends[self.account_id][self.region]

    # -- lifecycle
    def start(self, tick_s: float = 0.02) -> None:
        if _ACTIVE:
            raise RuntimeError("Another local cloud emulation is running in this process; close it first.")
        _ACTIVE.append(self)
        _install_patches()
        self.clock._driver = self.advance_to
        from orchestrator.authoring import timezone as task_time

        task_time.set_clock(self.clock.time)  # sensors and timezone.utcnow() follow advance()
        self._discover_subscriptions()
        self._ticker = threading.Thread(target=self._tick, args=(tick_s,), daemon=True, name="stratus-emulation")
        self._ticker.start()

    def stop(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
        self.clock._driver = None
        from orchestrator.authoring import timezone as task_time

        task_time.set_clock(None)
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        _uninstall_patches()

    def _tick(self, tick_s: float) -> None:
        while not self._stop.wait(tick_s):
            try:
                self.pump()
            except Exception:  # keep ticking; the failure is logged once per occurrence
                log.exception("local cloud: emulation tick failed")

    def _discover_subscriptions(self) -> None:
        backend = self._lambda()
        sqs = self._sqs()
        with MOTO_LOCK:
            for esm in list(backend._event_source_mappings.values()):
                arn = esm.event_source_arn
                if ":sqs:" not in arn or not esm.enabled:
                    continue
                name = arn.rsplit(":", 1)[1]
                queue = sqs.get_queue(name)
                # Lambda's poller, not moto's inline delivery on SendMessage, delivers the batches.
                queue.lambda_event_source_mappings.clear()
                types = getattr(esm, "function_response_types", None) or []
                self._subs.append(
                    _Subscription(
                        queue_name=name,
                        queue_arn=arn,
                        function=_function_name(esm.function_arn),
                        batch_size=int(esm.batch_size or 10),
                        report_failures="ReportBatchItemFailures" in types,
                        visibility_timeout=int(queue.visibility_timeout or 30),
                    )
                )

    # -- the pump: start everything that is due now; returns how many things it started
    def pump(self) -> int:
        with self._pump_lock:
            started = self._fire_timers()
            started += self._fire_schedules()
            started += self._poll_queues()
            return started

    def next_due(self, *, recurring: bool = True) -> float | None:
        """Epoch of the next thing that will become due (None if nothing is pending)."""
        times: list[float] = [t for t, _, _ in self._timers]
        with MOTO_LOCK:
            sqs = self._sqs()
            for sub in self._subs:
                for m in list(sqs.get_queue(sub.queue_name)._messages):
                    times.append(max(m.delayed_until, m.visible_at) / 1000.0)
            scheduled = self._enabled_schedules()
        for _, sched, expr, state in scheduled:
            if expr.recurring and not recurring:
                continue
            if state.next is not None and state.next != float("inf") and _within(sched, _utc(state.next)):
                times.append(state.next)
        return min(times) if times else None

    def advance_to(self, target: float) -> None:
        """Move the clock to ``target``, firing what falls due in order and settling after each step."""
        with self._advance_lock:
            self._settle()
            while True:
                nxt = self.next_due(recurring=True)
                if nxt is None or nxt > target:
                    break
                self.clock.jump_to(nxt)
                self.pump()
                self._settle()
            self.clock.jump_to(target)
            self.pump()
            self._settle()

    # -- 1. asynchronous invocation: retries, destinations, dead letters
    def add_timer(self, when: float, fn: Callable[[], None]) -> None:
        with self._pump_lock:
            self._timers.append((when, next(self._timer_seq), fn))
            self._timers.sort(key=lambda t: (t[0], t[1]))

    def _fire_timers(self) -> int:
        now = self.clock.time()
        due = [t for t in self._timers if t[0] <= now]
        if not due:
            return 0
        self._timers = [t for t in self._timers if t[0] > now]
        for _, _, fn in due:
            fn()
        return len(due)

    def _on_async_result(self, name: str, payload: str, attempt: int, outcome: Outcome) -> None:
        config = self._invoke_config(name)
        if outcome.error is None:
            dest = config.get("DestinationConfig", {}).get("OnSuccess", {}).get("Destination")
            if dest and self._role_allows(name, "lambda.OnSuccess", _destination_action(dest), dest):
                self._deliver_record(dest, self._record(name, payload, attempt, outcome, "Success"))
            return
        retries = int(config.get("MaximumRetryAttempts", DEFAULT_ASYNC_RETRIES))
        if attempt <= retries:
            delay = ASYNC_RETRY_DELAYS_S[min(attempt - 1, len(ASYNC_RETRY_DELAYS_S) - 1)]
            self.add_timer(self.clock.time() + delay, lambda: self.host.submit_event(name, payload, attempt + 1))
            return
        dest = config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        if dest:
            if not self._role_allows(name, "lambda.OnFailure", _destination_action(dest), dest):
                return
            self.deliveries["on_failure"] += 1
            self._deliver_record(dest, self._record(name, payload, attempt, outcome, "RetriesExhausted"))
            return
        dlq = self._dead_letter_target(name)
        if dlq:
            if not self._role_allows(name, "lambda.DeadLetterConfig", "sqs:SendMessage", dlq):
                return
            self.deliveries["dead_letter"] += 1
            attrs = {
                "RequestID": {"DataType": "String", "StringValue": outcome.request_id},
                "ErrorCode": {"DataType": "Number", "StringValue": "200"},
                "ErrorMessage": {"DataType": "String", "StringValue": str(outcome.error.get("errorMessage", ""))[:1000]},
            }
            self._send_sqs(dlq, payload, attrs)
            return
        log.warning("local cloud: async invoke of %s failed after %d attempt(s) and has no destination", name, attempt)

    def _role_allows(self, function: str, what: str, action: str, resource: str) -> bool:
        """Lambda acts with the function's execution role when it polls a queue or delivers to a
        destination or dead-letter queue: the local IAM check authorises that too (a denial is
        recorded; AWS drops the record or refuses the mapping)."""
        check = self.host.iam
        if check is None:
            return True
        return check.authorize(function, what, [Access(action, resource)]) is None

    def _invoke_config(self, name: str) -> dict[str, Any]:
        with MOTO_LOCK:
            fn = self._lambda().get_function(name)
            configs = getattr(fn, "event_invoke_config", None) or []
            return dict(configs[0].config) if configs else {}

    def _dead_letter_target(self, name: str) -> str | None:
        # moto does not keep DeadLetterConfig; the local cloud reads it from the template.
        return self.dead_letters.get(name)

    def _record(self, name: str, payload: str, attempt: int, outcome: Outcome, condition: str) -> dict[str, Any]:
        try:
            request_payload: Any = json.loads(payload) if payload else {}
        except ValueError:
            request_payload = payload
        record: dict[str, Any] = {
            "version": "1.0",
            "timestamp": self.clock.now().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "requestContext": {
                "requestId": outcome.request_id,
                "functionArn": f"{self.host.arns[name]}:$LATEST",
                "condition": condition,
                "approximateInvokeCount": attempt,
            },
            "requestPayload": request_payload,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
        }
        if outcome.error is not None:
            record["responseContext"]["functionError"] = "Unhandled"
            record["responsePayload"] = outcome.error
        else:
            record["responsePayload"] = json.loads(outcome.payload or "null")
        return record

    def _deliver_record(self, destination: str, record: dict[str, Any]) -> None:
        if ":sqs:" in destination:
            # Lambda sends the record with the function's execution role: SQS records that sender.
            function = _function_name(str(record.get("requestContext", {}).get("functionArn", "")))
            role = self.host.iam.roles.get(function) if self.host.iam is not None else None
            self._send_sqs(destination, json.dumps(record), sender=iam_sender(role.name if role else "?", function))
        elif ":lambda:" in destination:
            self.host.submit_event(_function_name(destination), json.dumps(record))
        else:
            log.warning("local cloud: destination %s is not emulated (SQS and Lambda are)", destination)

    def _send_sqs(self, queue_arn: str, body: str, attributes: dict[str, Any] | None = None,
                  sender: str | None = None) -> None:
        with MOTO_LOCK:
            message = self._sqs().send_message(queue_arn.rsplit(":", 1)[1], body, message_attributes=attributes or None)
            if sender:
                message.sender_id = sender

    # -- 2. SQS event source mappings
    def _poll_queues(self) -> int:
        started = 0
        sqs = self._sqs()
        for sub in self._subs:
            if not all(self._role_allows(sub.function, "lambda.EventSourceMapping", action, sub.queue_arn)
                       for action in _POLLER_ACTIONS):
                continue
            with MOTO_LOCK:
                queue = sqs.get_queue(sub.queue_name)
                if not queue.messages:
                    continue
                messages = sqs.receive_message(sub.queue_name, sub.batch_size, 0, sub.visibility_timeout)
            if not messages:
                continue
            event = {"Records": [self._sqs_record(sub, m) for m in messages]}
            self.deliveries["sqs_batches"] += 1
            self.host.submit(functools.partial(self._deliver_batch, sub, event, messages))
            started += 1
        return started

    def _sqs_record(self, sub: _Subscription, m: Any) -> dict[str, Any]:
        attrs = {}
        for key, value in (m.message_attributes or {}).items():
            data_type = value.get("data_type") or value.get("DataType") or "String"
            attrs[key] = {
                "stringValue": value.get("string_value") or value.get("StringValue"),
                "binaryValue": value.get("binary_value") or value.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": data_type,
            }
        return {
            "messageId": m.id,
            "receiptHandle": m.receipt_handle,
            "body": m.body,
            "attributes": {
                "ApproximateReceiveCount": str(m.approximate_receive_count),
                "SentTimestamp": str(m.sent_timestamp),
                "SenderId": str(m.sender_id),
                "ApproximateFirstReceiveTimestamp": str(m.approximate_first_receive_timestamp),
            },
            "messageAttributes": attrs,
            "md5OfBody": hashlib.md5(m.body.encode("utf-8")).hexdigest(),  # noqa: S324 - SQS's own checksum
            "eventSource": "aws:sqs",
            "eventSourceARN": sub.queue_arn,
            "awsRegion": self.region,
        }

    def _deliver_batch(self, sub: _Subscription, event: dict[str, Any], messages: list[Any]) -> None:
        outcome = self.host.run(sub.function, json.dumps(event))
        if outcome.error is not None:
            return  # the batch becomes visible again after the visibility timeout
        failed: set[str] = set()
        if sub.report_failures:
            try:
                response = json.loads(outcome.payload or "null") or {}
                failed = {str(f["itemIdentifier"]) for f in response.get("batchItemFailures", [])}
            except (ValueError, TypeError, KeyError, AttributeError):
                return  # an unreadable response fails the whole batch, as Lambda does
        with MOTO_LOCK:
            sqs = self._sqs()
            for m in messages:
                if m.id not in failed:
                    sqs.delete_message(sub.queue_name, m.receipt_handle)

# What Lambda's SQS poller does with the function's role (the SQSPollerPolicy set).
_POLLER_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")


def _destination_action(arn: str) -> str:
    return {"sqs": "sqs:SendMessage", "lambda": "lambda:InvokeFunction", "sns": "sns:Publish",
            "events": "events:PutEvents"}.get(arn.split(":")[2] if arn.count(":") >= 2 else "", "?")


# -- moto patches (process-wide, routed to the active emulation)
def _install_patches() -> None:
    if _PATCHES:
        return
    import moto.s3.notifications as s3n
    import moto.sqs.models as sqs_models
    from moto.events.models import Rule

    _PATCHES["s3_eventbridge"] = s3n._send_event_bridge_message
    _PATCHES["send_to_targets"] = Rule.send_to_targets
    _PATCHES["sqs_unix_time"] = sqs_models.unix_time
    _PATCHES["sqs_unix_time_millis"] = sqs_models.unix_time_millis

    def s3_eventbridge(account_id: str, bucket: Any, event_name: str, key: Any) -> None:
        if not _ACTIVE:
            return _PATCHES["s3_eventbridge"](account_id, bucket, event_name, key)
        try:
            _ACTIVE[0].s3_event(account_id, bucket, event_name, key)
        except Exception:  # S3 notifications are asynchronous: never fail the PutObject
            log.exception("local cloud: S3 EventBridge notification failed")

    def send_to_targets(rule: Any, event: Any, transform_input: bool = True) -> None:
        if not _ACTIVE:
            return _PATCHES["send_to_targets"](rule, event, transform_input)
        if getattr(rule, "state", "ENABLED") != "ENABLED" or not rule.event_pattern.matches_event(event):
            return
        lambdas = [t for t in rule.targets if ":lambda:" in t.get("Arn", "")]
        for target in lambdas:
            _ACTIVE[0].lambda_target(rule, target, event)
        others = [t for t in rule.targets if t not in lambdas]
        if others:
            proxy = copy.copy(rule)
            proxy.targets = others
            _PATCHES["send_to_targets"](proxy, event, transform_input)

    def clock_seconds() -> float:
        return _ACTIVE[0].clock.time() if _ACTIVE else time.time()

    def clock_millis() -> float:
        return clock_seconds() * 1000.0

    s3n._send_event_bridge_message = s3_eventbridge
    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign,assignment]
    sqs_models.unix_time = clock_seconds  # type: ignore[assignment]
    sqs_models.unix_time_millis = clock_millis  # type: ignore[assignment]


def _uninstall_patches() -> None:
    if _ACTIVE or not _PATCHES:
        return
    import moto.s3.notifications as s3n
    import moto.sqs.models as sqs_models
    from moto.events.models import Rule

    s3n._send_event_bridge_message = _PATCHES.pop("s3_eventbridge")
    Rule.send_to_targets = _PATCHES.pop("send_to_targets")  # type: ignore[method-assign]
    sqs_models.unix_time = _PATCHES.pop("sqs_unix_time")
    sqs_models.unix_time_millis = _PATCHES.pop("sqs_unix_time_millis")

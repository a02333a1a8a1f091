"""What moto does not do, emulated in one place, following AWS's documented behaviour.

Moto stores configuration but does not act on it. The local cloud fills these gaps here
(deploy-time gaps, the resource types moto's CloudFormation skips, are in ``local.stack``):

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
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from orchestrator.local import scheduleexpr
from orchestrator.local.functions import MOTO_LOCK, FunctionHost, Outcome

log = logging.getLogger(__name__)

_ACTIVE: list[Emulation] = []  # the emulation moto's patched hooks route to (one per process)
_PATCHES: dict[str, Any] = {}

# Lambda's documented async retry spacing: about 1 minute, then 2 minutes.
ASYNC_RETRY_DELAYS_S = (60, 120)
DEFAULT_ASYNC_RETRIES = 2
_REASONS = {
    "Put": "PutObject",
    "Post": "POST Object",
    "Copy": "CopyObject",
    "CompleteMultipartUpload": "CompleteMultipartUpload",
    "Delete": "DeleteObject",
    "DeleteMarkerCreated": "DeleteObject",
}


class LocalClock:
    """Wall-clock time plus an offset that only grows; ``advance`` fast-forwards.

    When attached to a running local cloud, ``advance(delta)`` fires every schedule, delayed
    message and timer that falls due in the window, in time order, letting each settle.
    """

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()
        self._driver: Callable[[float], None] | None = None

    def time(self) -> float:
        """Epoch seconds on the local clock."""
        return time.time() + self._offset

    def now(self) -> datetime:
        """The local clock as an aware UTC datetime."""
        return datetime.fromtimestamp(self.time(), tz=timezone.utc)

    @property
    def offset(self) -> timedelta:
        return timedelta(seconds=self._offset)

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward by ``delta`` (fires what falls due when attached to a cloud)."""
        seconds = delta.total_seconds()
        if seconds < 0:
            raise ValueError(f"LocalClock.advance: the clock only moves forward (got {delta}).")
        target = self.time() + seconds
        if self._driver is not None:
            self._driver(target)
        else:
            self.jump_to(target)

    def jump_to(self, epoch: float) -> None:
        """Set the clock to ``epoch`` unless it is already past it (never goes back)."""
        with self._lock:
            self._offset = max(self._offset, epoch - time.time())


@dataclass
class _Subscription:
    queue_name: str
    queue_arn: str
    function: str
    batch_size: int
    report_failures: bool
    visibility_timeout: int


@dataclass
class _ScheduleState:
    checked: float  # epoch up to which occurrences were fired
    anchor: float
    next: float | None = None  # cached next fire (epoch), recomputed after each firing


@functools.lru_cache(maxsize=1024)
def _parse(expression: str, timezone_name: str | None) -> scheduleexpr.Expression:
    return scheduleexpr.parse(expression, timezone_name)


class Emulation:
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
        self._discover_subscriptions()
        self._ticker = threading.Thread(target=self._tick, args=(tick_s,), daemon=True, name="stratus-emulation")
        self._ticker.start()

    def stop(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
        self.clock._driver = None
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
            if dest:
                self._deliver_record(dest, self._record(name, payload, attempt, outcome, "Success"))
            return
        retries = int(config.get("MaximumRetryAttempts", DEFAULT_ASYNC_RETRIES))
        if attempt <= retries:
            delay = ASYNC_RETRY_DELAYS_S[min(attempt - 1, len(ASYNC_RETRY_DELAYS_S) - 1)]
            self.add_timer(self.clock.time() + delay, lambda: self.host.submit_event(name, payload, attempt + 1))
            return
        dest = config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        if dest:
            self.deliveries["on_failure"] += 1
            self._deliver_record(dest, self._record(name, payload, attempt, outcome, "RetriesExhausted"))
            return
        dlq = self._dead_letter_target(name)
        if dlq:
            self.deliveries["dead_letter"] += 1
            attrs = {
                "RequestID": {"DataType": "String", "StringValue": outcome.request_id},
                "ErrorCode": {"DataType": "Number", "StringValue": "200"},
                "ErrorMessage": {"DataType": "String", "StringValue": str(outcome.error.get("errorMessage", ""))[:1000]},
            }
            self._send_sqs(dlq, payload, attrs)
            return
        log.warning("local cloud: async invoke of %s failed after %d attempt(s) and has no destination", name, attempt)

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
            self._send_sqs(destination, json.dumps(record))
        elif ":lambda:" in destination:
            self.host.submit_event(_function_name(destination), json.dumps(record))
        else:
            log.warning("local cloud: destination %s is not emulated (SQS and Lambda are)", destination)

    def _send_sqs(self, queue_arn: str, body: str, attributes: dict[str, Any] | None = None) -> None:
        with MOTO_LOCK:
            self._sqs().send_message(queue_arn.rsplit(":", 1)[1], body, message_attributes=attributes or None)

    # -- 2. SQS event source mappings
    def _poll_queues(self) -> int:
        started = 0
        sqs = self._sqs()
        for sub in self._subs:
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

    # -- 3. EventBridge: S3 notifications and Lambda targets
    def s3_event(self, account_id: str, bucket: Any, event_name: str, key: Any) -> None:
        from moto.events.models import events_backends
        from moto.s3.notifications import _detail_type

        action = event_name.split(":")[-1]
        obj: dict[str, Any] = {
            "key": getattr(key, "name", ""),
            "size": int(getattr(key, "size", 0) or 0),
            "etag": str(getattr(key, "etag", "") or "").replace('"', ""),
            "sequencer": f"{int(self.clock.time() * 1000):012X}{next(self._sequencer):08X}",
        }
        version = getattr(key, "version_id", None)
        if version and version != "null":
            obj["version-id"] = version
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": _detail_type(event_name),
            "source": "aws.s3",
            "account": account_id,
            "time": self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": bucket.region_name,
            "resources": [bucket.arn],
            "detail": {
                "version": "0",
                "bucket": {"name": bucket.name},
                "object": obj,
                "request-id": uuid.uuid4().hex[:16].upper(),
                "requester": account_id,
                "source-ip-address": "127.0.0.1",
                "reason": _REASONS.get(action, action),
            },
        }
        bus = events_backends[account_id][bucket.region_name].event_buses.get("default")
        if bus is None:
            return
        for rule in list(bus.rules.values()):
            rule.send_to_targets(event, transform_input=False)  # type: ignore[arg-type]

    def lambda_target(self, rule: Any, target: dict[str, Any], event: dict[str, Any]) -> None:
        if "Input" in target:
            payload = target["Input"]
        elif "InputPath" in target:
            payload = json.dumps(_json_path(event, target["InputPath"]))
        elif "InputTransformer" in target:
            from moto.events.models import EventTemplateParser

            transformer = target["InputTransformer"]
            rendered = EventTemplateParser.parse(
                input_template=transformer.get("InputTemplate"),
                input_paths_map=transformer.get("InputPathsMap", {}),
                event=event,  # type: ignore[arg-type]
            )
            payload = rendered if isinstance(rendered, str) else json.dumps(rendered)
        else:
            payload = json.dumps(event)
        name = _function_name(target["Arn"])
        self.deliveries["events"] += 1
        self.host.submit_event(name, payload)

    # -- 4. EventBridge Scheduler
    def _enabled_schedules(self) -> list[tuple[str, Any, scheduleexpr.Expression, _ScheduleState]]:
        out = []
        now = self.clock.time()
        for group in list(self._scheduler().schedule_groups.values()):
            for sched in list(group.schedules.values()):
                if sched.state != "ENABLED":
                    continue
                try:
                    expr = _parse(sched.schedule_expression, sched.schedule_expression_timezone)
                except Exception as exc:
                    log.warning("local cloud: schedule %s not emulated: %s", sched.arn, exc)
                    continue
                key = (sched.arn, sched.schedule_expression, sched.schedule_expression_timezone)
                state = self._schedules.get(key)
                if state is None:
                    start = _epoch(getattr(sched, "start_date", None))
                    anchor = start if start is not None else now
                    checked = now
                    if expr.kind == "at" and expr.at is not None and expr.at.timestamp() <= now:
                        checked = expr.at.timestamp() - 1  # created late: fire at once
                    state = self._schedules[key] = _ScheduleState(checked=checked, anchor=anchor)
                if state.next is None:
                    nxt = scheduleexpr.next_occurrence(expr, after=_utc(state.checked), anchor=_utc(state.anchor))
                    state.next = nxt.timestamp() if nxt is not None else float("inf")
                out.append((sched.arn, sched, expr, state))
        return out

    def _fire_schedules(self) -> int:
        fired = 0
        with MOTO_LOCK:
            scheduled = self._enabled_schedules()
        now = self.clock.now()
        for arn, sched, expr, state in scheduled:
            if state.next is not None and state.next > now.timestamp():
                continue  # nothing due (the common case: no croniter work per tick)
            times = scheduleexpr.occurrences(
                expr, after=_utc(state.checked), until=now, anchor=_utc(state.anchor)
            )
            state.checked = now.timestamp()
            state.next = None
            for when in times:
                if not _within(sched, when):
                    continue
                self._invoke_schedule_target(sched, when)
                fired += 1
            if times and expr.kind == "at" and getattr(sched, "action_after_completion", None) == "DELETE":
                with MOTO_LOCK:
                    try:
                        self._scheduler().delete_schedule(sched.group_name, sched.name)
                    except Exception:  # already deleted by someone else
                        pass
        return fired

    def fire_schedule(self, name: str, group: str = "default") -> datetime:
        """Fire a schedule's next occurrence now, as the service will at that time; returns it.

        The schedule then continues from that occurrence (it does not fire it again). Used to
        start a scheduled DAG without fast-forwarding the clock through everything between.
        """
        with MOTO_LOCK:
            scheduled = {(s.group_name, s.name): (s, e, st) for _, s, e, st in self._enabled_schedules()}
        if (group, name) not in scheduled:
            raise KeyError(f"No enabled schedule {name!r} in group {group!r}.")
        sched, expr, state = scheduled[(group, name)]
        if state.next is None or state.next == float("inf"):
            raise KeyError(f"Schedule {name!r} ({sched.schedule_expression}) has no next occurrence.")
        when = _utc(state.next)
        self._invoke_schedule_target(sched, when)
        state.checked, state.next = when.timestamp(), None
        if expr.kind == "at" and getattr(sched, "action_after_completion", None) == "DELETE":
            with MOTO_LOCK:
                self._scheduler().delete_schedule(sched.group_name, sched.name)
        return when

    def _invoke_schedule_target(self, sched: Any, when: datetime) -> None:
        self.fired.append((sched.arn, when))
        target = sched.target or {}
        text = target.get("Input")
        if text is None:
            text = "{}"
        text = (
            text.replace("<aws.scheduler.scheduled-time>", when.strftime("%Y-%m-%dT%H:%M:%SZ"))
            .replace("<aws.scheduler.execution-id>", str(uuid.uuid4()))
            .replace("<aws.scheduler.schedule-arn>", sched.arn)
            .replace("<aws.scheduler.attempt-number>", "1")
        )
        arn = target.get("Arn", "")
        if ":lambda:" in arn and ":function:" in arn:
            self.host.submit_event(_function_name(arn), text)
        elif ":sqs:" in arn:
            self._send_sqs(arn, text)
        else:
            log.warning("local cloud: schedule %s targets %s, which is not emulated", sched.arn, arn)


def _function_name(arn_or_name: str) -> str:
    """``arn:...:function:NAME[:qualifier]`` or ``NAME`` -> ``NAME``."""
    if ":function:" in arn_or_name:
        return arn_or_name.split(":function:", 1)[1].split(":")[0]
    return arn_or_name


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def _epoch(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _within(sched: Any, when: datetime) -> bool:
    start = _epoch(getattr(sched, "start_date", None))
    end = _epoch(getattr(sched, "end_date", None))
    t = when.timestamp()
    return (start is None or t >= start) and (end is None or t <= end)


def _json_path(event: dict[str, Any], path: str) -> Any:
    value: Any = event
    for part in path.lstrip("$").strip(".").split("."):
        if part:
            value = value.get(part) if isinstance(value, dict) else None
    return value


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

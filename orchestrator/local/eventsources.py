"""EventBridge (S3 notifications, rules with Lambda targets) and EventBridge Scheduler.

Parts 3 and 4 of ``local.emulation`` (its docstring is the index of every gap the local
cloud fills); mixed into ``Emulation``.
"""

from __future__ import annotations

import functools
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from orchestrator.local import scheduleexpr
from orchestrator.local.functions import MOTO_LOCK

log = logging.getLogger(__name__)

_REASONS = {
    "Put": "PutObject",
    "Post": "POST Object",
    "Copy": "CopyObject",
    "CompleteMultipartUpload": "CompleteMultipartUpload",
    "Delete": "DeleteObject",
    "DeleteMarkerCreated": "DeleteObject",
}


@dataclass
class _ScheduleState:
    checked: float  # epoch up to which occurrences were fired
    anchor: float
    next: float | None = None  # cached next fire (epoch), recomputed after each firing


@functools.lru_cache(maxsize=1024)
def _parse(expression: str, timezone_name: str | None) -> scheduleexpr.Expression:
    return scheduleexpr.parse(expression, timezone_name)


class EventsMixin:
    """S3 -> EventBridge -> Lambda, and the Scheduler firing on the local clock."""

    # provided by Emulation
    host: Any
    clock: Any
    deliveries: dict[str, int]
    fired: list[tuple[str, datetime]]
    _schedules: dict[tuple[str, str, str | None], _ScheduleState]
    _sequencer: Any

    def _scheduler(self) -> Any:
        raise NotImplementedError

    def _send_sqs(self, queue_arn: str, body: str, attributes: dict[str, Any] | None = None) -> None:
        raise NotImplementedError

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
        if not self._target_allowed(sched, arn, target.get("RoleArn")):
            return
        if ":lambda:" in arn and ":function:" in arn:
            self.host.submit_event(_function_name(arn), text)
        elif ":sqs:" in arn:
            self._send_sqs(arn, text)
        else:
            log.warning("local cloud: schedule %s targets %s, which is not emulated", sched.arn, arn)


    def _target_allowed(self, sched: Any, target_arn: str, role_arn: str | None) -> bool:
        """Whether the schedule's role may reach its target, as the service checks when it assumes
        the role to invoke it. A denied invocation is recorded and dropped (on AWS it fails, is
        retried by the schedule's retry policy, then dropped or sent to its dead-letter queue)."""
        check = getattr(self.host, "iam", None)
        if check is None or not role_arn:
            return True
        from orchestrator.local import iam

        action = "lambda:InvokeFunction" if ":lambda:" in target_arn else "sqs:SendMessage"
        denial = check.authorize_role(role_arn, "Scheduler.InvokeTarget", iam.Access(action, target_arn),
                                      caller=f"schedule {sched.group_name}/{sched.name}", documents=self._role_documents)
        if denial is None:
            return True
        log.warning("local cloud: %s fired but its role may not reach its target (%s); not invoked", sched.arn, denial)
        return False

    def _role_documents(self, role_arn: str) -> list[dict[str, Any]]:
        """The role's identity policies as moto's IAM holds them (inline and attached managed)."""
        from moto.iam.models import iam_backends

        account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else ""
        with MOTO_LOCK:
            backends = iam_backends[account].values() if account in iam_backends else []
            role = next((r for backend in backends for r in backend.roles.values() if r.arn == role_arn), None)
            if role is None:
                return []  # an unknown role: the service cannot assume it, nothing is allowed
            texts = [*role.policies.values(),
                     *(v.document for p in role.managed_policies.values() for v in p.versions if v.is_default)]
        return [json.loads(t) if isinstance(t, str) else t for t in texts]


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

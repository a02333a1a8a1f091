"""Sensors the serverless way: each poke is one worker invocation; between pokes nothing runs.

A poke that finds its condition not met raises ``AirflowRescheduleException`` (every Stratus
sensor runs in Airflow's ``mode="reschedule"``, whatever ``mode`` says)::

    worker  claim (try n) -> poke() "not yet" -> reschedule(): running -> up_for_reschedule
            (same try, pokes += 1) + a timer (SQS DelaySeconds, or a one-time schedule past 900 s)
    ...     nothing runs, nothing is billed but the timer
    conductor  PokeMessage -> up_for_reschedule -> queued (same try) -> async invoke the worker

The timer is the one retries use (``LambdaDispatcher.schedule_poke``); the sweeper re-sends a
poke whose timer was lost (``next_try_at`` older than its grace period).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from orchestrator.authoring import timezone as task_time
from orchestrator.authoring.exceptions import AirflowRescheduleException
from orchestrator.engine.engine import Engine, iso
from orchestrator.engine.messages import TaskMessage
from orchestrator.engine.runtime import parse_dt
from orchestrator.errors import ConflictError, StratusError
from orchestrator.telemetry import logger

RESCHEDULE = AirflowRescheduleException


def first_poke(ti: dict[str, Any]) -> datetime | None:
    """When the current try's first poke started, if the try was rescheduled before."""
    if ti.get("first_poke_at") and int(ti.get("first_poke_try") or 0) == int(ti.get("try_number") or 0):
        return parse_dt(ti["first_poke_at"])
    return None


def reschedule(engine: Engine, msg: TaskMessage, ti: dict[str, Any], fields: dict[str, Any],
               task: Any) -> dict[str, Any]:
    """End this poke: the try goes up_for_reschedule and a timer brings the next poke."""
    exc: AirflowRescheduleException = fields.pop("reschedule")
    when = exc.reschedule_date
    if not isinstance(when, datetime):
        raise StratusError(f"{msg.describe()}: AirflowRescheduleException needs a datetime, got {when!r}.")
    if when.tzinfo is None:
        when = when.replace(tzinfo=task_time.utc)
    # The sensor computed the date on the task clock (timezone.utcnow(): the local cloud's clock locally).
    delay = max(0.0, (when - task_time.utcnow()).total_seconds())
    started = exc.first_poke_at or first_poke(ti) or parse_dt(ti.get("start_date")) or engine.now()
    try:
        item = engine.store.reschedule_ti(msg.dag_id, msg.run_id, msg.task_id, msg.map_index, msg.try_number,
                                          next_try_at=iso(engine.now() + timedelta(seconds=delay)),
                                          first_poke_at=iso(started), fields=fields, owner=msg.owner)
    except ConflictError:
        return {"status": "duplicate"}  # the try was ended by someone else (a late OnFailure record, a mark)
    pokes = int(item.get("pokes") or 1)
    schedule = getattr(engine.dispatcher, "schedule_poke", None)
    if schedule is None:
        raise StratusError(f"{msg.describe()}: this dispatcher cannot schedule a sensor's next poke "
                           "(it has no schedule_poke).")
    schedule(msg, delay, pokes)
    logger.info(f"{msg.describe()} poke {pokes}: not yet; next poke in {delay:g}s")
    return {"status": "up_for_reschedule", "pokes": pokes, "delay_s": delay}

"""How the engine starts work: async-invoke the worker, or park a retry in SQS / the scheduler."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from orchestrator import constants as c
from orchestrator.config import Clients, Resources
from orchestrator.engine.messages import ExpandMessage, PokeMessage, RetryMessage, TaskMessage
from orchestrator.errors import StratusError
from orchestrator.plan.isolation import isolation_group, worker_function_name
from orchestrator.plan.model import StepPlan


class Dispatcher(Protocol):
    def invoke_worker(self, msg: TaskMessage, function_name: str | None = None) -> None: ...

    def schedule_retry(self, msg: TaskMessage, delay_s: float) -> None: ...

    # Optional (sensors): the next poke of a rescheduled sensor, the same timers as retries.
    # def schedule_poke(self, msg: TaskMessage, delay_s: float, pokes: int) -> None: ...

    # Optional (orchestrator.engine.expansion): without it a big map is expanded in one invocation.
    # def continue_expansion(self, msg: ExpandMessage) -> None: ...


# The engine names a DAG's worker "WorkerFunction:<isolation group>"; the dispatcher maps it to the
# shared worker, or (Isolation=dag) to that group's own function ``{stack}-worker-{group}``.
WORKER_OF = c.WORKER + ":"


def worker_target(plan: StepPlan) -> str:
    """The dispatch target of a task that runs on the worker (not on a function of its own)."""
    return WORKER_OF + isolation_group(plan.dag_id, plan.tags)


class DispatchError(StratusError):
    """A task message could not be handed to Lambda, SQS or the scheduler."""


class LambdaDispatcher:
    """The AWS implementation.

    ``invoke_worker``: ``lambda:Invoke`` with ``InvocationType=Event`` (payload = the
    TaskMessage JSON, with its run snapshot) on the worker function (with per-DAG isolation,
    the DAG's own ``{stack}-worker-{group}``), or on the step's own function when the plan names one. ``schedule_retry``: an SQS message to the conductor's queue with
    ``DelaySeconds`` (<= 900 s); longer delays become a one-time EventBridge Scheduler
    ``at()`` schedule that targets the conductor and deletes itself after firing.
    """

    def __init__(self, clients: Clients, resources: Resources) -> None:
        self.clients = clients
        self.resources = resources

    def _function(self, name: str | None, dag_id: str | None = None) -> str:
        if not name or name == c.WORKER or name.startswith(WORKER_OF):
            if not self.resources.worker_function:
                raise DispatchError(f"No worker function configured ({c.ENV_WORKER_FUNCTION} is empty).")
            if self.resources.isolation != "dag":
                return self.resources.worker_function
            group = name[len(WORKER_OF):] if name and name.startswith(WORKER_OF) else dag_id
            if not group:
                raise DispatchError("Per-DAG isolation: a task message without a DAG has no worker function.")
            return worker_function_name(self.resources.worker_function, group)
        return name

    def worker_function_of(self, plan: StepPlan | None, task_id: str | None = None) -> str | None:
        """The function that runs ``task_id`` of ``plan`` when DAGs are isolated, else None (also
        for ``plan`` None: "are they isolated?"). The conductor checks OnFailure records with it."""
        if self.resources.isolation != "dag":
            return None
        if plan is None:
            return self.resources.worker_function or None
        target = plan.step(task_id).target.function if task_id else c.WORKER
        return self._function(worker_target(plan) if target == c.WORKER else target, plan.dag_id)

    def invoke_worker(self, msg: TaskMessage, function_name: str | None = None) -> None:
        payload = msg.model_dump_json().encode()
        self.clients.client("lambda").invoke(
            FunctionName=self._function(function_name, msg.dag_id), InvocationType="Event", Payload=payload
        )

    def schedule_retry(self, msg: TaskMessage, delay_s: float) -> None:
        # Without the run snapshot: a schedule's input is small, and the next try is invoked
        # by the conductor, which sends no snapshot (that worker reads the run item).
        self._timer(RetryMessage(task=msg.bare()).model_dump_json(), delay_s, msg, name="retry")

    def schedule_poke(self, msg: TaskMessage, delay_s: float, pokes: int) -> None:
        """A sensor's next poke (try ``msg.try_number``, after ``pokes`` pokes): the retry timers.

        Up to 900 s an SQS message with ``DelaySeconds`` (sub-second intervals round to 0, as
        SQS counts whole seconds), past that a one-time schedule named for the poke count.
        """
        self._timer(PokeMessage(task=msg.bare(), pokes=pokes).model_dump_json(), delay_s, msg, name=f"poke{pokes}")

    def _timer(self, body: str, delay_s: float, msg: TaskMessage, *, name: str) -> None:
        delay = max(0, int(round(delay_s)))
        if delay <= c.SQS_MAX_DELAY_S:
            if not self.resources.retry_queue_url:
                raise DispatchError(f"No retry queue configured ({c.ENV_RETRY_QUEUE_URL} is empty).")
            self.clients.client("sqs").send_message(
                QueueUrl=self.resources.retry_queue_url, MessageBody=body, DelaySeconds=delay
            )
            return
        self._schedule_at(body, datetime.now(timezone.utc) + timedelta(seconds=delay), msg, name)

    def continue_expansion(self, msg: ExpandMessage) -> None:
        """Hand the rest of a mapped task's expansion to the conductor (SQS, no delay)."""
        if not self.resources.retry_queue_url:
            raise DispatchError(f"No conductor queue configured ({c.ENV_RETRY_QUEUE_URL} is empty).")
        self.clients.client("sqs").send_message(QueueUrl=self.resources.retry_queue_url,
                                                MessageBody=msg.model_dump_json())

    def _schedule_at(self, body: str, when: datetime, msg: TaskMessage, kind: str = "retry") -> None:
        # A stack deployed before retry timers had their own group and role keeps them with the DAG schedules.
        role = self.resources.timer_role_arn or self.resources.scheduler_role_arn
        group = self.resources.timer_group or self.resources.scheduler_group
        if not (self.resources.conductor_function and role):
            raise DispatchError(
                "Retry delays above 900 s need the conductor function and the timer role "
                f"({c.ENV_CONDUCTOR_FUNCTION}, {c.ENV_TIMER_ROLE_ARN})."
            )
        fn = self.resources.conductor_function
        arn = fn if fn.startswith("arn:") else self._function_arn(fn)
        raw = f"{kind}-{msg.dag_id}-{msg.task_id}-{msg.map_index}-{msg.try_number}-{msg.run_id}"
        name = re.sub(r"[^0-9A-Za-z_.-]", "-", raw)[:64]
        kwargs: dict[str, Any] = dict(
            Name=name,
            ScheduleExpression=f"at({when.strftime('%Y-%m-%dT%H:%M:%S')})",
            ScheduleExpressionTimezone="UTC",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={"Arn": arn, "RoleArn": role, "Input": body},
            ActionAfterCompletion="DELETE",
        )
        if group:
            kwargs["GroupName"] = group
        self.clients.client("scheduler").create_schedule(**kwargs)

    def _function_arn(self, name: str) -> str:
        return self.clients.client("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"]


def message_json(msg: TaskMessage) -> dict[str, Any]:
    return json.loads(msg.model_dump_json())

"""Control-flow signals a task raises, and the few errors specific to running a task.

The signals follow Airflow 3 (``airflow.sdk.exceptions``): raise ``AirflowSkipException``
to mark the try skipped, ``AirflowFailException`` to fail without using the remaining
retries. They are deliberately *not* ``StratusError`` subclasses: they are outcomes a task
chooses, not mistakes (like Huey, control flow is kept apart from errors).
"""

from __future__ import annotations

from typing import Any

from orchestrator.errors import StratusError


class AirflowException(Exception):
    """Base of the task control-flow signals (named as in Airflow so user code ports as is)."""


class AirflowSkipException(AirflowException):
    """Raise inside a task to mark this try ``skipped`` (downstream trigger rules then apply)."""


class AirflowFailException(AirflowException):
    """Raise inside a task to mark it ``failed`` at once, ignoring remaining retries."""


class AirflowSensorTimeout(AirflowException):
    """A sensor's ``timeout`` passed before its condition was met: the task fails, without retries."""


class AirflowRescheduleException(AirflowException):
    """Raised by a sensor's poke that found its condition not met: the try waits until ``reschedule_date``.

    Stratus ends the invocation (the try goes ``up_for_reschedule``) and a timer starts the next
    poke; ``first_poke_at`` (set by ``BaseSensorOperator``) is when this try's first poke began.
    """

    def __init__(self, reschedule_date: Any, *, first_poke_at: Any = None) -> None:
        super().__init__(f"Rescheduled to {reschedule_date}")
        self.reschedule_date = reschedule_date
        self.first_poke_at = first_poke_at


# Short aliases for code that does not need the Airflow spelling.
SkipException = AirflowSkipException
FailException = AirflowFailException


class TemplateRenderError(StratusError):
    """A templated field could not be rendered (undefined variable, syntax error, sandbox)."""


class NoTaskContextError(StratusError, RuntimeError):
    """``get_current_context()`` was called outside a running task."""

"""The Stratus error family: one root, one subclass per domain.

Messages quote identifiers and say what to do, e.g.
``Task 'load' in DAG 'daily_sales' (dags/daily_sales.py:14) depends on 'extrac', which does
not exist. Did you mean 'extract'?``
"""

from __future__ import annotations


class StratusError(Exception):
    """Root of every error Stratus raises on purpose."""


class DagDefinitionError(StratusError):
    """A DAG or task is defined wrongly (raised while the DAG file runs)."""


class DagImportError(StratusError):
    """A DAG file could not be imported; carries the file and line."""

    def __init__(self, message: str, *, file: str, line: int | None = None) -> None:
        super().__init__(message)
        self.file = file
        self.line = line


class PlanValidationError(StratusError):
    """A DAG compiles to an invalid plan. ``problems`` holds every message found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class ParamValidationError(StratusError):
    """A run's conf or a Param default does not match the DAG's params."""


class ScheduleError(StratusError):
    """A schedule, time zone or timetable is invalid."""


class StoreError(StratusError):
    """The run store failed or was asked for something that does not exist."""


class NotFoundError(StoreError):
    """A DAG, run or task instance is not in the store."""


class ConflictError(StoreError):
    """A conditional write lost a race: the item is not in the expected state.

    Callers on the hot path treat this as "someone else already did it" (a no-op),
    not as a failure.
    """


class ThrottledError(StoreError):
    """DynamoDB kept refusing a write for throttling or conflicting transactions (nothing was
    written). Not a lost race: the caller fails and its invocation is retried."""


class TaskExecutionError(StratusError):
    """A task's own code failed; carries the formatted traceback."""


class TargetError(StratusError):
    """No cloud to talk to: neither a deployed stack nor `stratus dev` is reachable."""


class EventError(StratusError):
    """An incoming event (S3, schedule, API, SQS, OnFailure) is malformed or hostile."""

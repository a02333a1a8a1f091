"""Sensors (Airflow 3's ``BaseSensorOperator`` family), run the serverless way.

A sensor's ``execute`` is **one poke**. When ``poke(context)`` is falsy the sensor raises
``AirflowRescheduleException``: the worker invocation ends, the try goes ``up_for_reschedule``
and a timer (the one retries use) invokes the next poke at ``poke_interval``
(``engine.sensors``). That is Airflow's ``mode="reschedule"``; ``mode="poke"`` and
``deferrable=True`` are accepted and run the same way (a Lambda never sleeps between pokes).

The arguments are Airflow's: ``poke_interval`` (default 60 s), ``timeout`` (default 7 days,
counted from the first poke of the try, as in reschedule mode), ``soft_fail`` (a timeout or an
``AirflowFailException`` skips instead of failing), ``exponential_backoff`` and ``max_wait``,
``silent_fail``, ``never_fail``. A timed-out sensor fails without using its retries.

Example::

    class KeySensor(BaseSensorOperator):
        def poke(self, context):
            return key_exists("s3://lake/today/_SUCCESS")
"""

from __future__ import annotations

import glob
import hashlib
import os
import subprocess
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, time, timedelta
from typing import Any, ClassVar

from orchestrator.authoring import timezone
from orchestrator.authoring.baseoperator import BaseOperator
from orchestrator.authoring.exceptions import (AirflowException, AirflowFailException, AirflowRescheduleException,
                                               AirflowSensorTimeout, AirflowSkipException)
from orchestrator.authoring.operators import EmptyOperator, PythonOperator
from orchestrator.errors import DagDefinitionError

DEFAULT_TIMEOUT_S = 7 * 24 * 3600.0  # Airflow's [sensors] default_timeout
_SOFT_FAIL = (AirflowSensorTimeout, AirflowFailException)


class PokeReturnValue:
    """What ``poke`` may return: ``is_done`` and, when done, the sensor's output (its XCom)."""

    def __init__(self, is_done: bool, xcom_value: Any | None = None) -> None:
        self.is_done = is_done
        self.xcom_value = xcom_value

    def __bool__(self) -> bool:
        return bool(self.is_done)

    def __repr__(self) -> str:
        return f"PokeReturnValue(is_done={self.is_done!r}, xcom_value={self.xcom_value!r})"


def _seconds(value: Any, name: str, task_id: Any) -> float:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise DagDefinitionError(f"Sensor '{task_id}': {name} must be a timedelta or a non-negative number of "
                                 f"seconds, got {value!r}.")
    return float(value)


class BaseSensorOperator(BaseOperator):
    """Base of every sensor: implement ``poke(context) -> bool | PokeReturnValue``."""

    valid_modes: ClassVar[Sequence[str]] = ("poke", "reschedule")
    _is_sensor: ClassVar[bool] = True

    def __init__(self, *, poke_interval: timedelta | float = 60, timeout: timedelta | float | None = None,
                 soft_fail: bool = False, mode: str = "poke", exponential_backoff: bool = False,
                 max_wait: timedelta | float | None = None, silent_fail: bool = False, never_fail: bool = False,
                 deferrable: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        tid = self.task_id
        self.poke_interval = _seconds(poke_interval, "poke_interval", tid)
        self.timeout = _seconds(DEFAULT_TIMEOUT_S if timeout is None else timeout, "timeout", tid)
        self.max_wait = None if max_wait is None else timedelta(seconds=_seconds(max_wait, "max_wait", tid))
        if mode not in self.valid_modes:
            raise DagDefinitionError(f"Sensor '{tid}': mode must be one of {', '.join(self.valid_modes)}; got "
                                     f"{mode!r}. (Stratus runs every sensor as mode='reschedule'.)")
        if soft_fail and never_fail:
            raise DagDefinitionError(f"Sensor '{tid}': soft_fail and never_fail are mutually exclusive; give one.")
        self.mode = mode
        self.soft_fail = bool(soft_fail)
        self.exponential_backoff = bool(exponential_backoff)
        self.silent_fail = bool(silent_fail)
        self.never_fail = bool(never_fail)
        self.deferrable = bool(deferrable)

    @property
    def reschedule(self) -> bool:
        """Always True on Stratus: every poke is its own invocation."""
        return True

    def poke(self, context: dict[str, Any]) -> bool | PokeReturnValue:
        """Override: True (or ``PokeReturnValue(True, value)``) when the condition is met."""
        raise AirflowException(f"Sensor '{self.task_id}': {type(self).__name__} must implement poke(context).")

    def execute(self, context: dict[str, Any]) -> Any:
        ti = context.get("ti")
        first = getattr(ti, "get_first_reschedule_date", lambda _context: None)(context)
        started = first or timezone.utcnow()

        def elapsed() -> float:
            return (timezone.utcnow() - started).total_seconds()

        try:
            result = self.poke(context)
        except _SOFT_FAIL as exc:
            if self.soft_fail or self.never_fail:
                raise AirflowSkipException(f"Skipping due to {'soft' if self.soft_fail else 'never'}_fail "
                                           "is set to True.") from exc
            raise
        except AirflowSkipException:
            raise
        except Exception as exc:
            if self.silent_fail:
                self.log.exception("Sensor poke failed (silent_fail: poking again later)")
                result = False
            elif self.never_fail:
                raise AirflowSkipException("Skipping due to never_fail is set to True.") from exc
            else:
                raise
        if result:
            self.log.info("Success criteria met. Exiting.")
            return result.xcom_value if isinstance(result, PokeReturnValue) else None
        if elapsed() > self.timeout:
            message = (f"Sensor has timed out; run duration of {elapsed():g} seconds exceeds the specified "
                       f"timeout of {self.timeout:g}.")
            if self.soft_fail:
                raise AirflowSkipException(message)
            raise AirflowSensorTimeout(message)
        wait = self.next_poke_in(started, elapsed(), context)
        raise AirflowRescheduleException(timezone.utcnow() + timedelta(seconds=wait), first_poke_at=started)

    def next_poke_in(self, started: datetime, elapsed: float, context: dict[str, Any]) -> float:
        """Seconds until the next poke: ``poke_interval``, or Airflow's exponential backoff.

        With ``exponential_backoff`` the poke count is estimated from the time elapsed since the
        first poke (as Airflow's reschedule mode does), each interval ``poke_interval * 2**(n-2)``
        with a deterministic jitter up to 2x; capped by the time left before ``timeout`` and by
        ``max_wait``.
        """
        if not self.exponential_backoff:
            return self.poke_interval

        def backoff(n: int) -> int:
            base = max(int(self.poke_interval * (2 ** (n - 2))), 1)
            digest = hashlib.sha1(f"{getattr(self.dag, 'dag_id', '')}#{self.task_id}#{started}#{n}".encode(), usedforsecurity=False)
            return base + int(digest.hexdigest(), 16) % base

        n, total = 0, 0.0
        while total <= elapsed:
            n += 1
            total += backoff(n)
        wait = float(min(self.timeout - int(elapsed), backoff(max(n, 1))))
        if self.max_wait is not None:
            wait = min(self.max_wait.total_seconds(), wait)
        return max(wait, 0.0)


def poke_mode_only(cls: type) -> type:
    """Airflow's class decorator for sensors that must not reschedule; every mode runs alike here."""
    return cls


class _TargetTimeSensor(BaseSensorOperator):
    """A sensor that waits for a moment: it wakes at that moment, not every ``poke_interval``."""

    def target(self, context: dict[str, Any]) -> datetime:
        raise NotImplementedError

    def poke(self, context: dict[str, Any]) -> bool:
        target = self.target(context)
        self.log.info("Checking if the time (%s) has come", target)
        return timezone.utcnow() > target

    def next_poke_in(self, started: datetime, elapsed: float, context: dict[str, Any]) -> float:
        # Better than a poke every poke_interval: the next poke is the one that succeeds (just
        # past the target: the test is "now > target"), or the one that times out.
        until = (self.target(context) - timezone.utcnow()).total_seconds() + 1
        return max(1.0, min(until, self.timeout - elapsed + 1))


def _dag_tz(op: BaseOperator) -> Any:
    start = getattr(getattr(op, "dag", None), "start_date", None)
    return getattr(start, "tzinfo", None) or timezone.utc


class TimeSensor(_TargetTimeSensor):
    """Waits until ``target_time`` (a ``datetime.time``, in the DAG's time zone) of the current day."""

    def __init__(self, *, target_time: time, start_from_trigger: bool = False, end_from_trigger: bool = False,
                 trigger_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(target_time, time):
            raise DagDefinitionError(f"TimeSensor '{self.task_id}': target_time must be a datetime.time, got "
                                     f"{target_time!r}.")
        self.target_time = target_time

    def target(self, context: dict[str, Any]) -> datetime:
        tz = _dag_tz(self)
        today = timezone.utcnow().astimezone(tz).date()
        moment = datetime.combine(today, self.target_time)
        return timezone.convert_to_utc(timezone.make_aware(moment, tz))  # type: ignore[return-value]


class TimeSensorAsync(TimeSensor):
    """Deprecated in Airflow for ``TimeSensor(deferrable=True)``; the same sensor here."""


class TimeDeltaSensor(_TargetTimeSensor):
    """Waits until ``delta`` after the run's ``data_interval_end`` (its logical date for manual runs)."""

    def __init__(self, *, delta: timedelta, end_from_trigger: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(delta, timedelta):
            raise DagDefinitionError(f"TimeDeltaSensor '{self.task_id}': delta must be a timedelta, got {delta!r}.")
        self.delta = delta

    def target(self, context: dict[str, Any]) -> datetime:
        base = context.get("data_interval_end") or context.get("logical_date")
        if not isinstance(base, datetime):
            raise AirflowException(f"TimeDeltaSensor '{self.task_id}': the run has no data_interval_end.")
        return base + self.delta


class TimeDeltaSensorAsync(TimeDeltaSensor):
    """Deprecated in Airflow for ``TimeDeltaSensor(deferrable=True)``; the same sensor here."""


class WaitSensor(_TargetTimeSensor):
    """Waits ``time_to_wait`` (a timedelta, or minutes) from the first poke."""

    def __init__(self, *, time_to_wait: timedelta | int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.time_to_wait = timedelta(minutes=time_to_wait) if isinstance(time_to_wait, int) else time_to_wait

    def target(self, context: dict[str, Any]) -> datetime:
        ti = context.get("ti")
        first = getattr(ti, "get_first_reschedule_date", lambda _context: None)(context)
        return (first or timezone.utcnow()) + self.time_to_wait


class DateTimeSensor(_TargetTimeSensor):
    """Waits until ``target_time`` (a datetime, or a templated string such as ``"{{ data_interval_end }}"``)."""

    template_fields: ClassVar[Sequence[str]] = ("target_time",)

    def __init__(self, *, target_time: str | datetime, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(target_time, (str, datetime)):
            raise DagDefinitionError(f"DateTimeSensor '{self.task_id}': target_time must be a datetime or a string, "
                                     f"got {type(target_time).__name__}.")
        self.target_time = target_time.isoformat() if isinstance(target_time, datetime) else target_time

    def target(self, context: dict[str, Any]) -> datetime:
        value = self.target_time
        moment = value if isinstance(value, datetime) else timezone.parse(str(value))
        return timezone.convert_to_utc(moment)  # type: ignore[return-value]


class DateTimeSensorAsync(DateTimeSensor):
    """Deprecated in Airflow for ``DateTimeSensor(deferrable=True)``; the same sensor here."""


class PythonSensor(BaseSensorOperator, PythonOperator):
    """Pokes ``python_callable(*op_args, **op_kwargs)``: truthy (or ``PokeReturnValue``) means done."""

    def poke(self, context: dict[str, Any]) -> bool | PokeReturnValue:
        value = PythonOperator.execute(self, context)
        return value if isinstance(value, PokeReturnValue) else PokeReturnValue(bool(value))


class BashSensor(BaseSensorOperator):
    """Pokes a shell command: exit code 0 means done.

    Without ``retry_exit_code`` any other exit code means "not yet"; with it, that code means
    "not yet" and any other fails the task.
    """

    template_fields: ClassVar[Sequence[str]] = ("bash_command", "env")

    def __init__(self, *, bash_command: str, env: dict[str, str] | None = None, output_encoding: str = "utf-8",
                 retry_exit_code: int | None = None, cwd: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bash_command, self.env, self.cwd = bash_command, env, cwd
        self.output_encoding, self.retry_exit_code = output_encoding, retry_exit_code

    def poke(self, context: dict[str, Any]) -> bool:
        from orchestrator.authoring.bash import _shell

        proc = subprocess.run([*_shell(), self.bash_command], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL, check=False)
        for line in proc.stdout.decode(self.output_encoding, errors="replace").splitlines():
            print(line, flush=True)
        code = proc.returncode
        self.log.info("Command exited with return code %s", code)
        if self.retry_exit_code is not None:
            if code == self.retry_exit_code:
                return False
            if code != 0:
                raise AirflowFailException(f"Sensor '{self.task_id}': command exited with return code {code}.")
        return code == 0


class FileSensor(BaseSensorOperator):
    """Waits for a file or folder (``glob`` patterns allowed) on the worker's own filesystem.

    On Lambda that is the invocation's container: files packaged with the function, a mounted
    EFS path, or ``/tmp`` of that container (not shared with other invocations). To wait for
    an object in S3, schedule the DAG on an ``Asset`` or poke S3 from a ``PythonSensor``.
    ``fs_conn_id`` is accepted; its ``path`` extra (if the connection exists) prefixes ``filepath``.
    """

    template_fields: ClassVar[Sequence[str]] = ("filepath",)

    def __init__(self, *, filepath: str | os.PathLike[str], fs_conn_id: str = "fs_default", recursive: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filepath = os.fspath(filepath)
        self.fs_conn_id = fs_conn_id
        self.recursive = recursive

    def _base(self) -> str:
        if self.fs_conn_id == "fs_default":
            return ""
        from orchestrator.authoring.macros import ConnAccessor

        conn = ConnAccessor().get(self.fs_conn_id)
        return str((getattr(conn, "extra_dejson", None) or {}).get("path", ""))

    def poke(self, context: dict[str, Any]) -> bool:
        full = os.path.join(self._base(), self.filepath)
        self.log.info("Poking for file %s", full)
        for path in glob.glob(full, recursive=self.recursive):
            if os.path.isfile(path):
                return True
            for _, _, files in os.walk(path):
                if files:
                    return True
        return False


def _states(value: Iterable[str] | None, default: list[str]) -> list[str]:
    return [str(s) for s in value] if value else list(default)


class ExternalTaskSensor(BaseSensorOperator):
    """Waits for a task (or tasks, a task group, or the whole run) of another DAG's run at the same
    logical date (or ``logical_date - execution_delta``, or the dates ``execution_date_fn`` returns).

    States are read from the run store. ``failed_states`` fail the sensor (or skip it with
    ``soft_fail``), ``skipped_states`` skip it, ``allowed_states`` (default ``["success"]``) end it.
    """

    template_fields: ClassVar[Sequence[str]] = ("external_dag_id", "external_task_id", "external_task_ids",
                                                "external_task_group_id")

    def __init__(self, *, external_dag_id: str, external_task_id: str | None = None,
                 external_task_ids: Sequence[str] | None = None, external_task_group_id: str | None = None,
                 allowed_states: Iterable[str] | None = None, skipped_states: Iterable[str] | None = None,
                 failed_states: Iterable[str] | None = None, execution_delta: timedelta | None = None,
                 execution_date_fn: Callable[..., Any] | None = None, check_existence: bool = False,
                 poll_interval: float = 2.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        where = f"ExternalTaskSensor '{self.task_id}'"
        if external_task_id is not None and external_task_ids:
            raise DagDefinitionError(f"{where}: give external_task_id or external_task_ids, not both.")
        if external_task_group_id is not None and (external_task_id is not None or external_task_ids):
            raise DagDefinitionError(f"{where}: give external_task_group_id or task ids, not both.")
        if execution_delta is not None and execution_date_fn is not None:
            raise DagDefinitionError(f"{where}: give execution_delta or execution_date_fn, not both.")
        self.allowed_states = _states(allowed_states, ["success"])
        self.skipped_states = _states(skipped_states, [])
        self.failed_states = _states(failed_states, [])
        every = self.allowed_states + self.skipped_states + self.failed_states
        if len(set(every)) != len(every):
            raise DagDefinitionError(f"{where}: a state appears in more than one of allowed_states, skipped_states "
                                     "and failed_states.")
        self.external_dag_id = external_dag_id
        self.external_task_id = external_task_id
        self.external_task_ids = list(external_task_ids) if external_task_ids else (
            [external_task_id] if external_task_id is not None else None)
        self.external_task_group_id = external_task_group_id
        self.execution_delta = execution_delta
        self.execution_date_fn = execution_date_fn
        self.check_existence = check_existence
        self.poll_interval = poll_interval

    def _dates(self, context: dict[str, Any]) -> list[datetime]:
        logical = context["logical_date"]
        if self.execution_delta is not None:
            return [logical - self.execution_delta]
        if self.execution_date_fn is not None:
            from orchestrator.authoring.operators import call_kwargs

            kwargs = call_kwargs(self.execution_date_fn, [logical], {}, context)
            result = self.execution_date_fn(logical, **kwargs)
            return list(result) if isinstance(result, (list, tuple)) else [result]
        return [logical]

    def _states_of(self, store: Any, dates: list[datetime]) -> list[str | None]:
        """One state per (date, task) (or per date for the run), None where nothing exists yet."""
        out: list[str | None] = []
        for moment in dates:
            runs = store.runs_at(self.external_dag_id, moment)
            run = runs[0] if runs else None
            if self.external_task_ids is None and self.external_task_group_id is None:
                out.append(run.get("state") if run else None)
                continue
            tis = store.list_tis(self.external_dag_id, run["run_id"]) if run else []
            if self.external_task_group_id is not None:
                prefix = f"{self.external_task_group_id}."
                out.append(_group_state(t.get("state") for t in tis if str(t["task_id"]).startswith(prefix)))
                continue
            by_id = {t["task_id"]: t.get("state") for t in tis if int(t.get("map_index", -1)) == -1}
            out.extend(by_id.get(tid) for tid in self.external_task_ids or [])
        return out

    def poke(self, context: dict[str, Any]) -> bool:
        ti = context["ti"]
        # With per-DAG isolation another DAG's runs are read through the trigger function.
        delegated = getattr(getattr(ti, "engine", None), "run_control", None)
        store = delegated.bind(ti).store if delegated is not None else ti.store
        if self.check_existence:
            from orchestrator.errors import NotFoundError

            try:
                store.get_dag(self.external_dag_id)
            except NotFoundError as exc:
                raise AirflowException(f"The external DAG {self.external_dag_id} does not exist.") from exc
        dates = self._dates(context)
        states = self._states_of(store, dates)
        what = (f"Some of the external tasks {self.external_task_ids} in DAG {self.external_dag_id}"
                if self.external_task_ids else
                f"The external task_group '{self.external_task_group_id}' in DAG '{self.external_dag_id}'"
                if self.external_task_group_id else f"The external DAG {self.external_dag_id}")
        self.log.info("Poking for %s on %s", what, ",".join(d.isoformat() for d in dates))
        if any(s in self.failed_states for s in states):
            if self.soft_fail:
                raise AirflowSkipException(f"{what} failed. Skipping due to soft_fail.")
            raise AirflowException(f"{what} failed.")
        if any(s in self.skipped_states for s in states):
            raise AirflowSkipException(f"{what} reached a state in our states-to-skip-on list. Skipping.")
        return bool(states) and all(s in self.allowed_states for s in states)


def _group_state(states: Iterable[Any]) -> str | None:
    """A task group as one state: its only state when all agree; failed if any failed; else None."""
    seen = {str(s) for s in states if s}
    if not seen:
        return None
    if seen & {"failed", "upstream_failed"}:
        return "failed"
    return seen.pop() if len(seen) == 1 else None


class ExternalTaskMarker(EmptyOperator):
    """Marks that a task of another DAG depends on this one (``external_dag_id``/``external_task_id``).

    Runs nothing (like Airflow's, an ``EmptyOperator``). Airflow also clears the external task
    when this marker is cleared with its downstream; Stratus clears within the run only.
    """

    template_fields: ClassVar[Sequence[str]] = ("external_dag_id", "external_task_id", "logical_date")

    def __init__(self, *, external_dag_id: str, external_task_id: str, logical_date: str | datetime | None = None,
                 recursion_depth: int = 10, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if recursion_depth <= 0:
            raise DagDefinitionError(f"ExternalTaskMarker '{self.task_id}': recursion_depth must be positive.")
        self.external_dag_id = external_dag_id
        self.external_task_id = external_task_id
        self.logical_date = logical_date or "{{ logical_date.isoformat() }}"
        self.recursion_depth = recursion_depth


def decorated_sensor_class(python_operator: type) -> type:
    """The operator behind ``@task.sensor``: the function is the poke (bool or ``PokeReturnValue``)."""

    class _DecoratedSensorOperator(BaseSensorOperator, python_operator):  # type: ignore[misc, valid-type]
        def poke(self, context: dict[str, Any]) -> bool | PokeReturnValue:
            return python_operator.execute(self, context)  # type: ignore[attr-defined, no-any-return]

    _DecoratedSensorOperator.__name__ = _DecoratedSensorOperator.__qualname__ = "_DecoratedSensorOperator"
    return _DecoratedSensorOperator


__all__ = ["BaseSensorOperator", "PokeReturnValue", "PythonSensor", "BashSensor", "FileSensor", "TimeSensor",
           "TimeSensorAsync", "TimeDeltaSensor", "TimeDeltaSensorAsync", "WaitSensor", "DateTimeSensor",
           "DateTimeSensorAsync", "ExternalTaskSensor", "ExternalTaskMarker", "poke_mode_only"]

"""Sensors' one-poke ``execute`` (pure: a fake ``ti`` and a fixed task clock), as Airflow's reschedule mode."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone as tz
from pathlib import Path
from typing import Any

import pytest

from orchestrator import DAG
from orchestrator.authoring import timezone
from orchestrator.authoring.exceptions import (AirflowFailException, AirflowRescheduleException, AirflowSensorTimeout,
                                               AirflowSkipException)
from orchestrator.authoring.sensors import (BaseSensorOperator, BashSensor, DateTimeSensor, FileSensor, PokeReturnValue,
                                            PythonSensor, TimeDeltaSensor, TimeSensor)
from orchestrator.errors import DagDefinitionError

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=tz.utc)


@pytest.fixture(autouse=True)
def clock():
    now = [NOW.timestamp()]
    timezone.set_clock(lambda: now[0])
    yield now
    timezone.set_clock(None)


class FakeTI:
    def __init__(self, first: datetime | None = None) -> None:
        self.first = first

    def get_first_reschedule_date(self, context: Any = None) -> datetime | None:
        return self.first


def ctx(first: datetime | None = None, **extra: Any) -> dict[str, Any]:
    return {"ti": FakeTI(first), "logical_date": NOW, "data_interval_end": NOW, **extra}


def sensor(cls: type = PythonSensor, **kwargs: Any) -> Any:
    with DAG("d", schedule=None, start_date=datetime(2026, 1, 1)):
        return cls(task_id="s", **kwargs)


def test_not_yet_reschedules_at_poke_interval_and_keeps_the_first_poke():
    s = sensor(python_callable=lambda: False, poke_interval=30)
    with pytest.raises(AirflowRescheduleException) as info:
        s.execute(ctx())
    assert info.value.reschedule_date == NOW + timedelta(seconds=30) and info.value.first_poke_at == NOW
    first = NOW - timedelta(minutes=5)
    with pytest.raises(AirflowRescheduleException) as info:
        s.execute(ctx(first))
    assert info.value.first_poke_at == first


def test_done_returns_the_poke_return_value():
    assert sensor(python_callable=lambda: PokeReturnValue(True, {"k": 1})).execute(ctx()) == {"k": 1}
    assert sensor(python_callable=lambda: 1).execute(ctx()) is None


def test_timeout_counts_from_the_first_poke_of_the_try():
    s = sensor(python_callable=lambda: False, poke_interval=10, timeout=60)
    with pytest.raises(AirflowSensorTimeout, match="Sensor has timed out; run duration of 61 seconds"):
        s.execute(ctx(NOW - timedelta(seconds=61)))
    soft = sensor(python_callable=lambda: False, poke_interval=10, timeout=60, soft_fail=True)
    with pytest.raises(AirflowSkipException):
        soft.execute(ctx(NOW - timedelta(seconds=61)))


def test_failures_in_poke_as_airflow_treats_them():
    def boom():
        raise ValueError("flaky")

    with pytest.raises(ValueError):
        sensor(python_callable=boom).execute(ctx())
    with pytest.raises(AirflowRescheduleException):
        sensor(python_callable=boom, silent_fail=True).execute(ctx())
    with pytest.raises(AirflowSkipException):
        sensor(python_callable=boom, never_fail=True).execute(ctx())

    def fail():
        raise AirflowFailException("no")

    with pytest.raises(AirflowSkipException, match="soft_fail"):
        sensor(python_callable=fail, soft_fail=True).execute(ctx())
    with pytest.raises(DagDefinitionError, match="mutually exclusive"):
        sensor(python_callable=fail, soft_fail=True, never_fail=True)
    with pytest.raises(DagDefinitionError, match="mode must be one of poke, reschedule"):
        sensor(python_callable=fail, mode="defer")


def test_exponential_backoff_grows_and_respects_max_wait_and_timeout():
    s = sensor(python_callable=lambda: False, poke_interval=10, exponential_backoff=True, timeout=10_000)
    waits = [s.next_poke_in(NOW, elapsed, {}) for elapsed in (0, 30, 200, 2000)]
    assert waits == sorted(waits) and waits[0] >= 5 and waits[-1] > 100
    assert s.next_poke_in(NOW, 9_990, {}) <= 10  # never past the timeout
    capped = sensor(python_callable=lambda: False, poke_interval=10, exponential_backoff=True, max_wait=60)
    assert capped.next_poke_in(NOW, 5000, {}) == 60


def test_time_sensors_wake_at_their_target():
    ds = sensor(DateTimeSensor, target_time=(NOW + timedelta(hours=2)).isoformat(), poke_interval=60)
    with pytest.raises(AirflowRescheduleException) as info:
        ds.execute(ctx())
    assert info.value.reschedule_date == NOW + timedelta(hours=2, seconds=1)  # one poke, not 120
    delta = sensor(TimeDeltaSensor, delta=timedelta(minutes=10))
    assert delta.target(ctx()) == NOW + timedelta(minutes=10)
    past = sensor(TimeSensor, target_time=time(11, 0))
    assert past.execute(ctx()) is None
    with pytest.raises(AirflowRescheduleException) as info:
        sensor(TimeSensor, target_time=time(13, 0), timeout=600).execute(ctx())
    assert info.value.reschedule_date == NOW + timedelta(seconds=601)  # the poke that times out


def test_bash_and_file_sensors(tmp_path: Path):
    assert sensor(BashSensor, bash_command="true").execute(ctx()) is None
    with pytest.raises(AirflowRescheduleException):
        sensor(BashSensor, bash_command="exit 3").execute(ctx())
    with pytest.raises(AirflowRescheduleException):
        sensor(BashSensor, bash_command="exit 3", retry_exit_code=3).execute(ctx())
    with pytest.raises(AirflowFailException, match="return code 4"):
        sensor(BashSensor, bash_command="exit 4", retry_exit_code=3).execute(ctx())
    fs = sensor(FileSensor, filepath=str(tmp_path / "*.csv"))
    with pytest.raises(AirflowRescheduleException):
        fs.execute(ctx())
    (tmp_path / "a.csv").write_text("x")
    assert fs.execute(ctx()) is None


def test_a_custom_sensor_without_poke_fails_clearly():
    class Nothing(BaseSensorOperator):
        pass

    with pytest.raises(Exception, match="Nothing must implement poke"):
        sensor(Nothing).execute(ctx())

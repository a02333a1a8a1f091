"""Sensors as an Airflow 3 user writes them (airflow.sdk / the standard provider's modules).

A file-backed counter makes the pokes observable: ``wait_for_ready`` (``PythonSensor``) finds its
condition on the fourth poke; ``wait_for_key`` (``@task.sensor``) returns a ``PokeReturnValue`` with a value on
its third poke; ``never_ready`` times out (fails), ``never_ready_soft`` times out with
``soft_fail`` (skipped). Under Airflow 3.3's ``dag.test()`` (every mode pokes in place) the
states are the same: see tests/e2e/test_sensors.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from airflow.providers.standard.sensors.python import PythonSensor
from airflow.providers.standard.sensors.time_delta import TimeDeltaSensor
from airflow.sdk import PokeReturnValue, dag, task

COUNTS = Path(__file__).parent / "pokes"


def _poke(name: str) -> int:
    COUNTS.mkdir(exist_ok=True)
    path = COUNTS / name
    n = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(n))
    return n


def ready_on_fourth_poke() -> bool:
    return _poke("ready") >= 4


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def sensor_waits():
    wait = PythonSensor(task_id="wait_for_ready", python_callable=ready_on_fourth_poke, poke_interval=30,
                        mode="reschedule", timeout=3600)

    @task
    def after_ready() -> str:
        return "ready"

    wait >> after_ready()


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def sensor_xcom():
    @task.sensor(poke_interval=10, timeout=600, mode="poke")
    def wait_for_key() -> PokeReturnValue:
        n = _poke("key")
        return PokeReturnValue(is_done=n >= 3, xcom_value={"key": f"s3://lake/part-{n}"})

    @task
    def use(found: dict) -> str:
        return found["key"]

    use(wait_for_key())


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def sensor_timeouts():
    never = PythonSensor(task_id="never_ready", python_callable=lambda: False, poke_interval=5, timeout=12,
                         retries=2)
    soft = PythonSensor(task_id="never_ready_soft", python_callable=lambda: False, poke_interval=5, timeout=12,
                        soft_fail=True)

    @task
    def after_never() -> None:
        pass

    @task
    def after_soft() -> None:
        pass

    never >> after_never()
    soft >> after_soft()


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, params={"pokes": 3})
def sensor_cost():
    def ready(params) -> bool:
        return _poke(f"cost{params['pokes']}") >= params["pokes"]

    PythonSensor(task_id="wait", python_callable=ready, poke_interval=60)


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def sensor_hour():
    # An hour after the run's data interval ends; deferrable=True as an Airflow 3 user writes it.
    TimeDeltaSensor(task_id="an_hour_later", delta=timedelta(hours=1), poke_interval=60, deferrable=True)


sensor_waits()
sensor_hour()
sensor_xcom()
sensor_cost()
sensor_timeouts()

"""Loaded at interpreter start by ``stratus-airflow.pth``: ``python my_dag.py`` with Airflow imports.

A DAG file written for Airflow 3 (``from airflow.sdk import dag, task`` and ``dag.test()`` at the
bottom) runs as a script where Stratus is installed and Apache Airflow is not. This module is
tiny on purpose (every Python start of the environment imports it): it appends one finder at
the END of ``sys.meta_path``. Python asks it only about modules no other finder found, and it
answers only ``airflow`` and its submodules, so a real Airflow, wherever installed, is always
found first and never shadowed. On the first ``airflow`` import it hands over to Stratus's
own ``orchestrator.authoring.airflow_compat`` (the names the DAG loader serves).
"""

from __future__ import annotations

import sys
from typing import Any


class StratusAirflowFinder:
    """Answers ``airflow`` imports no installed distribution answered (with Stratus's objects).

    A meta path finder needs only ``find_spec``; not deriving from ``importlib.abc.MetaPathFinder``
    spares every Python start of the environment importing ``importlib.abc`` (and with it
    ``importlib.resources``: some 20 ms).
    """

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "airflow" and not fullname.startswith("airflow."):
            return None
        from orchestrator.authoring import airflow_compat

        airflow_compat.install()
        return airflow_compat.AirflowAliasFinder().find_spec(fullname, path, target)


def install() -> None:
    """Append the finder once (idempotent)."""
    if not any(isinstance(f, StratusAirflowFinder) for f in sys.meta_path):
        sys.meta_path.append(StratusAirflowFinder())


install()

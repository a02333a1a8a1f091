"""Context names for templates and tasks: ``macros``, ``var`` and ``conn`` (Airflow's).

``{{ macros.ds_add(ds, 7) }}``, ``{{ macros.ds_format(ds, "%Y-%m-%d", "%d/%m/%Y") }}``,
``{{ macros.datetime(2026, 1, 1) }}``; ``{{ var.value.bucket }}``, ``{{ var.value.get("x", "d") }}``,
``{{ var.json.settings.key }}``; ``{{ conn.warehouse.host }}``. Variables and connections are
read only when a template (or task) touches them, through :class:`orchestrator.Variable` and
:class:`orchestrator.Connection` (SSM Parameter Store, Secrets Manager; values are masked in logs).
"""

from __future__ import annotations

import json
import random
import time
import uuid
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import dateutil


def ds_add(ds: str, days: int) -> str:
    """``ds`` (YYYY-MM-DD) plus ``days`` (negative goes back): ``ds_add("2026-01-05", -4)`` is 2026-01-01."""
    if not days:
        return str(ds)
    return (datetime.strptime(str(ds), "%Y-%m-%d") + timedelta(days=int(days))).strftime("%Y-%m-%d")


def ds_format(ds: str, input_format: str, output_format: str) -> str:
    """Re-format a date string: ``ds_format("2026-01-05", "%Y-%m-%d", "%m-%d-%y")`` is 01-05-26."""
    return datetime.strptime(str(ds), input_format).strftime(output_format)


# ``macros`` in the context: Airflow's functions and the modules it exposes there.
MACROS = SimpleNamespace(ds_add=ds_add, ds_format=ds_format, datetime=datetime, timedelta=timedelta,
                         dateutil=dateutil, time=time, uuid=uuid, random=random, json=json)


_MISSING = object()


class _Values:
    """``var.value`` / ``var.json``: attribute or ``.get(key, default)`` access to Variables."""

    def __init__(self, as_json: bool) -> None:
        self._json = as_json

    def get(self, key: str, default_var: Any = _MISSING) -> Any:
        from orchestrator.secrets import Variable

        if default_var is _MISSING:
            return Variable.get(key, deserialize_json=self._json)
        return Variable.get(key, default_var, deserialize_json=self._json)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        from orchestrator.secrets import Variable

        return Variable.get(key, deserialize_json=self._json)

    def __repr__(self) -> str:
        return f"<var.{'json' if self._json else 'value'}>"


class VarAccessor:
    """``var`` in the context: ``var.value.<key>`` (text) and ``var.json.<key>`` (parsed JSON)."""

    def __init__(self) -> None:
        self.value = _Values(False)
        self.json = _Values(True)


class ConnAccessor:
    """``conn`` in the context: ``conn.<conn_id>`` or ``conn.get(conn_id)`` is that Connection."""

    def get(self, conn_id: str) -> Any:
        from orchestrator.secrets import Connection

        return Connection.get(conn_id)

    def __getattr__(self, conn_id: str) -> Any:
        if conn_id.startswith("__"):
            raise AttributeError(conn_id)
        return self.get(conn_id)

    def __repr__(self) -> str:
        return "<conn>"

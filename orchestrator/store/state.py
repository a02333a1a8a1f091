"""Airflow 3.3's state stores and the asset-event history, kept in the run table.

- Task state (``context["task_state_store"]``): ``RUN#{dag_id}#{run_id}`` /
  ``TSTATE#{task_id}#{map_index:06d}#{key}``, ``value`` (JSON text). Scoped to one task instance
  of one run, it survives retries (the next try reads what the last one set), as in Airflow.
- Asset state (``context["asset_state_store"][asset]``): ``ASSET#{uri}`` / ``STATE#{key}``,
  ``value`` (JSON text). Owned by the asset, it persists across runs and DAGs.
- Asset events (``context["inlet_events"][asset]``): the ``ASSET#{uri}`` / ``EVT#{dedup_id}``
  items the triggers write for every event (they expire after 7 days, see
  ``triggers/assets.py``), oldest first.

Values are JSON (the XCom codec's rules: no pickle). Writes are plain puts: one try of one task
instance writes its own keys, so there is no race to fence.
"""

from __future__ import annotations

import json
from typing import Any

from orchestrator.store import dynamo as d
from orchestrator.store.base import StoreBase

_EVENT_LIMIT = 1000  # newest events an inlet_events lookup reads for one asset


def _tstate_prefix(task_id: str, map_index: int) -> str:
    return f"TSTATE#{task_id}#{map_index:06d}#"


class StateMixin(StoreBase):
    """Task state, asset state and the asset-event history (see the module docstring)."""

    # -- task state -------------------------------------------------------------------------

    def get_task_state(self, dag_id: str, run_id: str, task_id: str, map_index: int, key: str) -> Any:
        item = self._get(d.run_pk(dag_id, run_id), _tstate_prefix(task_id, map_index) + key)
        return None if item is None else json.loads(item["value"])

    def has_task_state(self, dag_id: str, run_id: str, task_id: str, map_index: int, key: str) -> bool:
        return self._get(d.run_pk(dag_id, run_id), _tstate_prefix(task_id, map_index) + key) is not None

    def set_task_state(self, dag_id: str, run_id: str, task_id: str, map_index: int, key: str, value: Any) -> None:
        self._put({"pk": d.run_pk(dag_id, run_id), "sk": _tstate_prefix(task_id, map_index) + key,
                   "value": json.dumps(value), "updated_at": d.now_iso()}, what=f"task state {key!r}")

    def delete_task_state(self, dag_id: str, run_id: str, task_id: str, map_index: int, key: str) -> None:
        self._delete(d.run_pk(dag_id, run_id), _tstate_prefix(task_id, map_index) + key, what="task state")

    def clear_task_state(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> None:
        pk = d.run_pk(dag_id, run_id)
        for item in list(self._query(pk, prefix=_tstate_prefix(task_id, map_index))):
            self._delete(pk, item["sk"], what="task state")

    # -- asset state ------------------------------------------------------------------------

    def get_asset_state(self, uri: str, key: str) -> tuple[bool, Any]:
        item = self._get(f"ASSET#{uri}", f"STATE#{key}")
        return (False, None) if item is None else (True, json.loads(item["value"]))

    def set_asset_state(self, uri: str, key: str, value: Any) -> None:
        self._put({"pk": f"ASSET#{uri}", "sk": f"STATE#{key}", "value": json.dumps(value),
                   "updated_at": d.now_iso()}, what=f"asset state {key!r}")

    def delete_asset_state(self, uri: str, key: str) -> None:
        self._delete(f"ASSET#{uri}", f"STATE#{key}", what="asset state")

    def clear_asset_state(self, uri: str) -> None:
        for item in list(self._query(f"ASSET#{uri}", prefix="STATE#")):
            self._delete(f"ASSET#{uri}", item["sk"], what="asset state")

    # -- asset events -----------------------------------------------------------------------

    def asset_events(self, uri: str, limit: int = _EVENT_LIMIT) -> list[dict[str, Any]]:
        """The events recorded for the asset ``uri`` (its own URI: outlets, or one S3 object), oldest first."""
        out = [json.loads(item["event"]) for item in self._query(f"ASSET#{uri}", prefix="EVT#")
               if isinstance(item.get("event"), str)]
        out.sort(key=lambda e: str(e.get("timestamp", "")))
        return out[-limit:]

"""Whole runs of the example DAGs on the embedded local cloud (template.yaml deployed in moto).

One cloud per test module (pytest tears a module's fixtures down before another module's
tests run in the same worker, so clouds never overlap in a process).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


ROOT = Path(__file__).resolve().parents[2]


def ti_map(store: Any, dag_id: str, run_id: str) -> dict[tuple[str, int], dict[str, Any]]:
    return {(t["task_id"], int(t["map_index"])): t for t in store.list_tis(dag_id, run_id)}

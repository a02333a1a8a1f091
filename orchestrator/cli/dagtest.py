"""``DAG.test()``: one run on an embedded local cloud, then its task table (the ``stratus.dag_test`` entry point)."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any


def run_dag_test(dag: Any, logical_date: datetime | None = None,
                 run_conf: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run ``dag`` from its file's folder as ``stratus run`` does; print the task table; return the run item."""
    from orchestrator.cli.run_commands import run_once
    from orchestrator.local.report import failure_summary, run_table

    run, tis, order = run_once(os.path.dirname(os.path.abspath(dag.fileloc)), dag.dag_id,
                               conf=run_conf, logical_date=logical_date)
    print(run_table(run, tis, order))
    summary = failure_summary(tis)
    if summary:
        print("\n" + summary)
    return run

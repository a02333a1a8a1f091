"""How long `stratus ui` takes to draw each page of a big DAG: 500 runs, a 1,000-way map in each run shown.

The pages are served over real HTTP by the UI server; the run store is held in memory (the
same item shapes the DynamoDB store returns), so the figures are the UI's own cost: reading
items into the read model and rendering. On AWS add the store's queries: the grid reads one
run page and one task-instance query per run shown (25), the other pages one run's instances.
Prints one line per page: size and milliseconds (median of 3). Usage: python bench/ui_pages.py
"""

from __future__ import annotations

import statistics
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "unit" / "observe"))

RUNS, WIDTH = 500, 1000


def main() -> None:
    from observe_builders import FakeStore, make_plan, make_run, make_ti

    from orchestrator.config import Clients, Resources
    from orchestrator.observe.service import RunsView
    from orchestrator.observe.ui import UIServer

    class Store(FakeStore):
        def get_dag(self, dag_id: str) -> dict[str, Any]:
            return {"dag_id": dag_id, "paused": False}

        def list_runs(self, dag_id: str, limit: int = 25) -> list[dict[str, Any]]:
            return sorted((r for r in self.run_items if r["dag_id"] == dag_id), key=lambda r: r["logical_date"],
                          reverse=True)[:limit]

        def ti_value(self, item: dict[str, Any], key: str) -> Any:
            return None

    plan = make_plan(start_date="2025-01-01T00:00:00+00:00")
    runs, tis = [], {}
    for i in range(RUNS):
        day = f"2025-{1 + i // 28 % 12:02d}-{1 + i % 28:02d}T06:00:00+00:00".replace("2025-", f"{2025 + i // 336}-")
        run_id = f"scheduled__{i:04d}"
        runs.append(make_run(run_id, logical_date=day, queued_at=day, start_date=day,
                             end_date=day.replace("06:00:00", "06:05:00"), **{"map_count#clean": WIDTH}))
        tis[run_id] = [make_ti("extract", run_id, start_date=day, end_date=day)] + [
            make_ti("clean", run_id, map_index=m, start_date=day, end_date=day.replace("06:00:00", "06:00:03"))
            for m in range(WIDTH)]
    view = RunsView(Clients(region_name="us-east-1"), Resources(table="t", artefact_bucket="b", worker_function="w"),
                    store=Store([plan], runs, tis))
    view.log_lines = lambda *a, **k: []  # type: ignore[method-assign]  # no CloudWatch Logs in memory
    newest = urllib.parse.quote(max(runs, key=lambda r: r["logical_date"])["run_id"])
    print(f"{RUNS} runs of DAG 'daily_sales', each with a {WIDTH}-way mapped task")
    with UIServer(view, port=0) as server:
        for name, path in (("DAG list", "/"), ("grid (25 runs)", "/dags/daily_sales"),
                           ("grid, page 10", "/dags/daily_sales?offset=250"),
                           ("graph", f"/dags/daily_sales/graph?run_id={newest}"),
                           ("gantt", f"/dags/daily_sales/gantt?run_id={newest}"),
                           ("task instance", f"/dags/daily_sales/runs/{newest}/tasks/clean?map_index=999")):
            times, size = [], 0
            for _ in range(3):
                t0 = time.perf_counter()
                with urllib.request.urlopen(server.url + path, timeout=300) as resp:
                    size = len(resp.read())
                times.append(time.perf_counter() - t0)
            print(f"{name:16s} {size / 1024:7.0f} KB {statistics.median(times) * 1000:7.0f} ms")


if __name__ == "__main__":
    main()

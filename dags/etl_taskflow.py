"""TaskFlow ETL: three tasks passing data through XCom.

`extract` returns a dict (so `multiple_outputs` is on and `extract()["rows"]` picks one
key), `transform` receives it as an argument, `load` gets the context key `ti` by naming it.
Run it: `stratus run etl_taskflow`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from orchestrator import dag, task


@dag(
    schedule=None,
    start_date=datetime(2026, 1, 1),
    tags=["example", "taskflow"],
    default_args={"retries": 1, "retry_delay": timedelta(seconds=5)},
)
def etl_taskflow():
    """Extract a few orders, compute totals, load a summary."""

    @task
    def extract() -> dict:
        orders = [
            {"id": 1, "amount": 12.5, "country": "FR"},
            {"id": 2, "amount": 7.0, "country": "DE"},
            {"id": 3, "amount": 30.25, "country": "FR"},
        ]
        return {"rows": orders, "source": "demo"}

    @task
    def transform(rows: list[dict]) -> dict:
        totals: dict[str, float] = {}
        for row in rows:
            totals[row["country"]] = totals.get(row["country"], 0.0) + row["amount"]
        return totals

    @task
    def load(totals: dict, source: str, ti=None) -> int:
        print(f"loading {totals} from {source} (try {ti.try_number if ti else '?'})")
        return len(totals)

    raw = extract()
    load(transform(raw["rows"]), raw["source"])


etl_taskflow()

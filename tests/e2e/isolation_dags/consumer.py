"""Runs when the producer's asset event arrives; reads the triggering event."""

from datetime import datetime

from orchestrator import Asset, dag, task


@dag(schedule=[Asset("s3://iso-lake/out/")], start_date=datetime(2026, 1, 1))
def consumer():
    @task
    def read(triggering_asset_events=None) -> int:
        events = [e for evs in (triggering_asset_events or {}).values() for e in evs]
        return sum(int((e.get("extra") or {}).get("rows", 0)) for e in events if isinstance(e, dict))

    read()


consumer()

"""An asset-scheduled DAG: it runs when an object lands under s3://stratus-landing/incoming/.

`schedule=[Asset(...)]` (a list means "all of these") makes every S3 "Object Created"
event under the prefix queue a run; the run's context carries the triggering events in
`triggering_asset_events`. `publish` declares an outlet, so a DAG scheduled on
s3://stratus-landing/processed/ would run after it.
"""

from __future__ import annotations

from datetime import datetime

from orchestrator import Asset, dag, task

INCOMING = Asset("s3://stratus-landing/incoming/")
PROCESSED = Asset("s3://stratus-landing/processed/")


@dag(schedule=[INCOMING], start_date=datetime(2026, 1, 1), tags=["example", "assets"])
def s3_arrival():
    """React to new files in the landing bucket."""

    @task
    def list_new_objects(triggering_asset_events=None) -> list[str]:
        keys: list[str] = []
        for events in (triggering_asset_events or {}).values():
            for event in events:
                extra = event.get("extra", {}) if isinstance(event, dict) else {}
                if extra.get("key"):
                    keys.append(extra["key"])
        return keys

    @task(outlets=[PROCESSED])
    def publish(keys: list[str]) -> int:
        print(f"{len(keys)} new object(s): {keys}")
        return len(keys)

    publish(list_new_objects())


s3_arrival()

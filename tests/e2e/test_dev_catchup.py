"""#16: a catchup=True DAG gets the runs it missed when `stratus dev` starts (no pause/unpause needed),
and none dated later than now."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone

from orchestrator.local.cloud import LocalCloud
from orchestrator.local.dev import catch_up, local_parameters, sync_registry
from tests.e2e.conftest import ROOT


def test_catchup_dag_catches_up_when_the_dev_cloud_starts(tmp_path):
    shutil.copy(ROOT / "dags" / "daily_catchup.py", tmp_path / "daily_catchup.py")
    with LocalCloud(tmp_path, auto_advance=True, parameters=local_parameters(), stack_name="catchup") as cloud:
        sync_registry(cloud)
        started = catch_up(cloud)  # what `stratus dev` does right after registering the folder
        again = catch_up(cloud)  # a second start creates nothing new
        cloud.wait_idle(300)
        runs = cloud.engine().store.list_runs("daily_catchup", limit=20)
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    assert again == {}
    assert sorted(started["daily_catchup"]) == sorted(r["run_id"] for r in runs)
    assert sorted(datetime.fromisoformat(r["logical_date"]) for r in runs) == [today - timedelta(days=n)
                                                                               for n in (3, 2, 1, 0)]
    assert {r["state"] for r in runs} == {"success"}

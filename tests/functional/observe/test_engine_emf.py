"""The EMF lines the worker path prints while a run goes through the engine (metrics per DagId)."""

from __future__ import annotations

import json

FLAKY_RETRY = '''
from __future__ import annotations
from datetime import datetime, timedelta
from pathlib import Path
from orchestrator import dag, task

MARKER = Path(__file__).with_name("emf.attempted")


@dag(schedule=None, start_date=datetime(2026, 1, 1))
def emf_dag():
    @task
    def first():
        return 1

    @task(retries=1, retry_delay=timedelta(seconds=1))
    def second(x):
        if not MARKER.exists():
            MARKER.write_text("1")
            raise RuntimeError("first try fails")
        return x + 1

    @task
    def broken(y):
        raise ValueError("always fails")

    broken(second(first()))


emf_dag()
'''


def _emf(out: str) -> list[dict]:
    docs = []
    for line in out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            docs.append(json.loads(line))
    return docs


def test_worker_and_engine_print_emf_per_dag(inline_engine, capsys, monkeypatch):
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    engine, drain, store, _ = inline_engine({"emf_dag.py": FLAKY_RETRY}, "emf_dag")
    capsys.readouterr()
    run = engine.start_run("emf_dag")
    drain()
    assert store.get_run("emf_dag", run["run_id"])["state"] == "failed"
    docs = _emf(capsys.readouterr().out)
    by_name: dict[str, list[dict]] = {}
    for doc in docs:
        [directive] = doc["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "Stratus" and directive["Dimensions"] == [["DagId", "service"]]
        assert doc["DagId"] == "emf_dag"
        for metric in directive["Metrics"]:
            by_name.setdefault(metric["Name"], []).append(doc)
    assert len(by_name["RunsStarted"]) == 1 and len(by_name["RunsFailed"]) == 1
    assert [d["task_id"] for d in by_name["TasksSucceeded"]] == ["first", "second"]
    assert [d["task_id"] for d in by_name["TasksRetried"]] == ["second"]
    assert [d["task_id"] for d in by_name["TasksFailed"]] == ["broken"]
    # One duration and one scheduling delay per try that ran: first, second x2, broken.
    assert sorted(d["task_id"] for d in by_name["TaskDuration"]) == ["broken", "first", "second", "second"]
    assert sorted(d["task_id"] for d in by_name["SchedulingDelay"]) == ["broken", "first", "second", "second"]
    for doc in by_name["TaskDuration"] + by_name["SchedulingDelay"]:
        unit = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"]
        name = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]
        assert unit == "Milliseconds" and doc[name][0] >= 0

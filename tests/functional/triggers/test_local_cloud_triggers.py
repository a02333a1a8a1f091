"""Triggers on the embedded local cloud: the template deployed into moto, handlers running,
the scheduler driven by the fast-forwarded LocalClock, S3 -> EventBridge -> trigger function."""

from __future__ import annotations

import json
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from orchestrator.local.cloud import LocalCloud
from orchestrator.store import RunStore
from orchestrator.triggers.sync import read_existing, sync_plans

FIXTURES = Path(__file__).parents[2] / "fixtures" / "events"


def write_dag(root: Path, name: str, body: str) -> None:
    (root / f"{name}.py").write_text(textwrap.dedent(body))


@pytest.fixture
def cloud(tmp_path, monkeypatch):
    for k, v in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                 "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}.items():
        monkeypatch.setenv(k, v)
    dags = tmp_path / "dags"
    dags.mkdir()
    with LocalCloud(dags) as c:
        yield c


def test_daily_catchup_from_ten_days_back_creates_ten_runs_in_order(cloud):
    now = cloud.now()
    # a daily schedule at a minute comfortably after "now" (sync must finish before it, even on a busy CI)
    fire_at = (now + timedelta(minutes=15)).replace(second=0, microsecond=0)
    start = fire_at - timedelta(days=9, hours=1)
    write_dag(cloud.dags_root, "catchup_daily", f"""
        from datetime import datetime
        from orchestrator import dag, task

        @dag(schedule="{fire_at.minute} {fire_at.hour} * * *", start_date=datetime.fromisoformat("{start.isoformat()}"),
             catchup=True, max_active_runs=2)
        def catchup_daily():
            @task
            def work(ds=None):
                return ds
            work()

        catchup_daily()
    """)
    plan = cloud.sync_dag("catchup_daily")
    report = sync_plans(cloud.clients, cloud.resources, [plan], now=cloud.now())
    assert [c.action for c in report.changes] == ["create"]
    assert cloud.now() < fire_at
    cloud.clock.advance(fire_at - cloud.now() + timedelta(minutes=1))
    cloud.wait_idle(300)
    store = RunStore(cloud.clients, cloud.resources)
    runs = store.list_runs("catchup_daily", limit=50, newest_first=False)
    expected = [(fire_at - timedelta(days=n)).isoformat() for n in range(9, -1, -1)]
    assert [r["logical_date"] for r in runs] == expected
    assert [r["run_id"] for r in runs] == [f"scheduled__{d}" for d in expected]
    assert {r["state"] for r in runs} == {"success"}
    # never more than max_active_runs at once: at each start, fewer than 2 others were running
    spans = sorted((r["start_date"], r["end_date"]) for r in runs)
    for start_i, _ in spans:
        assert sum(1 for s, e in spans if s <= start_i < e) <= 2
    # the same fire delivered again creates nothing
    fire = json.dumps({"kind": "schedule", "dag_id": "catchup_daily",
                       "scheduled_time": fire_at.strftime("%Y-%m-%dT%H:%M:%SZ")})
    cloud.clients.client("lambda").invoke(FunctionName=cloud.resources.trigger_function, Payload=fire)
    cloud.wait_idle(60)
    assert len(store.list_runs("catchup_daily", limit=50)) == 10


def test_object_arrival_starts_matching_dags_once(cloud):
    landing = cloud.resources.landing_bucket
    for name, asset in (("incoming_prefix", f"s3://{landing}/incoming/"), ("csv_glob", f"s3://{landing}/*.csv"),
                        ("elsewhere", f"s3://{landing}/elsewhere/")):
        write_dag(cloud.dags_root, name, f"""
            from datetime import datetime
            from orchestrator import Asset, dag, task

            @dag(schedule=[Asset("{asset}")], start_date=datetime(2026, 1, 1))
            def {name}():
                @task
                def see(triggering_asset_events=None):
                    return sorted(e["extra"]["key"] for evts in triggering_asset_events.values() for e in evts)
                see()

            {name}()
        """)
        cloud.sync_dag(name)
    s3 = cloud.clients.client("s3")
    s3.put_object(Bucket=landing, Key="incoming/2026-01-05.csv", Body=b"a,b\n1,2\n")
    cloud.wait_idle(120)
    store = RunStore(cloud.clients, cloud.resources)
    counts = {name: len(store.list_runs(name)) for name in ("incoming_prefix", "csv_glob", "elsewhere")}
    assert counts == {"incoming_prefix": 1, "csv_glob": 1, "elsewhere": 0}  # fnmatch: '*' also matches '/'
    (run,) = store.list_runs("incoming_prefix")
    assert run["state"] == "success" and run["run_type"] == "asset_triggered"
    events = run["triggering_asset_events"][f"s3://{landing}/incoming/"]
    assert [(e["bucket"], e["key"], e["size"]) for e in events] == [(landing, "incoming/2026-01-05.csv", 8)]
    assert store.get_xcom("incoming_prefix", run["run_id"], "see") == ["incoming/2026-01-05.csv"]
    # a non-matching key starts nothing
    s3.put_object(Bucket=landing, Key="misc/readme.txt", Body=b"x")
    cloud.wait_idle(60)
    assert {name: len(store.list_runs(name)) for name in counts} == counts
    # the same event delivered twice starts one run
    event = json.loads((FIXTURES / "s3_eventbridge_object_created.json").read_text())
    event["detail"]["bucket"]["name"] = landing
    event["detail"]["object"]["key"] = "report.csv"
    for _ in range(2):
        cloud.clients.client("lambda").invoke(FunctionName=cloud.resources.trigger_function,
                                              Payload=json.dumps(event))
    cloud.wait_idle(60)
    assert len(store.list_runs("csv_glob")) == 2
    assert len(store.list_runs("incoming_prefix")) == 1


def test_schedules_exist_after_sync(cloud):
    write_dag(cloud.dags_root, "hourly", """
        from datetime import datetime
        from orchestrator import dag, task

        @dag(schedule="@hourly", start_date=datetime(2026, 1, 1))
        def hourly():
            @task
            def work():
                return 1
            work()

        hourly()
    """)
    from orchestrator.triggers.sync import sync_folder

    # Isolation=dag: a DAG added since the deploy has no worker yet; sync refuses it until a deploy makes one.
    report = sync_folder(cloud.clients, cloud.resources, str(cloud.dags_root), now=cloud.now())
    assert report.errors == {"hourly": "DAG 'hourly' has no worker function 'stratus-local-worker-hourly' in this "
                                       "stack (per-DAG isolation: each DAG gets its own at deploy). Run `stratus "
                                       "deploy` again to create it."} and not report.changes
    assert cloud.deploy_new_workers() == ["stratus-local-worker-hourly"]  # what that deploy adds
    report = sync_folder(cloud.clients, cloud.resources, str(cloud.dags_root), now=cloud.now())
    assert [c.action for c in report.changes] == ["create"] and not report.errors
    sched = read_existing(cloud.clients, cloud.resources.scheduler_group)["hourly"]
    assert sched["Target"]["Arn"].endswith(":function:" + cloud.resources.trigger_function)
    assert sync_folder(cloud.clients, cloud.resources, str(cloud.dags_root), now=cloud.now()).changes == []
    # the HTTP API function (Function URL event) triggers and lists runs
    api = cloud.function_name("ApiFunction")

    def call(method, path, body=None):
        event = json.loads((FIXTURES / "function_url_request.json").read_text())
        event["rawPath"] = path
        event["requestContext"]["http"].update(method=method, path=path)
        event["body"] = json.dumps(body) if body is not None else None
        reply = cloud.clients.client("lambda").invoke(FunctionName=api, Payload=json.dumps(event))
        answer = json.loads(reply["Payload"].read())
        return answer["statusCode"], json.loads(answer["body"])

    status, run = call("POST", "/dags/hourly/runs", {"logical_date": "2026-02-01T10:00:00Z"})
    assert (status, run["run_id"]) == (201, "manual__2026-02-01T10:00:00+00:00")
    cloud.wait_idle(60)
    status, listing = call("GET", "/dags/hourly/runs")
    assert status == 200 and [(r["run_id"], r["state"]) for r in listing["runs"]] == [(run["run_id"], "success")]
    assert call("POST", "/dags/hourly/runs", {"conf": "nope"})[0] == 400


def test_backfill_without_a_target_runs_on_an_embedded_cloud(tmp_path, monkeypatch, capsys):
    from orchestrator.cli.main import main

    for k, v in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                 "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("STRATUS_STACK", raising=False)
    monkeypatch.chdir(tmp_path)  # no .stratus/dev.json here
    dags = tmp_path / "dags"
    dags.mkdir()
    write_dag(dags, "bf", """
        from datetime import datetime, timezone
        from orchestrator import dag, task

        @dag(schedule="@daily", start_date=datetime(2026, 1, 1, tzinfo=timezone.utc), max_active_runs=2)
        def bf():
            @task
            def work(ds=None):
                return ds
            work()

        bf()
    """)
    assert main(["backfill", "bf", "--start", "2026-01-01", "--end", "2026-01-04", "--dags", str(dags), "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in body["runs"]] == [f"backfill__2026-01-0{d}T00:00:00+00:00" for d in range(1, 5)]
    assert set(body["states"].values()) == {"success"}


def test_a_task_outlet_starts_the_consumer_dag(cloud):
    write_dag(cloud.dags_root, "producer", """
        from datetime import datetime
        from orchestrator import Asset, dag, task

        sales = Asset("s3://lake/sales/")

        @dag(schedule=None, start_date=datetime(2026, 1, 1))
        def producer():
            @task(outlets=[sales])
            def load(**context):
                context["outlet_events"][sales].extra = {"rows": 3}  # Airflow 3's outlet event extra
                return 3
            load()

        producer()
    """)
    write_dag(cloud.dags_root, "consumer", """
        from datetime import datetime
        from orchestrator import Asset, dag, task

        @dag(schedule=[Asset("s3://lake/sales/")], start_date=datetime(2026, 1, 1))
        def consumer():
            @task
            def report(triggering_asset_events=None):
                return [[e["source_dag_id"], e["extra"].get("rows")]
                        for evts in triggering_asset_events.values() for e in evts]
            report()

        consumer()
    """)
    cloud.sync_dag("consumer")
    run = cloud.run_dag("producer", timeout=120)
    cloud.wait_idle(120)
    assert run["state"] == "success"
    store = RunStore(cloud.clients, cloud.resources)
    (consumed,) = store.list_runs("consumer")
    assert consumed["state"] == "success" and consumed["run_type"] == "asset_triggered"
    assert store.get_xcom("consumer", consumed["run_id"], "report") == [["producer", 3]]

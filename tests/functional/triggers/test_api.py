from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from orchestrator.engine.engine import Engine
from orchestrator.errors import ConflictError, ParamValidationError
from orchestrator.plan.model import ParamSpec, Schedule, Step, StepPlan
from orchestrator.store import RunStore
from orchestrator.triggers import api
from orchestrator.triggers import runs as runs_mod

FIXTURES = Path(__file__).parents[2] / "fixtures" / "events"


class NullDispatcher:
    def invoke_worker(self, msg, function_name=None):
        pass

    def schedule_retry(self, msg, delay_s):
        pass


def make_plan(**overrides) -> StepPlan:
    fields = dict(
        dag_id="daily", fileloc="daily.py", schedule=Schedule(kind="cron", expression="0 6 * * *"),
        start_date="2026-01-01T00:00:00+00:00",
        params={"day": ParamSpec(default="2026-01-01", type="string"),
                "limit": ParamSpec(default=10, type="integer", schema={"type": "integer", "minimum": 1})},
        steps=[Step(task_id="work", operator="_PythonDecoratedOperator", module="daily.py")],
    )
    fields.update(overrides)
    return StepPlan(**fields).with_hash()


@pytest.fixture
def env(aws, monkeypatch):
    clients, resources = aws
    store = RunStore(clients, resources)
    store.put_plan(make_plan())
    monkeypatch.setattr(runs_mod, "make_engine", lambda c, r: Engine(RunStore(c, r), NullDispatcher()))
    monkeypatch.setattr(api, "make_engine", lambda c, r: Engine(RunStore(c, r), NullDispatcher()))
    return clients, resources, store


def request(method: str, path: str, body=None, query: dict | None = None) -> dict:
    event = json.loads((FIXTURES / "function_url_request.json").read_text())
    event = copy.deepcopy(event)
    event["rawPath"] = path
    event["requestContext"]["http"].update(method=method, path=path)
    event["body"] = body if isinstance(body, str) or body is None else json.dumps(body)
    event["queryStringParameters"] = query
    event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in (query or {}).items())
    return event


def call(env, event):
    clients, resources, _ = env
    app = api.build_resolver(lambda: (clients, resources))
    response = app.resolve(event, None)
    return response["statusCode"], json.loads(response["body"])


def test_trigger_list_and_show(env):
    status, run = call(env, request("POST", "/dags/daily/runs", {"conf": {"day": "2026-02-01"},
                                                                  "logical_date": "2026-02-01T06:00:00Z"}))
    assert status == 201
    assert run["run_id"] == "manual__2026-02-01T06:00:00+00:00"
    assert run["run_type"] == "manual" and run["params"] == {"day": "2026-02-01", "limit": 10}
    status, listing = call(env, request("GET", "/dags/daily/runs", query={"limit": "5"}))
    assert status == 200 and [r["run_id"] for r in listing["runs"]] == [run["run_id"]]
    status, shown = call(env, request("GET", f"/dags/daily/runs/{run['run_id']}"))
    assert status == 200 and [t["task_id"] for t in shown["task_instances"]] == ["work"]


def test_invalid_conf_is_a_400_naming_the_param(env):
    status, body = call(env, request("POST", "/dags/daily/runs", {"conf": {"limit": 0}}))
    assert status == 400
    assert "DAG 'daily'" in body["error"] and "limit" in body["error"]
    status, body = call(env, request("POST", "/dags/daily/runs", {"conf": ["x"]}))
    assert (status, body["error"]) == (400, "The conf of a run of DAG 'daily' must be a JSON object, got list.")
    assert RunStore(env[0], env[1]).list_runs("daily") == []


def test_bad_input_gives_clean_4xx(env):
    assert call(env, request("POST", "/dags/daily/runs", "{not json"))[1]["error"] == ("The request body is not valid JSON: Expecting property name enclosed in double quotes: "
                                                                                      "line 1 column 2 (char 1).")
    assert call(env, request("POST", "/dags/daily/runs", {"cnf": {}}))[0] == 400
    assert call(env, request("POST", "/dags/nope/runs", {}))[0] == 404
    assert call(env, request("GET", "/dags/daily/runs/manual__nope"))[0] == 404
    assert call(env, request("GET", "/dags/daily/runs", query={"state": "weird"}))[0] == 400
    assert call(env, request("GET", "/dags/daily/runs", query={"limit": "-1"}))[0] == 400
    assert call(env, request("DELETE", "/dags/daily"))[0] == 404
    assert call(env, request("POST", "/dags/daily/runs", {"logical_date": "soon"}))[0] == 400
    status, _ = call(env, request("POST", "/dags/daily/runs", {"logical_date": "2026-02-01T06:00:00Z"}))
    status, body = call(env, request("POST", "/dags/daily/runs", {"logical_date": "2026-02-01T06:00:00Z"}))
    assert status == 409 and "already exists" in body["error"]


def test_pause_and_unpause(env):
    clients, resources, store = env
    status, body = call(env, request("POST", "/dags/daily/pause"))
    assert status == 200 and body["paused"] is True
    assert store.get_dag("daily")["paused"] is True
    status, body = call(env, request("POST", "/dags/daily/unpause"))
    assert status == 200 and body["paused"] is False
    assert call(env, request("POST", "/dags/ghost/pause"))[0] == 404


def test_trigger_dag_errors(env):
    clients, resources, _ = env
    with pytest.raises(ParamValidationError, match="DAG 'daily'"):
        api.trigger_dag(clients, resources, "daily", conf={"limit": "many"})
    api.trigger_dag(clients, resources, "daily", run_id="mine")
    with pytest.raises(ConflictError, match="Run 'mine' of DAG 'daily' already exists"):
        api.trigger_dag(clients, resources, "daily", run_id="mine")
    with pytest.raises(ParamValidationError, match="Run id 'bad id!' for DAG 'daily' is invalid"):
        api.trigger_dag(clients, resources, "daily", run_id="bad id!")


# ---------------------------------------------------------------- issue #15: retries and partial failures


class FailingDispatcher(NullDispatcher):
    """The worker invoke fails after the run was created (throttled, or the function is being updated)."""

    def invoke_worker(self, msg, function_name=None):
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}}, "Invoke")


def test_client_token_makes_a_retried_trigger_return_the_same_run(env):
    clients, resources, store = env
    status, run = call(env, request("POST", "/dags/daily/runs", {"conf": {"limit": 3}, "client_token": "job-42"}))
    assert status == 201 and run["run_id"] == "manual__job-42"
    status, again = call(env, request("POST", "/dags/daily/runs", {"conf": {"limit": 3}, "client_token": "job-42"}))
    assert status == 200 and again["run_id"] == "manual__job-42" and again["replayed"] is True
    assert [r["run_id"] for r in store.list_runs("daily")] == ["manual__job-42"]  # one run, not two
    # Without a token a second trigger is a second run, as in Airflow.
    status, _ = call(env, request("POST", "/dags/daily/runs", {"logical_date": "2026-02-01T00:00:00Z"}))
    assert status == 201 and len(store.list_runs("daily")) == 2


def test_a_failed_worker_invoke_after_the_run_exists_answers_with_the_run(env, monkeypatch):
    clients, resources, store = env
    monkeypatch.setattr(runs_mod, "make_engine", lambda c, r: Engine(RunStore(c, r), FailingDispatcher()))
    monkeypatch.setattr(api, "make_engine", lambda c, r: Engine(RunStore(c, r), FailingDispatcher()))
    status, body = call(env, request("POST", "/dags/daily/runs", {"client_token": "retry-me"}))
    assert status == 201, body
    assert body["run_id"] == "manual__retry-me" and "the sweeper starts them" in body["note"]
    # The client retries anyway (it saw a slow answer): still one run.
    status, again = call(env, request("POST", "/dags/daily/runs", {"client_token": "retry-me"}))
    assert status == 200 and again["run_id"] == "manual__retry-me"
    assert len(store.list_runs("daily")) == 1


def test_partition_key_in_a_trigger_only_for_a_partitioned_dag(env):
    # Airflow 3.3's trigger body takes partition_key; a DAG that is not partitioned refuses it (400 here).
    from orchestrator.plan.model import Partitioning

    status, body = call(env, request("POST", "/dags/daily/runs", {"partition_key": "2026-02-01"}))
    assert (status, body["error"]) == (400, "DAG 'daily' is not a partitioned DAG and does not accept a partition_key "
                                            "(give it CronPartitionTimetable, PartitionedAtRuntime or "
                                            "PartitionedAssetTimetable).")
    _, _, store = env
    store.put_plan(make_plan(schedule=Schedule(kind="cron", expression="0 6 * * *", partitioning=Partitioning(
        kind="cron", key_format="%Y-%m-%d"))))
    status, run = call(env, request("POST", "/dags/daily/runs", {"partition_key": "2026-02-01"}))
    assert status == 201, run
    assert (run["partition_key"], run["partition_date"]) == ("2026-02-01", "2026-02-01T00:00:00+00:00")
    status, body = call(env, request("POST", "/dags/daily/runs", {"partition_key": " "}))
    assert (status, body["error"]) == (400, "A run of DAG 'daily': partition_key must not be empty or "
                                            "whitespace-only; got ' '.")

"""The fault hooks themselves: throttles go through botocore's real retry path, never reach moto;
captured async invokes are dropped or duplicated; crash points fire before or after the write."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from orchestrator.config import Clients
from chaos.faults import (FaultRates, Faults, InjectedCrash, capture_async_invokes,
                                       install_crash_points, install_throttling, virtual_backoff)


@pytest.fixture
def clients(monkeypatch):
    for k, v in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                 "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        c = Clients(region_name="us-east-1")
        c.client("dynamodb").create_table(
            TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        yield c


def test_throttled_attempts_are_retried_by_botocore_and_never_reach_the_table(clients):
    faults = Faults(7, FaultRates(ddb_throttle=1.0))
    ddb = clients.client("dynamodb")
    install_throttling(ddb, faults, kind="ddb_throttle")
    with virtual_backoff(lambda s: None) as delays:
        # A conditional put: had a throttled attempt been applied, the retry would fail the condition.
        ddb.put_item(TableName="t", Item={"pk": {"S": "a"}}, ConditionExpression="attribute_not_exists(pk)")
    assert 1 <= len(delays) <= 3  # botocore backed off once per throttled attempt
    assert faults.counts["ddb_throttle"] == 1
    with faults.paused():
        assert ddb.scan(TableName="t")["Count"] == 1


def test_lambda_storm_exhausts_botocore_retries_with_too_many_requests(clients):
    faults = Faults(1, FaultRates(lambda_storm=1.0))
    delivered: list[tuple[str, bytes]] = []
    lam = clients.client("lambda")
    capture_async_invokes(lam, faults, lambda name, payload: delivered.append((name, payload)))
    with virtual_backoff(lambda s: None) as delays, \
            pytest.raises(ClientError, match="TooManyRequestsException.*reached max retries: 5"):
        lam.invoke(FunctionName="worker", InvocationType="Event", Payload=b"{}")
    assert len(delays) == 5 and delivered == []  # Config max_attempts=5 means 5 retries


@pytest.mark.parametrize("rates, copies", [(FaultRates(), 1), (FaultRates(drop=1.0), 0),
                                           (FaultRates(duplicate=1.0), 2)])
def test_async_invokes_are_captured_dropped_or_duplicated(clients, rates, copies):
    faults = Faults(3, rates)
    delivered: list[tuple[str, bytes]] = []
    lam = clients.client("lambda")
    capture_async_invokes(lam, faults, lambda name, payload: delivered.append((name, payload)))
    resp = lam.invoke(FunctionName="stratus-worker", InvocationType="Event", Payload=json.dumps({"a": 1}).encode())
    assert resp["StatusCode"] == 202
    assert delivered == [("stratus-worker", b'{"a": 1}')] * copies


class _Store:
    def __init__(self) -> None:
        self.writes: list[str] = []

    def finish_ti(self, dag_id, run_id, task_id, map_index, *args, **kwargs):
        self.writes.append(task_id)

    def retry_ti(self, dag_id, run_id, task_id, map_index, *args, **kwargs):
        self.writes.append(f"retry:{task_id}")


def test_crash_before_record_kills_once_per_instance_and_writes_nothing():
    store, in_worker = _Store(), [True]
    faults = Faults(5, FaultRates(crash_before_record=1.0))
    install_crash_points(store, faults, lambda: in_worker[0])
    with pytest.raises(InjectedCrash, match="before finish_ti of a\\[-1\\] in r"):
        store.finish_ti("d", "r", "a", -1, 1, "success")
    assert store.writes == []
    store.finish_ti("d", "r", "a", -1, 2, "success")  # the same instance is not killed twice
    in_worker[0] = False
    store.finish_ti("d", "r", "b", -1, 1, "success")  # outside a worker delivery: never
    assert store.writes == ["a", "b"]


def test_crash_after_record_keeps_the_write():
    store = _Store()
    install_crash_points(store, Faults(5, FaultRates(crash_after_record=1.0)), lambda: True)
    with pytest.raises(InjectedCrash, match="after retry_ti of a\\[3\\]"):
        store.retry_ti("d", "r", "a", 3, 1)
    assert store.writes == ["retry:a"]


def test_same_seed_same_decisions():
    a, b = Faults(42, FaultRates.default()), Faults(42, FaultRates.default())
    assert [a.roll("duplicate") for _ in range(200)] == [b.roll("duplicate") for _ in range(200)]
    assert a.counts == b.counts and a.total > 0

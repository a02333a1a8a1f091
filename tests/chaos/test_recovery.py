"""Targeted recovery cases the chaos harness found, replayed deterministically on a ChaosWorld."""

from __future__ import annotations

import json

import pytest
from moto import mock_aws

from chaos import dags as chaos_dags
from chaos import harness as chaos
from chaos.faults import FaultRates, Faults, virtual_backoff
from chaos import probe
from chaos.world import moto_serialised


@pytest.fixture
def world_factory(monkeypatch, tmp_path):
    for k, v in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                 "AWS_SECRET_ACCESS_KEY": "testing", "POWERTOOLS_METRICS_DISABLED": "true"}.items():
        monkeypatch.setenv(k, v)
    root = tmp_path / "dags"
    stack = []

    def make(rates: FaultRates, sources: dict[str, str]) -> chaos.ChaosWorld:
        root.mkdir(exist_ok=True)
        for dag_id, body in sources.items():
            (root / f"{dag_id}.py").write_text(chaos_dags.HEADER + "\n\n" + body)
        clock = chaos.SimClock()
        for cm in (mock_aws(), virtual_backoff(clock.advance), moto_serialised()):
            cm.__enter__()
            stack.append(cm)
        world = chaos.ChaosWorld(root, Faults(1, rates), clock)
        world.register(sorted(sources))
        return world

    yield make
    for cm in reversed(stack):
        cm.__exit__(None, None, None)


def _run(world: chaos.ChaosWorld, dag_id: str, run_id: str = "r1") -> tuple[str | None, dict[str, str]]:
    world.start(dag_id, run_id)
    world.settle([(dag_id, run_id)])
    state, tis, _ = world.snapshot(dag_id, run_id)
    return state, tis


def test_branch_choice_survives_a_worker_killed_between_recording_and_dispatching(world_factory):
    # Every terminal write is followed by a crash: nothing is ever dispatched downstream by a
    # worker; the sweeper's reconcile must re-derive the branch's choice from its stored value.
    world = world_factory(FaultRates(crash_after_record=1.0),
                          {"br": chaos_dags._branch("br", left=False)})
    state, tis = _run(world, "br")
    assert tis == {"route": "success", "left": "skipped", "right": "success", "after_right": "success",
                   "join": "success"}
    assert state == "success"


def test_short_circuit_survives_a_worker_killed_between_recording_and_dispatching(world_factory):
    world = world_factory(FaultRates(crash_after_record=1.0),
                          {"sc": chaos_dags._short_circuit("sc", go=False)})
    state, tis = _run(world, "sc")
    assert tis == {"gate": "success", "work": "success", "more": "skipped"}  # work is a root; more is gated
    assert state == "success"


def test_lost_invoke_of_a_promoted_mapped_instance_is_reinvoked_by_the_sweeper(world_factory):
    world = world_factory(FaultRates(), {"mp": chaos_dags._mapped("mp", 9, None)})
    real_push, dropped = world.push, []

    def push(kind, body, delay_s=0.0, attempt=1):
        # Drop the first invoke of instance 6: it was parked by max_active_tasks=4 and promoted.
        if kind == "worker" and json.loads(body)["map_index"] == 6 and not dropped:
            dropped.append(body)
            return
        real_push(kind, body, delay_s, attempt)

    world.push = push
    state, tis = _run(world, "mp")
    assert dropped and state == "success"
    assert tis["double[6]"] == "success" and tis["total"] == "success"


def test_duplicate_and_reordered_deliveries_change_nothing(world_factory):
    world = world_factory(FaultRates(duplicate=1.0, reorder=True), {"dm": chaos_dags._diamond("dm", 3)})
    state, tis = _run(world, "dm")
    assert state == "success" and set(tis.values()) == {"success"} and len(tis) == 5
    assert world.finishes[("dm", "r1")] == 1


def test_run_past_its_dagrun_timeout_is_failed_by_the_sweeper_from_stored_state(world_factory):
    # Every invoke is lost (the sweeper's re-invokes too): only dagrun_timeout can end the run.
    src = chaos_dags._chain("slow", 2).replace("default_args=spare())",
                                               "default_args=spare(), dagrun_timeout=timedelta(minutes=30))")
    world = world_factory(FaultRates(drop=1.0), {"slow": src})
    state, tis = _run(world, "slow")
    assert state == "failed" and tis == {"t0": "skipped"}  # unfinished instances become skipped (Airflow)
    with world.faults.paused():
        run = world.store.get_run("slow", "r1")
    assert "dagrun_timeout" in run.get("note", "") and world.finishes[("slow", "r1")] == 1


def test_asset_event_redelivered_after_a_crash_mid_trigger_still_starts_its_run(world_factory, monkeypatch):
    from orchestrator.triggers import assets

    world = world_factory(FaultRates(), {chaos_dags.ASSET_DAG: chaos_dags._assets(chaos_dags.ASSET_DAG)})
    event = {"source": "aws.s3", "detail-type": "Object Created", "time": "2026-01-01T00:00:00Z",
             "detail": {"bucket": {"name": chaos_dags.LANDING_BUCKET},
                        "object": {"key": "in/a.csv", "size": 1, "etag": "e", "sequencer": "00AA"}}}
    real_consume, calls = assets.AssetStore.consume, []

    def dies_once(self, dag_id, snapshot):
        calls.append(dag_id)
        if len(calls) == 1:
            raise RuntimeError("trigger function killed (throttled past its retries)")
        return real_consume(self, dag_id, snapshot)

    monkeypatch.setattr(assets.AssetStore, "consume", dies_once)
    world.push("s3", event)  # fails once; the harness redelivers it as Lambda's async retry does
    world.drain()
    runs = chaos._asset_runs(world)
    assert len(calls) >= 1 and len(runs) == 1


def test_a_start_retried_after_a_crash_before_taking_the_slot_starts_the_run(world_factory, monkeypatch):
    # Found by `chaos --ddb-storm`: create_run succeeded, the caller died before the run took
    # its slot. The run was written with its waiting marker, so the retried start finds it queued
    # and starts the oldest waiting run (this one) while a slot is free.
    world = world_factory(FaultRates(), {"c": chaos_dags._chain("c", 2)})
    real, calls = world.store.start_run_if_slot, []

    def dies_once(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise RuntimeError("caller killed (throttled past its retries)")
        return real(*args, **kwargs)

    monkeypatch.setattr(world.store, "start_run_if_slot", dies_once)
    state, tis = _run(world, "c")  # world.start retries a failed start, as an API client would
    assert len(calls) == 2 and state == "success" and tis == {"t0": "success", "t1": "success"}


def test_a_run_left_queued_by_a_caller_that_gave_up_is_started_by_the_sweeper(world_factory, monkeypatch):
    # Found by `chaos --ddb-storm`: every start attempt died before the run took its slot; the
    # sweeper starts queued runs from their waiting markers.
    world = world_factory(FaultRates(), {"c": chaos_dags._chain("c", 2)})
    real, calls = world.store.start_run_if_slot, []

    def dies_three_times(*args, **kwargs):
        calls.append(args)
        if len(calls) <= 3:
            raise RuntimeError("caller killed (throttled past its retries)")
        return real(*args, **kwargs)

    monkeypatch.setattr(world.store, "start_run_if_slot", dies_three_times)
    state, tis = _run(world, "c")
    assert len(calls) == 4 and state == "success" and tis == {"t0": "success", "t1": "success"}


def test_a_hard_timeout_mid_body_fails_the_try_through_on_failure_and_the_retry_succeeds(world_factory):
    # The template's worker: no Lambda retries; the timed-out invocation's record reaches the conductor.
    world = world_factory(FaultRates(hard_timeout=1.0), {"c": chaos_dags.probed(chaos_dags._chain("c", 2))})
    state, tis = _run(world, "c")
    assert state == "success" and tis == {"t0": "success", "t1": "success"}
    with world.faults.paused():
        t0 = world.store.get_ti("c", "r1", "t0")
    assert int(t0["try_number"]) == 2 and "Task timed out" in t0["history"][0]["error"]
    assert world.deliveries["onfailure"] >= 2 and not probe.overlaps


def test_the_judge_notices_a_wrong_xcom_and_a_leftover_marker(world_factory):
    world = world_factory(FaultRates(), {"c": chaos_dags.probed(chaos_dags._chain("c", 2))})
    state, tis = _run(world, "c")
    reference = (state, tis, world.outputs("c", "r1"))
    assert world.judge("c", "r1", reference).outcome == "correct"
    with world.faults.paused():
        world.store._put({"pk": "RUN#c#r1", "sk": "SCHED#t1#-00001", "task_id": "t1"})
        world.store.ddb.update_item(
            TableName=world.resources.table, Key={"pk": {"S": "RUN#c#r1"}, "sk": {"S": "TI#t1#-00001"}},
            UpdateExpression="SET xcom = :v", ExpressionAttributeValues={":v": {"S": "99"}})
    verdict = world.judge("c", "r1", reference)
    assert verdict.outcome == "wrong" and "XComs" in verdict.detail and "SCHED#t1" in verdict.detail


def test_two_executions_of_one_body_at_once_count_as_an_overlap():
    import threading
    from types import SimpleNamespace

    from orchestrator.authoring.context import set_current_context

    probe.reset()
    inside = threading.Barrier(2, timeout=5)
    ti = SimpleNamespace(dag_id="d", run_id="r", task_id="t", map_index=-1)

    def body() -> None:
        with set_current_context({"ti": ti}), probe.body():  # type: ignore[arg-type]
            inside.wait()  # both executions are inside the body at once

    threads = [threading.Thread(target=body) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert probe.overlaps == [("d", "r", "t", "-1")]
    probe.reset()

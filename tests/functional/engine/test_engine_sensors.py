"""A rescheduled sensor against the engine and the conductor: lost timers, duplicate timers, clears."""

from __future__ import annotations

from datetime import timedelta

SENSOR = """
from orchestrator.authoring.sensors import PythonSensor

@dag(schedule=None, start_date=datetime(2026, 1, 1), dagrun_timeout=timedelta(hours=1))
def waits():
    PythonSensor(task_id="wait", python_callable=lambda: False, poke_interval=30)
waits()
"""


def _start(h):
    sent = []
    h.dispatcher.schedule_poke = lambda msg, delay, pokes: sent.append((msg, delay, pokes))
    h.write("waits", SENSOR)
    run = h.start("waits")
    h.drain()
    return run["run_id"], sent


def test_a_lost_poke_timer_is_resent_by_the_sweeper_and_a_duplicate_is_a_noop(h):
    rid, sent = _start(h)
    ti = h.store.get_ti("waits", rid, "wait")
    assert ti["state"] == "up_for_reschedule" and int(ti["pokes"]) == 1 and len(sent) == 1
    msg, delay, pokes = sent[0]
    assert 29 <= delay <= 30 and pokes == 1 and msg.try_number == 1
    # The timer message never arrives: within the grace period the sweeper leaves it alone...
    assert h.conductor.sweep(now=h.engine.now() + timedelta(seconds=60)).get("pokes") is None
    # ...past it, the poke is queued again (same try) and runs.
    stats = h.conductor.sweep(now=h.engine.now() + timedelta(seconds=30 + 301))
    assert stats["pokes"] == 1
    h.drain()
    ti = h.store.get_ti("waits", rid, "wait")
    assert ti["state"] == "up_for_reschedule" and int(ti["pokes"]) == 2 and int(ti["try_number"]) == 1
    # The late original timer (and a duplicate of the new one) find another count: nothing moves.
    assert h.conductor.poke(msg, 1) == "noop"
    assert h.conductor.poke(sent[1][0], 2) == "queued"
    assert h.conductor.poke(sent[1][0], 2) == "noop"


def test_clearing_a_waiting_sensor_starts_a_new_try_and_stale_timers_do_nothing(h):
    rid, sent = _start(h)
    first = h.store.get_ti("waits", rid, "wait")
    h.engine.clear("waits", rid, task_ids=["wait"])
    h.drain()
    ti = h.store.get_ti("waits", rid, "wait")
    assert ti["state"] == "up_for_reschedule" and int(ti["try_number"]) == 2
    assert int(ti["first_poke_try"]) == 2 and ti["first_poke_at"] >= first["first_poke_at"]
    assert h.conductor.poke(sent[0][0], 1) == "noop"  # try 1's timer


def test_a_run_past_its_timeout_skips_the_waiting_sensor(h):
    rid, sent = _start(h)
    h.conductor.sweep(now=h.engine.now() + timedelta(hours=2))
    assert h.store.get_run("waits", rid)["state"] == "failed"
    assert h.store.get_ti("waits", rid, "wait")["state"] == "skipped"
    assert h.conductor.poke(sent[0][0], 1) == "noop"

"""One watcher thread stops the invocations that outlive their timeout, and only those."""

from __future__ import annotations

import threading
import time

import pytest

from orchestrator.engine.deadlines import Deadlines


class Stopped(BaseException):
    """What the watcher raises in an overdue thread (a BaseException, as ``LambdaTimeout``)."""


def _spin(deadlines: Deadlines, timeout_s: float, work_s: float, out: dict[str, object]) -> None:
    guard = deadlines.watch(timeout_s, Stopped)
    end = time.monotonic() + work_s
    try:
        while time.monotonic() < end:
            time.sleep(0.005)
        out["result"] = "finished"
    except Stopped:
        out["result"] = "stopped"
    finally:
        guard.finish()
    out["timed_out"] = guard.timed_out


def test_an_overdue_invocation_is_stopped_and_a_prompt_one_is_not() -> None:
    deadlines = Deadlines()
    slow: dict[str, object] = {}
    quick: dict[str, object] = {}
    threads = [threading.Thread(target=_spin, args=(deadlines, 0.2, 30, slow)),
               threading.Thread(target=_spin, args=(deadlines, 30, 0.05, quick))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    deadlines.close()
    assert slow == {"result": "stopped", "timed_out": True}
    assert quick == {"result": "finished", "timed_out": False}


def test_a_finished_guard_is_never_interrupted() -> None:
    deadlines = Deadlines()
    guard = deadlines.watch(0.01, Stopped)
    guard.finish()
    guard.expire()  # what the watcher does at the deadline
    deadlines.close()
    assert guard.timed_out is False


def test_many_finished_invocations_do_not_pile_up() -> None:
    deadlines = Deadlines()
    for _ in range(2000):
        deadlines.watch(900, Stopped).finish()
    assert len(deadlines._heap) < 600  # finished guards far from their deadline are dropped as the heap grows
    deadlines.close()


@pytest.mark.parametrize("timeouts", [(0.3, 0.1), (0.1, 0.3)], ids=["later first", "earlier first"])
def test_deadlines_are_kept_in_any_order(timeouts: tuple[float, float]) -> None:
    deadlines = Deadlines()
    results: list[dict[str, object]] = [{}, {}]
    threads = [threading.Thread(target=_spin, args=(deadlines, t, 30, r)) for t, r in zip(timeouts, results)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    deadlines.close()
    assert [r["result"] for r in results] == ["stopped", "stopped"]

"""The local clock: wall time plus an offset that only grows."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from orchestrator.local.emulation import LocalClock


def test_advance_moves_forward_and_never_back():
    clock = LocalClock()
    before = clock.time()
    clock.advance(timedelta(hours=2))
    assert clock.time() - before >= 7200
    assert clock.offset >= timedelta(hours=2, seconds=-1)
    clock.jump_to(time.time())  # in the past for this clock: ignored
    assert clock.offset >= timedelta(hours=2, seconds=-1)
    with pytest.raises(ValueError, match=r"the clock only moves forward \(got -1 day"):
        clock.advance(timedelta(days=-1))


def test_attached_clock_hands_advance_to_its_driver():
    clock = LocalClock()
    seen: list[float] = []
    clock._driver = seen.append
    clock.advance(timedelta(minutes=5))
    assert len(seen) == 1 and seen[0] - time.time() == pytest.approx(300, abs=5)
    assert clock.now().tzinfo is not None

"""The local cloud's clock: wall time plus an offset that tests fast-forward."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone


class LocalClock:
    """Wall-clock time plus an offset that only grows; ``advance`` fast-forwards.

    When attached to a running local cloud, ``advance(delta)`` fires every schedule, delayed
    message and timer that falls due in the window, in time order, letting each settle.
    """

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()
        self._driver: Callable[[float], None] | None = None

    def time(self) -> float:
        """Epoch seconds on the local clock."""
        return time.time() + self._offset

    def now(self) -> datetime:
        """The local clock as an aware UTC datetime."""
        return datetime.fromtimestamp(self.time(), tz=timezone.utc)

    @property
    def offset(self) -> timedelta:
        return timedelta(seconds=self._offset)

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward by ``delta`` (fires what falls due when attached to a cloud)."""
        seconds = delta.total_seconds()
        if seconds < 0:
            raise ValueError(f"LocalClock.advance: the clock only moves forward (got {delta}).")
        target = self.time() + seconds
        if self._driver is not None:
            self._driver(target)
        else:
            self.jump_to(target)

    def jump_to(self, epoch: float) -> None:
        """Set the clock to ``epoch`` unless it is already past it (never goes back)."""
        with self._lock:
            self._offset = max(self._offset, epoch - time.time())

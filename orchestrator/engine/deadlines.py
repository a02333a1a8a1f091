"""Time limits on code running in threads other than the main one: one watcher thread for all of them.

Lambda stops an invocation that outlives its function's timeout. The local cloud runs each
invocation in a pool thread; the closest it can come to stopping one is an asynchronous
``LambdaTimeout`` raised in that thread. A task body that runs outside the main thread (there
SIGALRM stops it; ``engine.runtime.run_with_timeout``) gets its ``TaskTimeout`` the same way.
``Deadlines`` keeps every running invocation's deadline in a heap, watched by a single daemon
thread (started on first use): a thread per invocation or task body, as before, cost a thread
start and a second thread switching per task.

    guard = deadlines.watch(timeout_s, LambdaTimeout)   # in the invocation's thread
    try:
        run_handler()
    finally:
        guard.finish()
    if guard.timed_out: ...                              # the exception was (or is being) raised

``finish()`` and the watcher's expiry take the guard's lock, so an invocation that finishes
at its deadline is either finished (never interrupted) or timed out, never both.
"""

from __future__ import annotations

import ctypes
import heapq
import itertools
import threading
import time

# Finished guards wait in the heap until they reach its top; past this many, the heap is rebuilt without them.
_COMPACT_AT = 256


class Guard:
    """One invocation under watch: ``finish()`` when it returns; ``timed_out`` once it was interrupted."""

    __slots__ = ("thread_id", "exception", "finished", "timed_out", "_lock")

    def __init__(self, thread_id: int, exception: type[BaseException]) -> None:
        self.thread_id = thread_id
        self.exception = exception
        self.finished = False
        self.timed_out = False
        self._lock = threading.Lock()

    def finish(self) -> None:
        """The invocation is over: it will not be interrupted from now on (idempotent)."""
        with self._lock:
            self.finished = True

    def expire(self) -> None:
        """Interrupt the invocation's thread with ``exception`` unless it has finished."""
        with self._lock:
            if self.finished or self.timed_out:
                return
            self.timed_out = True
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.thread_id), ctypes.py_object(self.exception))


class Deadlines:
    """The deadlines of running invocations and the thread that enforces them."""

    def __init__(self, name: str = "stratus-timeouts") -> None:
        self._name = name
        self._heap: list[tuple[float, int, Guard]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._compact_at = _COMPACT_AT

    def watch(self, timeout_s: float, exception: type[BaseException]) -> Guard:
        """Interrupt the calling thread with ``exception`` if it has not finished within ``timeout_s``."""
        guard = Guard(threading.get_ident(), exception)
        entry = (time.monotonic() + timeout_s, next(self._seq), guard)
        with self._cond:
            if len(self._heap) >= self._compact_at:
                self._heap = [e for e in self._heap if not e[2].finished]
                heapq.heapify(self._heap)
                self._compact_at = max(_COMPACT_AT, 2 * len(self._heap))
            heapq.heappush(self._heap, entry)
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()
            elif self._heap[0] is entry:
                self._cond.notify()  # an earlier deadline than the watcher is sleeping towards
        return guard

    def close(self) -> None:
        """Stop the watcher (running invocations are no longer interrupted)."""
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _loop(self) -> None:
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                while self._heap and (self._heap[0][2].finished or self._heap[0][0] <= now):
                    _, _, guard = heapq.heappop(self._heap)
                    guard.expire()  # a no-op for a finished one
                self._cond.wait(self._heap[0][0] - now if self._heap else None)

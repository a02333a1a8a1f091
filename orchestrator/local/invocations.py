"""Where the local cloud runs asynchronous Lambda invocations: up to ``size`` at once, as many as the interpreter can use.

On AWS each invocation runs on a machine of its own. In process they share one interpreter
lock: invocations that all compute take turns, and every turn is a thread switch (a futex
wake-up; on a virtual machine often an exit to the hypervisor). Measured on a fresh
``stratus run`` of a 1,000-instance map: eight threads sharing the invocations ran 12% slower
than one (5.55 s against 4.87 s, CPU time alike; 16,000 against 7,200 context switches) for
the same AWS calls. So the pool admits invocations the way the interpreter can run them:

- one at a time while the running one computes: the thread that ends an invocation takes the
  next queued one itself, with no hand-over to another thread;
- one more while those running wait (``time.sleep``, a socket, a subprocess, a lock): while
  invocations queue for a turn, a watcher samples how long the pool's threads ran (or were ready
  to run) over ``WINDOW`` and admits one more when that is less than ``IDLE`` of it, up to ``size``. Tasks
  that sleep or wait on I/O overlap as on Lambda (eight 1-second sleeps take about a second);
- one fewer while those running together keep the interpreter busy (above ``BUSY``), down to one;
- one more whatever the CPU says when none has ended for ``PATIENCE``: a task that spins
  until another one's effect shows still sees that one start.

What differs from Lambda: a task that computes in C with the interpreter lock released (a
numpy kernel) does not get a second one beside it. The watcher's clock is what each of the
pool's threads spent on a CPU or waiting for one (Linux's ``/proc/self/task/<id>/schedstat``), so
a machine busy with other processes does not make computing invocations look idle; else each
thread's CPU time (``time.pthread_getcpuclockid``), else the process's.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class InvocationPool:
    """Jobs run on up to ``size`` threads, admitted as above; ``close`` drops those still queued."""

    WINDOW = 0.02  # seconds sampled before admitting one more
    IDLE = 0.5  # the pool's threads ran (or were ready to) less than this share of the window: they wait
    BUSY = 0.9  # more than this: they compute, and take turns
    PATIENCE = 1.0  # seconds without an invocation ending before one more is admitted anyway

    def __init__(self, size: int, name: str = "stratus-lambda") -> None:
        if size < 1:
            raise ValueError(f"an invocation pool needs at least one thread, not {size}")
        self.size = size
        self._name = name
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # workers wait here for a job and a turn
        self._watch = threading.Condition(self._lock)  # the watcher waits here while nothing queues
        self._jobs: collections.deque[Callable[[], None]] = collections.deque()
        self._threads: list[threading.Thread] = []
        self._parked = 0  # workers waiting on _work
        self._running = 0
        self._allowed = 1  # jobs that may run at once now
        self._ended = time.monotonic()  # when a job last ended
        self._watcher: threading.Thread | None = None
        self._watching = False  # the watcher is looking in (else parked until a job comes)
        self._closed = False
        self._clock = (_scheduled if _scheduled_available() else
                       _thread_cpu if _thread_cpu_available() else _process_cpu)

    @property
    def allowed(self) -> int:
        """How many invocations may run at once now (between 1 and ``size``)."""
        with self._lock:
            return self._allowed

    def submit(self, job: Callable[[], None]) -> None:
        """Queue ``job``; it runs when a turn is free. Raises ``RuntimeError`` after ``close``."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the local cloud's invocation pool is closed")
            self._jobs.append(job)
            if self._running < self._allowed:
                self._wake_worker()
            if not self._watching:  # the first job of a burst: the watcher looks in from now on
                self._start_watching()

    def close(self, wait: bool = True) -> None:
        """Drop the queued jobs; running ones finish (waited for with ``wait``)."""
        with self._lock:
            self._closed = True
            self._jobs.clear()
            self._work.notify_all()
            self._watch.notify_all()
            threads = list(self._threads)
        if wait:
            current = threading.current_thread()
            for thread in threads:
                if thread is not current:
                    thread.join()

    # -- with the lock held
    def _wake_worker(self) -> None:
        if self._parked:
            self._work.notify()
        elif len(self._threads) < self.size:
            thread = threading.Thread(target=self._work_loop, name=f"{self._name}_{len(self._threads)}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _start_watching(self) -> None:
        self._watching = True
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch_loop, name=f"{self._name}-watch", daemon=True)
            self._watcher.start()
        else:
            self._watch.notify()

    def _waiting(self) -> bool:
        """Jobs queue for a turn: all the turns allowed now are taken."""
        return bool(self._jobs) and self._running >= self._allowed

    def _cpu(self) -> float:
        return self._clock(self._threads)

    # -- the threads
    def _work_loop(self) -> None:
        with self._lock:
            while True:
                while not self._closed and not (self._jobs and self._running < self._allowed):
                    self._parked += 1
                    self._work.wait()
                    self._parked -= 1
                if self._closed:
                    return
                job = self._jobs.popleft()
                self._running += 1
                if self._jobs and self._running < self._allowed:
                    self._wake_worker()  # a turn is still free: a parked worker woken once may have been needed twice
                self._lock.release()
                try:
                    job()
                except BaseException:  # a job reports its own failures (a late LambdaTimeout too): the thread lives on
                    log.exception("local cloud: an invocation job failed")
                finally:
                    self._lock.acquire()
                    self._running -= 1
                    self._ended = time.monotonic()
                    if not self._running and not self._jobs:
                        self._allowed = 1  # the next burst starts from one again

    def _watch_loop(self) -> None:
        # It looks in every WINDOW while the pool has work, rather than being woken whenever a
        # job queues: in a chain every task queues the next one while it runs, and a wake-up
        # each time would cost the thread switch this pool is here to save.
        with self._lock:
            while not self._closed:
                if not self._running and not self._jobs:
                    self._watching = False
                    self._watch.wait()  # the next burst's first submit wakes it
                    continue
                cpu, started = self._cpu(), time.monotonic()
                self._watch.wait(self.WINDOW)
                if self._closed or not self._waiting():
                    continue
                now = time.monotonic()
                used = (self._cpu() - cpu) / max(now - started, 1e-6)
                if used < self.IDLE or now - self._ended > self.PATIENCE:
                    if self._allowed < self.size:
                        self._allowed += 1
                        self._wake_worker()
                elif used > self.BUSY and self._allowed > 1:
                    self._allowed -= 1


def _schedstat(native_id: int) -> float:
    """Seconds the thread ran on a CPU plus seconds it waited for one (runnable, not running)."""
    with open(f"/proc/self/task/{native_id}/schedstat", "rb") as fh:
        ran, waited = fh.read().split()[:2]
    return (int(ran) + int(waited)) / 1e9


def _cpu_clock(ident: int) -> float:
    return time.clock_gettime(time.pthread_getcpuclockid(ident))


def _available(read: Callable[[int], float], ident: int) -> bool:
    try:
        read(ident)
    except (AttributeError, OSError, ValueError):  # not Linux (schedstat), or macOS/Windows (no pthread clock id)
        return False
    return True


def _scheduled_available() -> bool:
    return _available(_schedstat, threading.get_native_id())


def _thread_cpu_available() -> bool:
    return _available(_cpu_clock, threading.get_ident())


def _total(threads: list[threading.Thread], read: Callable[[int], float], id_attr: str) -> float:
    total = 0.0
    for thread in threads:
        ident = getattr(thread, id_attr)
        if ident is None or not thread.is_alive():  # only a live thread's id names its clock
            continue
        try:
            total += read(ident)
        except (OSError, ValueError):  # the thread has just ended
            continue
    return total


def _scheduled(threads: list[threading.Thread]) -> float:
    return _total(threads, _schedstat, "native_id")


def _thread_cpu(threads: list[threading.Thread]) -> float:
    return _total(threads, _cpu_clock, "ident")


def _process_cpu(threads: list[threading.Thread]) -> float:
    return time.process_time()

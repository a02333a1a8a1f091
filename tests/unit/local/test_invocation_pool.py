"""orchestrator.local.invocations: one invocation at a time while they compute, more while they wait."""

from __future__ import annotations

import threading
import time

import pytest

from orchestrator.local.invocations import InvocationPool

SAFETY_S = 20.0  # never reached when the pool works; keeps a broken pool from hanging the suite


class Tracker:
    """How many jobs ran at once, at most, and on which threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.threads: set[int] = set()
        self.done = threading.Semaphore(0)

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.threads.add(threading.get_ident())

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.now -= 1
        self.done.release()

    def wait(self, n: int) -> None:
        for _ in range(n):
            assert self.done.acquire(timeout=SAFETY_S), "a job never ended"


def _compute(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


@pytest.fixture
def pool() -> InvocationPool:
    made = InvocationPool(8)
    yield made
    made.close()


def test_jobs_that_compute_run_one_at_a_time_on_one_thread(pool: InvocationPool) -> None:
    tracker = Tracker()

    def job() -> None:
        with tracker:
            _compute(0.005)

    for _ in range(40):
        pool.submit(job)
    tracker.wait(40)
    assert tracker.most == 1
    assert len(tracker.threads) == 1  # the thread that ends one takes the next: no hand-over


def test_jobs_that_wait_for_each_other_all_get_to_run(pool: InvocationPool) -> None:
    # Eight invocations that each wait for all the others: on Lambda they run side by side; a
    # pool that kept them one at a time would never let the barrier open.
    barrier = threading.Barrier(8, timeout=SAFETY_S)
    tracker = Tracker()
    broken: list[BaseException] = []

    def job() -> None:
        with tracker:
            try:
                barrier.wait()
            except threading.BrokenBarrierError as exc:
                broken.append(exc)

    for _ in range(8):
        pool.submit(job)
    tracker.wait(8)
    assert not broken
    assert tracker.most == 8


def test_no_more_than_size_at_once() -> None:
    pool = InvocationPool(3)
    tracker = Tracker()
    release = threading.Event()
    try:
        for _ in range(6):
            pool.submit(lambda: (tracker.__enter__(), release.wait(SAFETY_S), tracker.__exit__()))
        deadline = time.monotonic() + SAFETY_S
        while pool.allowed < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(3 * InvocationPool.WINDOW)  # the watcher could admit a fourth now, if it would
        release.set()
        tracker.wait(6)
    finally:
        pool.close()
    assert tracker.most == 3


def test_a_job_spinning_for_another_ones_effect_still_sees_it_run(pool: InvocationPool) -> None:
    # It computes all along, so the CPU never looks idle: PATIENCE admits the other one.
    flag = threading.Event()
    tracker = Tracker()

    def spinner() -> None:
        with tracker:
            deadline = time.monotonic() + SAFETY_S
            while not flag.is_set() and time.monotonic() < deadline:
                _compute(0.001)

    def setter() -> None:
        with tracker:
            flag.set()

    pool.submit(spinner)
    pool.submit(setter)
    tracker.wait(2)
    assert flag.is_set()


def test_back_to_one_at_a_time_once_idle(pool: InvocationPool) -> None:
    barrier = threading.Barrier(4, timeout=SAFETY_S)
    tracker = Tracker()
    for _ in range(4):
        pool.submit(lambda: (tracker.__enter__(), barrier.wait(), tracker.__exit__()))
    tracker.wait(4)
    assert tracker.most == 4
    assert pool.allowed == 1


def test_a_failing_job_leaves_the_pool_working(pool: InvocationPool) -> None:
    tracker = Tracker()

    def bad() -> None:
        with tracker:
            raise RuntimeError("boom")

    def good() -> None:
        with tracker:
            pass

    pool.submit(bad)
    pool.submit(good)
    tracker.wait(2)


def test_close_drops_queued_jobs_waits_for_running_ones_and_refuses_more() -> None:
    pool = InvocationPool(1)
    started, release = threading.Event(), threading.Event()
    ran: list[str] = []

    def first() -> None:
        started.set()
        release.wait(SAFETY_S)
        ran.append("first")

    pool.submit(first)
    pool.submit(lambda: ran.append("queued"))
    assert started.wait(SAFETY_S)
    closer = threading.Thread(target=pool.close)
    closer.start()
    time.sleep(0.05)
    assert closer.is_alive()  # waiting for the running job
    release.set()
    closer.join(SAFETY_S)
    assert ran == ["first"]
    with pytest.raises(RuntimeError, match="closed"):
        pool.submit(lambda: None)


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least one"):
        InvocationPool(0)


def test_jobs_arriving_together_after_a_wide_phase_all_get_turns() -> None:
    # Three turns allowed (three jobs waited side by side), one of them still running, workers
    # parked: two jobs that need each other arrive together. Both must run beside the long one,
    # without waiting for it to end.
    pool = InvocationPool(8)
    hold, release_one = threading.Event(), threading.Event()
    started = threading.Semaphore(0)
    try:
        def long() -> None:
            started.release()
            hold.wait(SAFETY_S)

        def short() -> None:
            started.release()
            release_one.wait(SAFETY_S)

        pool.submit(long)
        pool.submit(short)
        pool.submit(short)
        for _ in range(3):
            assert started.acquire(timeout=SAFETY_S)
        release_one.set()  # the two short ones end; the long one runs on; three turns stay allowed
        deadline = time.monotonic() + SAFETY_S
        while pool._running != 1 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert pool.allowed == 3
        barrier = threading.Barrier(2, timeout=SAFETY_S)
        met: list[bool] = []

        def pair() -> None:
            try:
                barrier.wait()
                met.append(True)
            except threading.BrokenBarrierError:
                met.append(False)
            started.release()

        pool.submit(pair)
        pool.submit(pair)
        for _ in range(2):
            assert started.acquire(timeout=SAFETY_S)
        assert met == [True, True]
    finally:
        hold.set()
        pool.close()

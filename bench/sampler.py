"""A small sampling profiler over every thread (cProfile sees one thread; the local cloud runs handlers on many).

A background thread reads ``sys._current_frames()`` every ``interval`` seconds and counts, for
each function (``file:line name``), the samples where it is on the stack (inclusive) and where
it is the innermost frame (self). ``top()`` lists the hottest functions, optionally only those
whose file path contains one of ``only`` (for example ``("orchestrator/", "moto/")``).

Example::

    with StackSampler() as sampler:
        run_something()
    print(sampler.report(only=("orchestrator/",)))
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from pathlib import Path
from types import FrameType

REPO = Path(__file__).resolve().parent.parent
# A thread whose innermost frame is in one of these is waiting, not working: its sample is dropped.
_IDLE_FILES = ("threading.py", "queue.py", "selectors.py", "concurrent/futures/thread.py")


def _where(frame: FrameType) -> str:
    code = frame.f_code
    path = code.co_filename
    for marker in ("site-packages/",):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    else:
        try:
            path = str(Path(path).resolve().relative_to(REPO))
        except ValueError:
            pass
    return f"{path}:{code.co_firstlineno} {code.co_name}"


class StackSampler:
    """Samples every thread's stack (except its own) until stopped."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.inclusive: Counter[str] = Counter()
        self.self_time: Counter[str] = Counter()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-sampler", daemon=True)

    def __enter__(self) -> StackSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        me = threading.get_ident()
        while not self._stop.is_set():
            for ident, frame in sys._current_frames().items():
                if ident == me or frame.f_code.co_filename.endswith(_IDLE_FILES):
                    continue
                seen: set[str] = set()
                innermost = True
                f: FrameType | None = frame
                while f is not None:
                    key = _where(f)
                    if innermost:
                        self.self_time[key] += 1
                        innermost = False
                    if key not in seen:
                        self.inclusive[key] += 1
                        seen.add(key)
                    f = f.f_back
                self.samples += 1
            time.sleep(self.interval)

    def top(self, n: int = 15, only: tuple[str, ...] = (), by: str = "inclusive") -> list[tuple[str, int, float]]:
        """The ``n`` hottest functions as (where, samples, share of all thread samples)."""
        counts = self.inclusive if by == "inclusive" else self.self_time
        total = max(1, self.samples)
        rows = [(k, v) for k, v in counts.items() if not only or any(o in k for o in only)]
        rows.sort(key=lambda kv: -kv[1])
        return [(k, v, v / total) for k, v in rows[:n]]

    def report(self, n: int = 15, only: tuple[str, ...] = ()) -> str:
        lines = [f"{self.samples} samples of busy threads (threads waiting on a lock, queue or socket are left out)", "",
                 "inclusive (on the stack):"]
        lines += [f"  {share:6.1%}  {where}" for where, _, share in self.top(n, only, "inclusive")]
        lines += ["", "self (innermost frame):"]
        lines += [f"  {share:6.1%}  {where}" for where, _, share in self.top(n, only, "self")]
        return "\n".join(lines) + "\n"

"""Live progress of a run on the local cloud (`stratus run`, `stratus demo`)."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Iterable, TextIO

from orchestrator.local.report import expected_instances, progress


def follow(cloud: Any, store: Any, plan: Any, run_id: str, out: TextIO, timeout: float,
           final: Callable[[], Iterable[dict[str, Any]]] | None = None) -> None:
    """Show a run's progress until the cloud is idle: in place on a TTY, one line per change otherwise.

    ``final``: what the caller reads of the run's task instances once it is idle (items with
    their ``state``); the last line counts those instead of reading every state once more.
    Raises what ``cloud.wait_idle(timeout)`` raised (``LocalCloudError`` on a timeout).
    """
    dag_id = plan.dag_id
    mapped = [s.task_id for s in plan.steps if getattr(s, "mapping", None) is not None]

    done = threading.Event()
    failure: list[BaseException] = []

    def wait() -> None:
        try:
            cloud.wait_idle(timeout)
        except BaseException as exc:  # surfaced in the main thread
            failure.append(exc)
        finally:
            done.set()

    threading.Thread(target=wait, daemon=True, name="stratus-run-wait").start()
    tty = bool(getattr(out, "isatty", lambda: False)())
    last = ""
    interval = 0.5
    while True:
        finished = done.wait(interval)
        started, cpu = time.monotonic(), time.thread_time()
        run = store.get_run(dag_id, run_id) if mapped else None
        expected = expected_instances(run, mapped, len(plan.steps))
        if finished and final is not None and not failure:
            line = progress(final(), expected).line()
        else:
            line = progress(({"state": s} for s in store.ti_states(dag_id, run_id)), expected).line()
        # Polling must not slow the run it shows. In this process (``stratus run``) every task
        # instance read costs the local cloud's CPU, which the tasks share: at most ~2.5% of it.
        # Against a running ``stratus dev`` the reads cost that process: at most ~1/6 of the time.
        # The run's end is shown at once whatever the interval (``done`` wakes the wait).
        interval = max(0.5, 40 * (time.thread_time() - cpu), 5 * (time.monotonic() - started))
        if line != last:
            out.write(("\r" + line + "\033[K") if tty else line + "\n")
            out.flush()
            last = line
        if finished:
            break
    if tty:
        out.write("\n")
    if failure:
        raise failure[0]

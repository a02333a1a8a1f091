"""Task logging as in Airflow: ``self.log`` of an operator and the loggers a task body uses.

Airflow shows ``self.log.info(...)`` lines in the task log. A Lambda's root logger drops INFO,
so this logger has its own handler that writes each line to the current ``sys.stdout`` (what
the worker captures into the task's CloudWatch log stream) and does not propagate.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any

LOGGER_NAME = "airflow.task"
FORMAT = "[%(asctime)s] {%(filename)s:%(lineno)d} %(levelname)s - %(message)s"


class _StdoutHandler(logging.Handler):
    # sys.stdout is looked up per line: the local cloud and tests swap it while a task runs.
    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
            sys.stdout.flush()
        except Exception:  # noqa: BLE001 - logging must never fail the task
            self.handleError(record)


def task_logger() -> logging.Logger:
    """The ``airflow.task`` logger. The worker's telemetry gives it its JSON handler before a task
    body runs (``orchestrator.telemetry.configure_task_logger``); elsewhere it gets a plain one to stdout here."""
    logger = logging.getLogger(LOGGER_NAME)
    if not logger.handlers:
        handler = _StdoutHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


_LOCK = threading.Lock()
_TASK_THREADS: dict[int, int] = {}  # thread id -> nesting depth of running task bodies
_SAVED: dict[str, Any] = {}


class _TaskThreadsOnly(logging.Filter):
    # Only lines logged by a thread that is running a task body: the local cloud runs several
    # invocations (and moto's server) in one process.
    def filter(self, record: logging.LogRecord) -> bool:
        # Stratus's own lines (the "stratus" Powertools logger propagates) have their own handler.
        if record.name == "stratus" or record.name.startswith(("stratus.", LOGGER_NAME)):
            return False
        return record.thread in _TASK_THREADS


@contextlib.contextmanager
def task_logging() -> Iterator[None]:
    """While a task body runs, INFO lines of any logger reach the task's log, as in Airflow.

    The root logger is lowered to INFO (Lambda's runtime leaves it at WARNING); when it has no
    handler (the local cloud), one that writes the task threads' lines to stdout is added. Both
    are undone when the last running task body ends.
    """
    ident = threading.get_ident()
    with _LOCK:
        if not _TASK_THREADS:
            root = logging.getLogger()
            _SAVED["level"] = root.level
            if root.level == logging.NOTSET or root.level > logging.INFO:
                root.setLevel(logging.INFO)
            if not root.handlers:
                handler = _StdoutHandler()
                handler.setFormatter(logging.Formatter(FORMAT))
                handler.addFilter(_TaskThreadsOnly())
                root.addHandler(handler)
                _SAVED["handler"] = handler
        _TASK_THREADS[ident] = _TASK_THREADS.get(ident, 0) + 1
    try:
        yield
    finally:
        with _LOCK:
            depth = _TASK_THREADS.pop(ident, 1) - 1
            if depth > 0:
                _TASK_THREADS[ident] = depth
            if not _TASK_THREADS:
                root = logging.getLogger()
                handler = _SAVED.pop("handler", None)
                if handler is not None:
                    root.removeHandler(handler)
                root.setLevel(_SAVED.pop("level", logging.WARNING))

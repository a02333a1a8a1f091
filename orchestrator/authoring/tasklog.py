"""``self.log`` of an operator: Airflow's ``airflow.task`` logger, written to the task's output.

Airflow shows ``self.log.info(...)`` lines in the task log. A Lambda's root logger drops INFO,
so this logger has its own handler that writes each line to the current ``sys.stdout`` (what
the worker captures into the task's CloudWatch log stream) and does not propagate.
"""

from __future__ import annotations

import logging
import sys

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
    """The ``airflow.task`` logger (INFO and above, to stdout), set up once per process."""
    logger = logging.getLogger(LOGGER_NAME)
    if not any(isinstance(h, _StdoutHandler) for h in logger.handlers):
        handler = _StdoutHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger

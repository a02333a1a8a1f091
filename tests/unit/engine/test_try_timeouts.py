"""One number bounds a task try: the worker function's timeout (or the task's lower one)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from orchestrator import DAG, EmptyOperator
from orchestrator.engine import worker
from orchestrator.plan.compiler import compile_dag
from orchestrator.plan.validate import timeouts_within


def _plan():
    with DAG("timeouts", schedule=None, start_date=datetime(2026, 1, 1)) as d:
        EmptyOperator(task_id="plain")
        EmptyOperator(task_id="exec_600", execution_timeout=timedelta(seconds=600))
        EmptyOperator(task_id="lambda_300", lambda_timeout=300)
        EmptyOperator(task_id="both", lambda_timeout=300, execution_timeout=timedelta(seconds=100))
    return compile_dag(d)


@pytest.mark.parametrize(("worker_timeout", "task_id", "expected"), [
    ("900", "plain", (890.0, "the worker function's timeout")),
    ("900", "exec_600", (600.0, "execution_timeout")),
    ("900", "lambda_300", (290.0, "lambda_timeout")),
    ("900", "both", (100.0, "execution_timeout")),
    ("120", "exec_600", (110.0, "the worker function's timeout")),  # registered before WorkerTimeout was lowered
    ("120", "lambda_300", (110.0, "the worker function's timeout")),
    ("3", "plain", (2.4, "the worker function's timeout")),
    ("", "plain", (890.0, "the worker function's timeout")),  # unknown: Lambda's maximum
])
def test_the_body_never_runs_past_the_worker_functions_timeout(monkeypatch, worker_timeout, task_id, expected):
    monkeypatch.setenv("STRATUS_WORKER_TIMEOUT", worker_timeout)
    step = _plan().step(task_id)
    budget, setting = worker.body_timeout_s(step)
    assert (round(budget, 3), setting) == expected
    # the sweeper's deadline comes from the same limit
    assert worker._timeout_s(step) == min(int(worker_timeout or 900), step.target.timeout_s or 900)


def test_timeouts_longer_than_the_worker_function_are_refused_naming_dag_task_and_setting():
    problems = timeouts_within(_plan(), 120)
    assert len(problems) == 3
    assert problems[0].startswith("Task 'exec_600' in DAG 'timeouts' (")
    assert ("execution_timeout is 600 s, longer than the worker function's timeout of 120 s (template parameter "
            "WorkerTimeout), so Lambda would stop the try first. Lower execution_timeout or deploy with WorkerTimeout "
            "of at least 600 (900 at most).") in problems[0]
    assert any("Task 'lambda_300'" in p and "lambda_timeout is 300 s" in p for p in problems)
    assert timeouts_within(_plan(), 900) == []

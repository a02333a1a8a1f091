"""Task logs: captured per invocation into moto's CloudWatch Logs, read back by run, task and try."""

from __future__ import annotations

import json
import sys
import threading
import time

import boto3
import pytest
from moto import mock_aws

from orchestrator.errors import NotFoundError
from orchestrator import telemetry
from orchestrator.observe.logs import (
    capture_invocation,
    function_log_group,
    new_log_stream_name,
    put_invocation_logs,
    select_try_lines,
    task_log_lines,
)

RUN = "manual__2026-01-01T00:00:00+00:00"


@pytest.fixture
def logs(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("logs", region_name="us-east-1")


def _invoke(logs, try_number: int, fail: bool) -> str:
    """What the local cloud does around one worker invocation."""
    stream = new_log_stream_name()
    with capture_invocation() as lines:
        with telemetry.task_log_context("sales", RUN, "load", -1, try_number) as task_logger:
            print("plain print from the task")
            task_logger.info("loading rows")
            if fail:
                telemetry.logger.error("task failed")
    put_invocation_logs(logs, "worker", stream, f"req-{try_number}", lines, started_ms=int(time.time() * 1000) + try_number * 100)
    return stream


def test_capture_is_per_thread(capsys):
    seen: dict[str, list[str]] = {}

    def work(name: str) -> None:
        with capture_invocation() as lines:
            print(f"line from {name}")
        seen[name] = lines

    threads = [threading.Thread(target=work, args=(n,)) for n in ("a", "b")]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    print("main thread line")
    assert seen == {"a": ["line from a"], "b": ["line from b"]}
    assert "main thread line" in capsys.readouterr().out


def test_lines_of_one_try_are_found_by_stream_and_keys(logs):
    s1 = _invoke(logs, 1, fail=True)
    s2 = _invoke(logs, 2, fail=False)
    ti = {"task_id": "load", "map_index": -1, "try_number": 2, "log_stream": s2,
          "history": [{"try_number": 1, "state": "up_for_retry", "log_stream": s1}]}
    group = function_log_group("worker")
    first = [line.render() for line in task_log_lines(logs, group, ti, run_id=RUN, try_number=1)]
    assert any(x.endswith("INFO loading rows") for x in first)
    assert any(x.endswith("ERROR task failed") for x in first)
    assert any(x.endswith(" plain print from the task") for x in first)  # untagged lines of the same invocation come along
    latest = [line.render() for line in task_log_lines(logs, group, ti, run_id=RUN)]
    assert not any("task failed" in x for x in latest) and any("loading rows" in x for x in latest)
    stream_names = [s["logStreamName"] for s in logs.describe_log_streams(logGroupName=group)["logStreams"]]
    assert sorted(stream_names) == sorted([s1, s2])


def test_without_recorded_stream_the_group_is_filtered(logs):
    _invoke(logs, 1, fail=True)
    ti = {"task_id": "load", "map_index": -1, "try_number": 1}
    lines = task_log_lines(logs, function_log_group("worker"), ti, run_id=RUN)
    assert any("loading rows" in line.render() for line in lines)


def test_unknown_try_and_missing_group(logs):
    ti = {"task_id": "load", "map_index": -1, "try_number": 1, "log_stream": "x"}
    with pytest.raises(NotFoundError, match=r"Task 'load' of run '.*' has no try 3 \(tries so far: 1\)"):
        task_log_lines(logs, "/aws/lambda/worker", ti, run_id=RUN, try_number=3)
    with pytest.raises(NotFoundError, match=r"log group '/aws/lambda/nope' or stream 'x' does not exist"):
        task_log_lines(logs, "/aws/lambda/nope", ti, run_id=RUN)


def test_select_try_lines_matches_map_index():
    def line(mi: int, msg: str) -> dict:
        return {"timestamp": 1, "message": json.dumps({"run_id": RUN, "task_id": "t", "try_number": 1, "map_index": mi, "message": msg})}

    events = [line(0, "zero"), line(1, "one")]
    assert [x.fields["message"] for x in select_try_lines(events, RUN, "t", 1, 1)] == ["one"]
    assert select_try_lines(events, RUN, "t", 2, 1) == []


def test_unframed_stream_is_one_invocation_but_group_lines_are_matched_one_by_one():
    tagged = json.dumps({"run_id": RUN, "task_id": "load", "try_number": 1, "map_index": -1, "message": "m"})
    events = [{"timestamp": 1, "message": "bare print"}, {"timestamp": 2, "message": tagged}]
    assert [x.message for x in select_try_lines(events, RUN, "load", 1, one_stream=True)] == ["bare print", tagged]
    assert [x.message for x in select_try_lines(events, RUN, "load", 1)] == [tagged]


def test_emf_metric_documents_are_not_shown_as_log_lines():
    tagged = json.dumps({"run_id": RUN, "task_id": "load", "try_number": 1, "map_index": -1, "message": "m"})
    emf = json.dumps({"_aws": {"Timestamp": 1, "CloudWatchMetrics": []}, "DagId": "d", "run_id": RUN,
                      "TasksSucceeded": [1.0]})
    events = [{"timestamp": 1, "message": tagged}, {"timestamp": 2, "message": emf},
              {"timestamp": 3, "message": "a print"}]
    assert [x.message for x in select_try_lines(events, RUN, "load", 1, one_stream=True)] == [tagged, "a print"]


def test_render_shows_exception_and_error_fields():
    from orchestrator.observe.logs import LogLine

    line = LogLine(timestamp=0, message="{}", fields={"level": "ERROR", "message": "failed", "error": "Traceback\nValueError: x"})
    assert line.render() == "1970-01-01T00:00:00.000Z ERROR failed\nTraceback\nValueError: x"
    # a printed line carries its own time too
    assert LogLine(timestamp=1500, message="plain\n", fields=None).render() == "1970-01-01T00:00:01.500Z plain"
    both = LogLine(timestamp=0, message="{}", fields={"level": "ERROR", "message": "failed",
                                                      "exception": "Traceback\nValueError: x",
                                                      "error": "Traceback\nValueError: x"})
    assert both.render().count("Traceback") == 1  # a failed try's traceback is shown once


def test_render_in_the_dags_time_zone():
    from zoneinfo import ZoneInfo

    from orchestrator.observe.logs import LogLine

    line = LogLine(timestamp=0, message="x", fields=None)
    assert line.render(ZoneInfo("Europe/Berlin")) == "1970-01-01T01:00:00.000+01:00 x"

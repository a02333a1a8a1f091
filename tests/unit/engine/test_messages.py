from __future__ import annotations

import pytest

from orchestrator.engine.messages import OnFailureRecord, RetryMessage, SweepEvent, TaskMessage, parse_conductor_message
from orchestrator.errors import EventError

TASK = {"dag_id": "d", "run_id": "r", "task_id": "t", "map_index": -1, "try_number": 1, "plan_hash": "h"}


def test_parse_each_conductor_input():
    assert isinstance(parse_conductor_message('{"kind": "sweep"}'), SweepEvent)
    retry = parse_conductor_message({"kind": "retry", "task": TASK})
    assert isinstance(retry, RetryMessage) and retry.task.task_id == "t"
    rec = parse_conductor_message({"requestContext": {"condition": "RetriesExhausted"}, "requestPayload": TASK,
                                   "responsePayload": {"errorType": "Runtime.ExitError", "errorMessage": "killed"}})
    assert isinstance(rec, OnFailureRecord) and rec.task() == TaskMessage(**TASK)
    assert rec.error_text() == "Runtime.ExitError: killed"
    bare = OnFailureRecord(requestContext={"condition": "EventAgeExceeded"}, requestPayload=TASK)
    assert bare.error_text() == "The worker invocation was never run (event age exceeded)."


@pytest.mark.parametrize("body,match", [
    ("{nope", "Conductor message is not JSON"),
    ("[1]", "must be a JSON object, got list"),
    ('{"kind": "retry"}', "Malformed conductor message \\(retry\\)"),
    ('{"hello": 1}', "Unknown conductor message: expected"),
])
def test_bad_conductor_messages(body, match):
    with pytest.raises(EventError, match=match):
        parse_conductor_message(body)


def test_task_message_describe():
    assert TaskMessage(**{**TASK, "map_index": 4}).describe() == "task 't'[4] try 1 of run 'r' (DAG 'd')"

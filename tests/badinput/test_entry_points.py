"""One parametrised test per entry point over its bad-input corpus (see conftest.py)."""

from __future__ import annotations

import json
import re

import pytest

from badinput_corpus import cases, run_case


def _check(text: str, case) -> None:
    assert re.search(case.match, text), f"{case.name}: expected /{case.match}/ in:\n{text[:2000]}"


@pytest.mark.parametrize("case", cases("s3_events"))
def test_trigger_rejects_bad_s3_events(deployed, case, capsys):
    response, error, text = run_case(deployed, "trigger", case, capsys)
    assert error is not None or (isinstance(response, dict) and response.get("started") == []), response
    _check(text, case)


@pytest.mark.parametrize("case", cases("schedule_events"))
def test_trigger_rejects_bad_schedule_fires(deployed, case, capsys):
    response, error, text = run_case(deployed, "trigger", case, capsys)
    assert error is not None or (isinstance(response, dict) and not response.get("created")), response
    _check(text, case)


@pytest.mark.parametrize("case", cases("http_api"))
def test_http_api_answers_bad_requests_with_4xx(deployed, case, capsys):
    response, error, text = run_case(deployed, "api", case, capsys)
    assert error is None, f"the API must answer, not raise: {error!r}"
    assert 400 <= response["statusCode"] < 500, response
    assert json.loads(response["body"])["status"] == response["statusCode"]
    _check(text, case)


@pytest.mark.parametrize("case", cases("sqs_messages"))
def test_conductor_drops_or_returns_bad_sqs_messages(deployed, case, capsys):
    response, error, text = run_case(deployed, "conductor", case, capsys)
    assert error is None, f"an SQS batch must get a batch response, not raise: {error!r}"
    assert set(response) == {"batchItemFailures"}
    _check(text, case)


@pytest.mark.parametrize("case", cases("onfailure_records"))
def test_conductor_handles_bad_onfailure_records(deployed, case, capsys):
    # OnFailure records arrive through the conductor's SQS queue: wrap each as a batch of one.
    batch = {"Records": [{"messageId": "m0", "receiptHandle": "h", "body": json.dumps(case.event),
                          "attributes": {}, "messageAttributes": {}, "md5OfBody": "x", "eventSource": "aws:sqs",
                          "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:failures", "awsRegion": "us-east-1"}]}
    direct = case.name.startswith("direct_")
    wrapped = case if direct else type(case)(**{**case.__dict__, "event": batch})
    response, error, text = run_case(deployed, "conductor", wrapped, capsys)
    assert direct or error is None, f"an SQS batch must get a batch response, not raise: {error!r}"
    _check(text, case)


@pytest.mark.parametrize("case", cases("worker_messages"))
def test_worker_refuses_bad_task_messages(deployed, case, capsys):
    response, error, text = run_case(deployed, "worker", case, capsys)
    # Raising is right here: Lambda retries, then the OnFailure record reaches the conductor.
    assert error is not None or (isinstance(response, dict) and response.get("status") in ("ignored", "duplicate"))
    _check(text, case)


@pytest.mark.parametrize("case", cases("widget_events"))
def test_widget_answers_bad_events_with_escaped_html(deployed, case, capsys):
    response, error, text = run_case(deployed, "widget", case, capsys)
    assert error is None and isinstance(response, str), error
    assert "<script>" not in response and "<img src=x" not in response
    _check(text, case)


@pytest.mark.parametrize("case", cases("widget_actions"))
def test_widget_actions_function_checks_every_action(deployed, case, capsys):
    """The separately authorised actions function (WidgetActions=on): hostile actions refused, nothing stored."""
    response, error, text = run_case(deployed, "widget:action_handler", case, capsys)
    assert error is None and isinstance(response, str), error
    assert "<script>" not in response and "<img src=x" not in response
    _check(text, case)

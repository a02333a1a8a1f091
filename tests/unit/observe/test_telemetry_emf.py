"""The EMF lines the functions print: parsed back as JSON, checked like CloudWatch would."""

from __future__ import annotations

import json

import pytest

from orchestrator.constants import METRICS_NAMESPACE
from orchestrator import telemetry as t


def _emf_lines(out: str) -> list[dict]:
    docs = [json.loads(line) for line in out.splitlines() if line.strip()]
    return [d for d in docs if "_aws" in d]


@pytest.mark.parametrize(
    ("call", "name", "unit", "value"),
    [
        (lambda: t.run_started("sales", "r1"), "RunsStarted", "Count", 1.0),
        (lambda: t.run_succeeded("sales", "r1"), "RunsSucceeded", "Count", 1.0),
        (lambda: t.run_failed("sales", "r1"), "RunsFailed", "Count", 1.0),
        (lambda: t.task_succeeded("sales", "load", "r1"), "TasksSucceeded", "Count", 1.0),
        (lambda: t.task_failed("sales", "load", "r1"), "TasksFailed", "Count", 1.0),
        (lambda: t.task_retried("sales", "load", "r1"), "TasksRetried", "Count", 1.0),
        (lambda: t.task_duration("sales", "load", 1234.5, "r1"), "TaskDuration", "Milliseconds", 1234.5),
        (lambda: t.scheduling_delay("sales", "load", 87, "r1"), "SchedulingDelay", "Milliseconds", 87.0),
    ],
)
def test_each_helper_prints_one_emf_line_with_dag_dimension(capsys, monkeypatch, call, name, unit, value):
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    call()
    [doc] = _emf_lines(capsys.readouterr().out)
    [directive] = doc["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == METRICS_NAMESPACE == "Stratus"
    assert directive["Dimensions"] == [["DagId", "service"]]
    assert doc["service"] == "stratus"
    assert directive["Metrics"] == [{"Name": name, "Unit": unit}]
    assert isinstance(doc["_aws"]["Timestamp"], int)
    assert doc["DagId"] == "sales"
    assert doc[name] == [value]
    assert doc["run_id"] == "r1"
    assert name in t.METRIC_NAMES


def test_task_metrics_carry_task_id_as_property_not_dimension(capsys):
    t.task_failed("sales", "load", run_id="r9")
    [doc] = _emf_lines(capsys.readouterr().out)
    assert doc["task_id"] == "load"
    assert ["DagId", "service"] == doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]


def test_dags_do_not_share_dimension_values(capsys):
    t.run_failed("a")
    t.run_failed("b")
    docs = _emf_lines(capsys.readouterr().out)
    assert [d["DagId"] for d in docs] == ["a", "b"]
    assert "run_id" not in docs[0]


def test_dimension_set_is_the_same_with_lambda_service_env(capsys, monkeypatch):
    # On Lambda POWERTOOLS_SERVICE_NAME is set; the dimension set must not change with it.
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "stratus")
    t.run_started("sales")
    [doc] = _emf_lines(capsys.readouterr().out)
    assert doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["DagId", "service"]]


def test_powertools_switch_disables_metrics(capsys, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    t.run_started("sales")
    assert _emf_lines(capsys.readouterr().out) == []


def test_millis_between():
    assert t.millis_between("2026-01-01T00:00:00+00:00", "2026-01-01T00:00:01.5+00:00") == 1500.0
    assert t.millis_between(None, "2026-01-01T00:00:00+00:00") is None


def test_task_log_context_tags_lines_with_try_keys_and_removes_them(capsys):
    with t.task_log_context("sales", "r1", "load", 3, 2) as task_logger:
        task_logger.info("from the task")
        t.logger.info("from stratus")
    t.logger.info("outside")
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    inside = [x for x in lines if x["message"] in ("from the task", "from stratus")]
    assert len(inside) == 2
    for line in inside:
        assert (line["dag_id"], line["run_id"], line["task_id"], line["map_index"], line["try_number"]) == (
            "sales", "r1", "load", 3, 2)
        assert line["service"] == "stratus"
    [outside] = [x for x in lines if x["message"] == "outside"]
    assert "run_id" not in outside


def test_task_log_context_keys_are_per_thread(capsys):
    import threading

    inside = threading.Event()
    done = threading.Event()

    def other_try() -> None:
        with t.task_log_context("sales", "r1", "extract", -1, 1):
            inside.set()
            done.wait(5)
        # leaving this try must not strip the keys of the try still running in the main thread

    worker = threading.Thread(target=other_try)
    with t.task_log_context("sales", "r1", "load", -1, 1):
        worker.start()
        inside.wait(5)
        done.set()
        worker.join(5)
        t.logger.error("load failed")
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"load failed"' in x]
    assert (line["task_id"], line["try_number"]) == ("load", 1)


def test_task_logger_stays_usable_when_another_try_ends_first(capsys):
    import threading

    inside = threading.Event()
    done = threading.Event()

    def other_try() -> None:
        with t.task_log_context("sales", "r1", "extract", -1, 1):
            inside.set()
            done.wait(5)

    worker = threading.Thread(target=other_try)
    with t.task_log_context("sales", "r1", "load", -1, 1) as task_log:
        worker.start()
        inside.wait(5)
        done.set()
        worker.join(5)
        task_log.info("task started")
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"task started"' in x]
    assert [(x["task_id"], x["level"]) for x in lines] == [("load", "INFO")]  # once, not dropped, not doubled


def test_outside_lambda_metrics_can_go_by_put_metric_data_instead_of_the_terminal(capsys, monkeypatch):
    # What a CLI process does after resolving its cloud: nothing on stdout, the metric in CloudWatch
    import boto3
    from moto import mock_aws

    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    for k, v in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                 "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        cw = boto3.client("cloudwatch", region_name="us-east-1")
        t.send_metrics_with(cw)
        try:
            t.run_started("sales", "r1")
            assert _emf_lines(capsys.readouterr().out) == []
            [metric] = cw.list_metrics(Namespace=METRICS_NAMESPACE, MetricName="RunsStarted")["Metrics"]
            assert metric["Dimensions"] == [{"Name": "DagId", "Value": "sales"}, {"Name": "service", "Value": "stratus"}]
            # inside Lambda the EMF line stays the way (its log becomes the metric)
            monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "stratus-worker")
            t.run_started("sales", "r2")
            assert len(_emf_lines(capsys.readouterr().out)) == 1
        finally:
            t.send_metrics_with(None)


@pytest.mark.parametrize(("value", "unit", "props"), [
    (1, "Count", {"task_id": "load", "run_id": "manual__2026-01-01T00:00:00+00:00"}),
    (1234.5, "Milliseconds", {"task_id": "t", "run_id": None}),
    (0, "Count", {}),
])
def test_the_line_is_powertools_single_metric_line(capsys, monkeypatch, value, unit, props):
    """``emf_line`` writes what Powertools' ``single_metric`` prints for the same metric, byte for byte
    (but the timestamp), so CloudWatch, the dashboard and anything parsing the logs see no change."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    with single_metric(name="TaskDuration", unit=MetricUnit(unit), value=float(value), namespace=METRICS_NAMESPACE,
                       default_dimensions=t.dimensions("sales")) as metric:
        for key, val in props.items():
            if val is not None:
                metric.add_metadata(key=key, value=val)
    theirs = json.loads(capsys.readouterr().out)
    ours = json.loads(t.emf_line("TaskDuration", float(value), MetricUnit(unit), "sales", props))
    assert abs(ours["_aws"].pop("Timestamp") - theirs["_aws"].pop("Timestamp")) < 5000
    assert json.dumps(ours, separators=(",", ":")) == json.dumps(theirs, separators=(",", ":"))

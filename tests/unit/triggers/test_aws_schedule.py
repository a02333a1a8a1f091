from __future__ import annotations

import pytest

from orchestrator.errors import ScheduleError
from orchestrator.plan.model import Schedule
from orchestrator.triggers.aws_schedule import (
    at_expression,
    cron_to_aws,
    dst_companion,
    rate_expression,
    to_aws_schedule,
)
from trigger_builders import d, make_plan


@pytest.mark.parametrize(
    ("unix", "aws"),
    [
        ("0 6 * * *", "cron(0 6 * * ? *)"),
        ("@daily", "cron(0 0 * * ? *)"),
        ("@hourly", "cron(0 * * * ? *)"),
        ("@weekly", "cron(0 0 ? * 1 *)"),
        ("@monthly", "cron(0 0 1 * ? *)"),
        ("@quarterly", "cron(0 0 1 1/3 ? *)"),
        ("*/15 * * * *", "cron(0/15 * * * ? *)"),
        ("0 9 * * 1-5", "cron(0 9 ? * 2-6 *)"),
        ("0 9 * * MON-FRI", "cron(0 9 ? * 2-6 *)"),
        ("0 9 * * 0,6", "cron(0 9 ? * 1,7 *)"),
        ("0 9 * * 7", "cron(0 9 ? * 1 *)"),
        ("0 9 * * 5-7", "cron(0 9 ? * 1,6-7 *)"),
        ("0 9 * * */2", "cron(0 9 ? * 1,3,5,7 *)"),
        ("0 9 * * 0-6", "cron(0 9 * * ? *)"),
        ("0 9 * * 5#3", "cron(0 9 ? * 6#3 *)"),
        ("30 2 1,15 * *", "cron(30 2 1,15 * ? *)"),
        ("0 0 L * *", "cron(0 0 L * ? *)"),
        ("0 8-18/2 * JAN-MAR *", "cron(0 8,10,12,14,16,18 * 1-3 ? *)"),
        ("5,10-12 * * * *", "cron(5,10-12 * * * ? *)"),
    ],
)
def test_cron_translation(unix, aws):
    assert cron_to_aws(unix, dag_id="etl") == aws


def test_both_day_fields_restricted_is_explained():
    with pytest.raises(ScheduleError, match=r"DAG 'etl' has the cron expression '0 6 1 \* 1', which restricts both "
                                            r"day-of-month \('1'\) and day-of-week \('1'\).*Restrict only one"):
        cron_to_aws("0 6 1 * 1", dag_id="etl")


def test_bad_cron_raises():
    with pytest.raises(ScheduleError, match="DAG 'etl' has an invalid cron expression"):
        cron_to_aws("61 * * * *", dag_id="etl")


@pytest.mark.parametrize(("seconds", "expr"), [(60, "rate(1 minute)"), (300, "rate(5 minutes)"),
                                                (3600, "rate(1 hour)"), (7200, "rate(2 hours)"),
                                                (86400, "rate(1 day)"), (5400, "rate(90 minutes)")])
def test_rate(seconds, expr):
    assert rate_expression(seconds) == expr


def test_rate_needs_whole_minutes():
    with pytest.raises(ScheduleError, match="DAG 'etl' has a timedelta schedule of 0:01:30.*whole number of minutes"):
        rate_expression(90, dag_id="etl")


def test_at_rounds_up_to_the_minute():
    assert at_expression(d("2026-01-01T06:00:00+00:00")) == "at(2026-01-01T06:00:00)"
    assert at_expression(d("2026-01-01T06:00:30+00:00")) == "at(2026-01-01T06:01:00)"


def test_to_aws_schedule_cron_keeps_time_zone():
    plan = make_plan(schedule=Schedule(kind="cron", expression="30 2 * * *", timezone="Europe/Berlin"))
    sched = to_aws_schedule(plan, now=d("2026-02-01T00:00:00+00:00"))
    assert (sched.expression, sched.timezone, sched.start_date) == ("cron(30 2 * * ? *)", "Europe/Berlin", None)


def test_to_aws_schedule_future_start_and_end():
    plan = make_plan(start_date="2026-06-01T00:00:00+00:00", end_date="2026-07-01T00:00:00+00:00")
    sched = to_aws_schedule(plan, now=d("2026-02-01T00:00:00+00:00"))
    assert sched.start_date == d("2026-06-01T00:00:00+00:00")
    assert sched.end_date == d("2026-07-01T00:01:00+00:00")
    assert to_aws_schedule(plan, now=d("2026-08-01T00:00:00+00:00")) is None


def test_to_aws_schedule_rate_is_phase_aligned():
    plan = make_plan(schedule=Schedule(kind="timedelta", interval_s=6 * 3600),
                     start_date="2026-01-01T01:00:00+00:00")
    sched = to_aws_schedule(plan, now=d("2026-01-03T08:00:00+00:00"))
    assert sched.expression == "rate(6 hours)"
    assert sched.start_date == d("2026-01-03T13:00:00+00:00")


def test_to_aws_schedule_once_and_none():
    plan = make_plan(schedule=Schedule(kind="once", expression="@once"), start_date="2026-03-01T10:00:00+00:00")
    sched = to_aws_schedule(plan, now=d("2026-02-01T00:00:00+00:00"))
    assert (sched.expression, sched.one_time) == ("at(2026-03-01T10:00:00)", True)
    late = to_aws_schedule(plan, now=d("2026-04-01T00:00:10+00:00"))
    assert late.expression == "at(2026-04-01T00:02:00)"
    assert to_aws_schedule(make_plan(schedule=Schedule(kind="none")), now=d("2026-02-01T00:00:00+00:00")) is None


def test_dst_companion_for_the_gap_day():
    plan = make_plan(schedule=Schedule(kind="cron", expression="30 2 * * *", timezone="Europe/Berlin"))
    # after the Saturday fire, AWS would next fire on Monday; the timetable runs Sunday 03:30 CEST
    assert dst_companion(plan, after=d("2026-03-28T01:30:00+00:00")) == d("2026-03-29T01:30:00+00:00")
    assert dst_companion(plan, after=d("2026-03-29T01:30:00+00:00")) is None
    assert dst_companion(plan, after=d("2026-10-24T00:30:00+00:00")) is None  # overlap: AWS fires once too


def test_dst_companion_for_hourly_overlap_second_occurrence():
    plan = make_plan(schedule=Schedule(kind="cron", expression="30 * * * *", timezone="Europe/Berlin"))
    assert dst_companion(plan, after=d("2026-10-25T00:30:00+00:00")) == d("2026-10-25T01:30:00+00:00")
    assert dst_companion(plan, after=d("2026-10-25T02:30:00+00:00")) is None

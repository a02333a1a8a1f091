"""EventBridge Scheduler expressions as the local clock evaluates them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from orchestrator.errors import ScheduleError
from orchestrator.local.scheduleexpr import MAX_FIRES_PER_STEP, next_occurrence, occurrences, parse

UTC = timezone.utc


def test_cron_uses_aws_day_of_week_numbers_and_the_time_zone():
    # AWS: 2 = Monday. 09:00 in Paris is 08:00Z in winter.
    expr = parse("cron(0 9 ? * 2 *)", "Europe/Paris")
    after = datetime(2026, 1, 1, tzinfo=UTC)  # a Thursday
    fires = occurrences(expr, after=after, until=after + timedelta(days=14), anchor=after)
    assert fires == [datetime(2026, 1, 5, 8, 0, tzinfo=UTC), datetime(2026, 1, 12, 8, 0, tzinfo=UTC)]


def test_cron_across_daylight_saving_keeps_local_wall_time():
    expr = parse("cron(30 6 * * ? *)", "Europe/Paris")
    after = datetime(2026, 3, 28, 12, tzinfo=UTC)
    fires = occurrences(expr, after=after, until=after + timedelta(days=2), anchor=after)
    assert [f.hour for f in fires] == [4, 4]  # 06:30 CEST = 04:30Z (29 and 30 March)
    assert [f.minute for f in fires] == [30, 30]


def test_cron_year_field_limits_the_years():
    expr = parse("cron(0 0 1 1 ? 2027)", "UTC")
    after = datetime(2026, 1, 1, tzinfo=UTC)
    assert next_occurrence(expr, after=after, anchor=after) == datetime(2027, 1, 1, tzinfo=UTC)


def test_rate_counts_from_the_anchor():
    expr = parse("rate(5 minutes)")
    anchor = datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)
    fires = occurrences(expr, after=anchor + timedelta(minutes=7), until=anchor + timedelta(minutes=21), anchor=anchor)
    assert [f - anchor for f in fires] == [timedelta(minutes=10), timedelta(minutes=15), timedelta(minutes=20)]


def test_at_fires_once_in_its_time_zone():
    expr = parse("at(2026-06-01T08:00:00)", "America/New_York")
    assert not expr.recurring
    after = datetime(2026, 6, 1, tzinfo=UTC)
    assert occurrences(expr, after=after, until=after + timedelta(days=1), anchor=after) == [
        datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    ]
    assert next_occurrence(expr, after=datetime(2026, 6, 2, tzinfo=UTC), anchor=after) is None


def test_fast_forward_is_capped():
    expr = parse("rate(1 minute)")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert len(occurrences(expr, after=start, until=start + timedelta(days=30), anchor=start)) == MAX_FIRES_PER_STEP


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cron(0 9 * *)", r"cron\(\) takes 6 fields"),
        ("rate(0 minutes)", r"the rate must be at least 1"),
        ("every day", r"is not valid: use at\(yyyy-mm-ddThh:mm:ss\)"),
        ("cron(0 9 15W * ? *)", r"'W' \(nearest weekday\) is not supported"),
    ],
)
def test_invalid_expressions_are_named(text, message):
    with pytest.raises(ScheduleError, match=message):
        parse(text)


def test_unknown_time_zone_is_named():
    with pytest.raises(ScheduleError, match=r"Unknown schedule time zone 'Mars/Olympus'"):
        parse("rate(1 hour)", "Mars/Olympus")

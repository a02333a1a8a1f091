"""Properties of the DST-aware cron evaluation over many zones, expressions and instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.triggers.timetable import CronSchedule

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "America/Santiago"]
CRONS = ["30 2 * * *", "0 * * * *", "*/20 * * * *", "15 1,2,3 * * *", "0 0 * * 0", "45 2 1 * *", "0 12 * * 1-5"]
WINDOW_START = datetime(2026, 1, 1, tzinfo=UTC)


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(ZONES), st.sampled_from(CRONS), st.integers(min_value=0, max_value=365 * 24 * 60))
def test_next_and_prev_fire_agree(tz, expr, minutes):
    cron = CronSchedule(expr, tz)
    t = WINDOW_START + timedelta(minutes=minutes, seconds=17)
    nxt = cron.next_fire(t)
    assert nxt > t
    assert cron.prev_fire(nxt) == nxt
    assert cron.next_fire(nxt - timedelta(microseconds=1)) == nxt
    # nothing fires between t and nxt
    assert cron.prev_fire(nxt - timedelta(microseconds=1)) <= t


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(ZONES), st.integers(min_value=0, max_value=364))
def test_a_daily_job_runs_exactly_once_per_local_day(tz, day):
    cron = CronSchedule("30 2 * * *", tz)
    start = WINDOW_START + timedelta(days=day)
    fires = []
    t = start
    for _ in range(3):
        t = cron.next_fire(t)
        fires.append(t)
    local_days = [f.astimezone(cron.tz).date() for f in fires]
    assert len(set(local_days)) == 3
    assert all((b - a) >= timedelta(hours=22) for a, b in zip(fires, fires[1:]))

from __future__ import annotations

from datetime import UTC, timedelta

import pytest

from orchestrator.engine.start import make_run_id
from orchestrator.errors import ScheduleError
from orchestrator.plan.model import Schedule
from orchestrator.triggers.timetable import (
    CronSchedule,
    DagRunInfo,
    next_runs,
    timetable_for,
    timetable_for_schedule,
)
from trigger_builders import d, make_plan


# --- cron trigger semantics (Airflow 3 default) -----------------------------------


def test_cron_logical_date_is_fire_time_with_zero_length_interval():
    runs = next_runs(make_plan(), after=None, now="2026-01-01T07:00:00+00:00")
    assert runs == [DagRunInfo(d("2026-01-01T06:00:00+00:00"), d("2026-01-01T06:00:00+00:00"),
                               d("2026-01-01T06:00:00+00:00"), d("2026-01-01T06:00:00+00:00"))]
    assert make_run_id("scheduled", runs[0].logical_date) == "scheduled__2026-01-01T06:00:00+00:00"


def test_catchup_true_creates_every_missed_run_in_order():
    plan = make_plan(catchup=True, start_date="2026-01-01T00:00:00+00:00")
    runs = next_runs(plan, after=None, now="2026-01-10T12:00:00+00:00")
    assert [r.logical_date.day for r in runs] == list(range(1, 11))
    again = next_runs(plan, after=runs[-1].logical_date, now="2026-01-10T12:00:00+00:00")
    assert again == []


def test_catchup_false_creates_only_the_latest():
    plan = make_plan(catchup=False)
    runs = next_runs(plan, after="2026-01-02T06:00:00+00:00", now="2026-01-10T12:00:00+00:00")
    assert [r.logical_date for r in runs] == [d("2026-01-10T06:00:00+00:00")]
    assert next_runs(plan, after=runs[0].logical_date, now="2026-01-10T12:00:00+00:00") == []


def test_start_date_is_inclusive_and_end_date_bounds_runs():
    plan = make_plan(catchup=True, start_date="2026-01-03T06:00:00+00:00", end_date="2026-01-05T06:00:00+00:00")
    runs = next_runs(plan, after=None, now="2026-02-01T00:00:00+00:00")
    assert [r.logical_date.day for r in runs] == [3, 4, 5]


def test_catchup_false_after_end_date_gives_last_run_before_end():
    plan = make_plan(catchup=False, end_date="2026-01-05T12:00:00+00:00")
    runs = next_runs(plan, after=None, now="2026-02-01T00:00:00+00:00")
    assert [r.logical_date for r in runs] == [d("2026-01-05T06:00:00+00:00")]


def test_nothing_due_before_start_date():
    plan = make_plan(catchup=True, start_date="2026-05-01T00:00:00+00:00")
    assert next_runs(plan, after=None, now="2026-04-01T00:00:00+00:00") == []


def test_presets_expand():
    plan = make_plan(schedule=Schedule(kind="cron", expression="@daily", preset="@daily"), catchup=True)
    runs = next_runs(plan, after=None, now="2026-01-02T01:00:00+00:00")
    assert [r.logical_date for r in runs] == [d("2026-01-01T00:00:00+00:00"), d("2026-01-02T00:00:00+00:00")]


def test_cron_in_time_zone():
    plan = make_plan(schedule=Schedule(kind="cron", expression="0 6 * * *", timezone="America/New_York"))
    runs = next_runs(plan, after=None, now="2026-01-05T12:00:00+00:00")
    assert runs[0].logical_date == d("2026-01-05T11:00:00+00:00")


# --- daylight saving time ------------------------------------------------------------


def berlin_daily(expr: str = "30 2 * * *") -> CronSchedule:
    return CronSchedule(expr, "Europe/Berlin")


def test_dst_gap_daily_job_runs_once_shifted_forward():
    # 2026-03-29: Europe/Berlin jumps 02:00 CET -> 03:00 CEST; 02:30 does not exist.
    cron = berlin_daily()
    fires = []
    t = d("2026-03-27T12:00:00+00:00")
    for _ in range(4):
        t = cron.next_fire(t)
        fires.append(t)
    assert fires == [
        d("2026-03-28T02:30:00+01:00"),
        d("2026-03-29T03:30:00+02:00"),  # the gap day: once, an hour late
        d("2026-03-30T02:30:00+02:00"),
        d("2026-03-31T02:30:00+02:00"),
    ]


def test_dst_overlap_daily_job_runs_once_at_first_occurrence():
    # 2026-10-25: Europe/Berlin falls back 03:00 CEST -> 02:00 CET; 02:30 happens twice.
    cron = berlin_daily()
    fires = []
    t = d("2026-10-23T12:00:00+00:00")
    for _ in range(3):
        t = cron.next_fire(t)
        fires.append(t)
    assert fires == [
        d("2026-10-24T02:30:00+02:00"),
        d("2026-10-25T02:30:00+02:00"),  # first occurrence only
        d("2026-10-26T02:30:00+01:00"),
    ]


def test_dst_overlap_hourly_job_follows_elapsed_time():
    cron = CronSchedule("30 * * * *", "Europe/Berlin")
    fires = []
    t = d("2026-10-24T23:00:00+00:00")  # 01:00 CEST
    for _ in range(4):
        t = cron.next_fire(t)
        fires.append(t)
    assert fires == [d("2026-10-24T23:30:00+00:00"), d("2026-10-25T00:30:00+00:00"),
                     d("2026-10-25T01:30:00+00:00"), d("2026-10-25T02:30:00+00:00")]


def test_dst_gap_hourly_job_has_no_duplicate():
    cron = CronSchedule("0 * * * *", "Europe/Berlin")
    fires = []
    t = d("2026-03-28T23:30:00+00:00")
    for _ in range(3):
        t = cron.next_fire(t)
        fires.append(t)
    assert fires == [d("2026-03-29T00:00:00+00:00"), d("2026-03-29T01:00:00+00:00"), d("2026-03-29T02:00:00+00:00")]


def test_prev_fire_matches_next_fire_across_dst():
    cron = berlin_daily()
    for text in ["2026-03-29T01:30:00+00:00", "2026-10-25T00:30:00+00:00", "2026-10-25T01:30:00+00:00"]:
        t = d(text)
        prev = cron.prev_fire(t)
        assert cron.next_fire(prev - timedelta(seconds=1)) == prev
        assert cron.next_fire(prev) > t


def test_catchup_across_dst_gap_and_overlap_yields_one_run_per_day():
    plan = make_plan(catchup=True, schedule=Schedule(kind="cron", expression="30 2 * * *", timezone="Europe/Berlin"),
                     start_date="2026-03-27T00:00:00+00:00")
    runs = next_runs(plan, after=None, now="2026-03-31T12:00:00+00:00")
    assert len(runs) == 5 and len({r.logical_date for r in runs}) == 5
    plan = plan.model_copy(update={"start_date": "2026-10-23T00:00:00+00:00"})
    runs = next_runs(plan, after=None, now="2026-10-27T12:00:00+00:00")
    assert [r.logical_date.astimezone(UTC).day for r in runs] == [23, 24, 25, 26, 27]


# --- timedelta, once, none -----------------------------------------------------------


def test_timedelta_is_data_interval_timetable():
    plan = make_plan(schedule=Schedule(kind="timedelta", interval_s=6 * 3600), catchup=True,
                     start_date="2026-01-01T00:00:00+00:00")
    runs = next_runs(plan, after=None, now="2026-01-01T13:00:00+00:00")
    assert [(r.data_interval_start.hour, r.data_interval_end.hour) for r in runs] == [(0, 6), (6, 12)]
    assert runs[0].logical_date == runs[0].data_interval_start
    assert runs[1].run_after == d("2026-01-01T12:00:00+00:00")


def test_timedelta_manual_run_covers_last_complete_interval():
    tt = timetable_for(make_plan(schedule=Schedule(kind="timedelta", interval_s=3600)))
    info = tt.infer_manual(d("2026-01-01T05:30:00+00:00"))
    assert (info.data_interval_start, info.data_interval_end) == (d("2026-01-01T04:00:00+00:00"),
                                                                  d("2026-01-01T05:00:00+00:00"))


def test_once_runs_once():
    plan = make_plan(schedule=Schedule(kind="once", expression="@once"))
    runs = next_runs(plan, after=None, now="2026-02-01T00:00:00+00:00")
    assert [r.logical_date for r in runs] == [d("2026-01-01T00:00:00+00:00")]
    assert next_runs(plan, after=runs[0].logical_date, now="2027-01-01T00:00:00+00:00") == []


def test_none_and_assets_have_no_time_runs():
    for kind in ("none", "assets"):
        plan = make_plan(schedule=Schedule(kind=kind))
        assert next_runs(plan, after=None, now="2026-02-01T00:00:00+00:00") == []
        assert list(timetable_for(plan).iter_between(d("2026-01-01T00:00:00+00:00"), d("2026-02-01T00:00:00+00:00"))) == []


def test_iter_between_for_backfill():
    tt = timetable_for(make_plan())
    runs = list(tt.iter_between(d("2026-01-02T00:00:00+00:00"), d("2026-01-04T06:00:00+00:00")))
    assert [r.logical_date.day for r in runs] == [2, 3, 4]


def test_next_run_for_display():
    tt = timetable_for(make_plan())
    assert tt.next_run(d("2026-01-05T07:00:00+00:00")).logical_date == d("2026-01-06T06:00:00+00:00")


# --- errors --------------------------------------------------------------------------


def test_bad_cron_names_the_dag():
    with pytest.raises(ScheduleError, match=r"DAG 'etl' has an invalid cron expression '0 25 \* \* \*'"):
        timetable_for(make_plan(schedule=Schedule(kind="cron", expression="0 25 * * *")))
    with pytest.raises(ScheduleError, match=r"expected 5 fields .* got 3"):
        timetable_for(make_plan(schedule=Schedule(kind="cron", expression="0 6 *")))


def test_unknown_time_zone_names_the_dag():
    with pytest.raises(ScheduleError, match=r"DAG 'etl' has an unknown time zone 'Mars/Olympus'"):
        timetable_for(make_plan(schedule=Schedule(kind="cron", expression="0 6 * * *", timezone="Mars/Olympus")))


def test_end_before_start():
    with pytest.raises(ScheduleError, match="end_date .* before start_date"):
        timetable_for_schedule(Schedule(kind="cron", expression="0 6 * * *"), start_date="2026-02-01T00:00:00+00:00",
                               end_date="2026-01-01T00:00:00+00:00", dag_id="etl")

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from orchestrator.errors import ScheduleError
from orchestrator.plan.model import Schedule, Step, StepPlan
from orchestrator.store import RunStore
from orchestrator.triggers.sync import read_existing, schedule_name, sync_dag, sync_plans

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TRIGGER_ARN = "arn:aws:lambda:us-east-1:123456789012:function:stratus-trigger"


def make_plan(dag_id: str = "daily", **overrides) -> StepPlan:
    fields = dict(
        dag_id=dag_id, fileloc=f"{dag_id}.py", schedule=Schedule(kind="cron", expression="0 6 * * 1-5"),
        start_date="2026-01-01T00:00:00+00:00",
        steps=[Step(task_id="work", operator="_PythonDecoratedOperator", module=f"{dag_id}.py")],
    )
    fields.update(overrides)
    return StepPlan(**fields).with_hash()


@pytest.fixture
def env(aws):
    clients, resources = aws
    return clients, replace(resources, trigger_function=TRIGGER_ARN)


def actions(report):
    return [(c.action, c.name) for c in report.changes]


def test_sync_creates_one_schedule_per_scheduled_dag_and_is_idempotent(env):
    clients, resources = env
    plans = [make_plan("daily"),
             make_plan("berlin", schedule=Schedule(kind="cron", expression="30 2 * * *", timezone="Europe/Berlin")),
             make_plan("every6h", schedule=Schedule(kind="timedelta", interval_s=6 * 3600)),
             make_plan("manual_only", schedule=Schedule(kind="none")),
             make_plan("bounded", start_date="2030-06-01T00:00:00+00:00", end_date="2030-09-01T00:00:00+00:00"),
             make_plan("on_data", schedule=Schedule(kind="assets", assets={"uri": "s3://landing/x/"}))]
    report = sync_plans(clients, resources, plans, now=NOW)
    assert actions(report) == [("create", "berlin"), ("create", "bounded"), ("create", "daily"), ("create", "every6h")]
    assert set(report.registered) == {p.dag_id for p in plans}
    existing = read_existing(clients, resources.scheduler_group)
    daily = existing["daily"]
    assert daily["ScheduleExpression"] == "cron(0 6 ? * 2-6 *)"
    assert daily["ScheduleExpressionTimezone"] == "UTC"
    assert daily["Target"]["Arn"] == TRIGGER_ARN
    assert daily["Target"]["RoleArn"] == resources.scheduler_role_arn
    assert json.loads(daily["Target"]["Input"]) == {"kind": "schedule", "dag_id": "daily",
                                                    "scheduled_time": "<aws.scheduler.scheduled-time>"}
    assert existing["berlin"]["ScheduleExpressionTimezone"] == "Europe/Berlin"
    assert existing["every6h"]["ScheduleExpression"] == "rate(6 hours)"
    assert existing["every6h"]["StartDate"] == datetime(2026, 3, 1, 18, 0, tzinfo=UTC)
    assert existing["bounded"]["StartDate"] == datetime(2030, 6, 1, tzinfo=UTC)
    assert existing["bounded"]["EndDate"] == datetime(2030, 9, 1, 0, 1, tzinfo=UTC)
    # the registry has every plan
    assert {d["dag_id"] for d in RunStore(clients, resources).list_dags()} == {p.dag_id for p in plans}
    # again: nothing to do (a later "now" keeps the rate phase)
    assert sync_plans(clients, resources, plans, now=NOW.replace(hour=15)).changes == []


def test_changed_removed_and_paused_dags(env):
    clients, resources = env
    sync_plans(clients, resources, [make_plan("a"), make_plan("b"), make_plan("c")], now=NOW)
    RunStore(clients, resources).set_paused("c", True)
    report = sync_plans(clients, resources, [make_plan("a", schedule=Schedule(kind="cron", expression="0 7 * * *")),
                                             make_plan("c")], now=NOW)
    assert actions(report) == [("update", "a"), ("delete", "b"), ("delete", "c")]
    assert "expression cron(0 6 ? * 2-6 *) -> cron(0 7 * * ? *)" in report.changes[0].why
    assert set(read_existing(clients, resources.scheduler_group)) == {"a"}
    assert RunStore(clients, resources).get_dag("b")["is_active"] is False


def test_dry_run_prints_the_diff_and_changes_nothing(env):
    clients, resources = env
    sync_plans(clients, resources, [make_plan("a")], now=NOW)
    report = sync_plans(clients, resources, [make_plan("a", schedule=Schedule(kind="cron", expression="0 7 * * *")),
                                             make_plan("new")], now=NOW, dry_run=True)
    assert actions(report) == [("update", "a"), ("create", "new")]
    lines = report.lines()
    assert lines[0] == "would register 2 DAG(s): a, new"
    assert "+ create schedule new [DAG 'new'] cron(0 6 ? * 2-6 *)" in lines
    assert read_existing(clients, resources.scheduler_group)["a"]["ScheduleExpression"] == "cron(0 6 ? * 2-6 *)"
    assert {d["dag_id"] for d in RunStore(clients, resources).list_dags()} == {"a"}


def test_schedules_it_does_not_own_are_left_alone(env):
    clients, resources = env
    sync_plans(clients, resources, [make_plan("a")], now=NOW)
    clients.client("scheduler").create_schedule(
        Name="retry-x", GroupName=resources.scheduler_group, ScheduleExpression="at(2026-03-02T00:00:00)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": TRIGGER_ARN, "RoleArn": resources.scheduler_role_arn, "Input": '{"kind": "retry"}'})
    assert sync_plans(clients, resources, [], now=NOW).changes[0].name == "a"
    assert set(read_existing(clients, resources.scheduler_group)) == {"retry-x"}


def test_dst_companion_is_created_before_a_gap_day(env):
    clients, resources = env
    plan = make_plan("berlin", schedule=Schedule(kind="cron", expression="30 2 * * *", timezone="Europe/Berlin"))
    report = sync_plans(clients, resources, [plan], now=datetime(2026, 3, 28, 12, 0, tzinfo=UTC))
    assert actions(report) == [("create", "berlin"), ("create", "berlin.dst")]
    companion = read_existing(clients, resources.scheduler_group)["berlin.dst"]
    assert companion["ScheduleExpression"] == "at(2026-03-29T01:30:00)"
    assert companion["ActionAfterCompletion"] == "DELETE"


def test_pause_and_unpause_one_dag(env):
    clients, resources = env
    sync_plans(clients, resources, [make_plan("a"), make_plan("b")], now=NOW)
    store = RunStore(clients, resources)
    store.set_paused("a", True)
    assert [(c.action, c.name) for c in sync_dag(clients, resources, "a", now=NOW)] == [("delete", "a")]
    store.set_paused("a", False)
    assert [(c.action, c.name) for c in sync_dag(clients, resources, "a", now=NOW)] == [("create", "a")]
    assert set(read_existing(clients, resources.scheduler_group)) == {"a", "b"}


def test_what_aws_cannot_express_is_reported_and_the_old_schedule_kept(env):
    clients, resources = env
    sync_plans(clients, resources, [make_plan("both"), make_plan("ok")], now=NOW)
    report = sync_plans(clients, resources, [make_plan("both", schedule=Schedule(kind="cron", expression="0 6 1 * 1")),
                                             make_plan("ok")], now=NOW)
    assert report.changes == []
    assert report.errors["both"].startswith("DAG 'both' has the cron expression '0 6 1 * 1', which restricts both")
    assert set(read_existing(clients, resources.scheduler_group)) == {"both", "ok"}
    with pytest.raises(ScheduleError, match="DAG 'both' has the cron expression"):
        from orchestrator.triggers.sync import desired_schedules
        desired_schedules([make_plan("both", schedule=Schedule(kind="cron", expression="0 6 1 * 1"))], {}, now=NOW)


def test_schedule_names():
    assert schedule_name("daily_sales") == "daily_sales"
    long = "x" * 80
    assert len(schedule_name(long)) == 64 and schedule_name(long) != schedule_name(long + "y")
    assert len(schedule_name(long, ".dst")) == 64 and schedule_name(long, ".dst").endswith(".dst")


def test_trigger_arn_is_built_from_the_scheduler_role(aws):
    from orchestrator.triggers.sync import trigger_arn

    clients, resources = aws
    assert trigger_arn(clients, resources) == TRIGGER_ARN

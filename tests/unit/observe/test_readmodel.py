"""The views' read model: schedules in words, graph layers and groups, Gantt bars, assets, doc_md."""

from __future__ import annotations

from observe_builders import make_plan, make_run, make_ti

from orchestrator.observe.markdown import render_markdown
from orchestrator.observe.readmodel import build_assets, build_gantt, build_graph, dag_summary, describe_cron
from orchestrator.plan.model import AssetCondition, Schedule, Step

R = "manual__2026-01-01T06:00:00+00:00"


def test_cron_in_words():
    assert describe_cron("0 6 * * *") == "every day at 06:00"
    assert describe_cron("*/15 * * * *") == "every 15 minutes"
    assert describe_cron("30 2 * * 1") == "every Monday at 02:30"
    assert describe_cron("0 6 * * 1-5") == "every weekday at 06:00"
    assert describe_cron("0 0 1 * *") == "on day 1 of every month at 00:00"
    assert describe_cron("@daily") == "every day at 00:00"
    assert describe_cron("0 6 L * *") == "cron 0 6 L * *"


def test_dag_summary_next_run_in_the_schedule_and_none_when_paused():
    plan = make_plan(start_date="2026-01-01T00:00:00+00:00", tags=["a"])
    from datetime import datetime, timezone

    now = datetime(2026, 3, 1, 7, 0, tzinfo=timezone.utc)
    s = dag_summary(plan, {"paused": False}, make_run(R, state="failed"), now)
    assert (s.schedule_words, s.schedule_expr, s.next_run, s.last_run_state) == (
        "every day at 06:00", "0 6 * * *", "2026-03-02T06:00:00+00:00", "failed")
    assert dag_summary(plan, {"paused": True}, None, now).next_run is None


def test_graph_layers_groups_and_states():
    graph = build_graph(make_plan(), make_run(R), [make_ti("extract", R), make_ti("clean", R, map_index=0, state="failed")])
    assert [[n.task_id for n in layer] for layer in graph.layers] == [
        ["extract"], ["clean"], ["load_group.load"], ["load_group.report"]]
    assert graph.groups == {"load_group": ("load_group.load", "load_group.report")}
    states = {n.task_id: n.state for layer in graph.layers for n in layer}
    assert states["extract"] == "success" and states["clean"] == "failed" and states["load_group.load"] is None


def test_gantt_bars_per_try_and_one_bar_for_a_wide_map():
    tis = [make_ti("extract", R)] + [make_ti("clean", R, map_index=i) for i in range(1000)]
    gantt = build_gantt(make_plan(), make_run(R), tis)
    assert [(b.task_id, b.map_index) for b in gantt.bars] == [("extract", -1), ("clean", -1)]
    assert gantt.bars[0].start_s == 1.0 and gantt.bars[0].end_s == 4.0  # run started 06:00:01, task 06:00:02-05


def test_assets_join_producers_and_consumers():
    producer = make_plan("producer", steps=[Step(task_id="load", operator="X", module="p.py", outlets=["s3://lake/x/"])])
    consumer = make_plan("consumer", schedule=Schedule(kind="assets", assets=AssetCondition(
        all=[AssetCondition(uri="s3://lake/x/"), AssetCondition(uri="s3://in/y/")])))
    views = {a.uri: a for a in build_assets([producer, consumer])}
    assert views["s3://lake/x/"].producers == (("producer", "load"),) and views["s3://lake/x/"].consumers == ("consumer",)
    assert views["s3://in/y/"].producers == () and views["s3://in/y/"].consumers == ("consumer",)


def test_doc_md_is_rendered_and_escaped():
    out = render_markdown("# T\n\nSome **bold** and `code`.\n\n- a\n- b\n\n<script>x</script> [l](javascript:alert(1))")
    assert "<h1>T</h1>" in out and "<strong>bold</strong>" in out and "<code>code</code>" in out
    assert out.count("<li>") == 2 and "<script>" not in out and 'href="javascript' not in out


def test_asset_or_time_schedule_in_words():
    from orchestrator.observe.readmodel import describe_schedule

    sched = Schedule(kind="assets", expression="0 6 * * *", assets=AssetCondition(uri="s3://lake/x/"))
    assert describe_schedule(sched) == ("every day at 06:00, or when assets update", "0 6 * * * | s3://lake/x/")

"""The run grid renderer on synthetic items (no I/O)."""

from __future__ import annotations

import html
import json
import re
from datetime import datetime, timezone

from observe_builders import make_plan, make_run, make_ti

from orchestrator.observe.grid import LocalLinks, WidgetLinks, console_log_url, render_grid
from orchestrator.observe.gridmodel import TimeRange, build_grid, build_rows, format_duration, summary_state

ARN = "arn:aws:lambda:eu-west-1:123456789012:function:stack-WidgetFunction-abc"
R1 = "manual__2026-01-01T06:00:00+00:00"
R2 = "scheduled__2026-01-02T06:00:00+00:00"


def _data():
    runs = [
        make_run(R2, state="failed", run_type="scheduled", logical_date="2026-01-02T06:00:00+00:00",
                 start_date="2026-01-02T06:00:01+00:00", end_date="2026-01-02T06:00:31+00:00"),
        make_run(R1),
    ]
    tis = {
        R1: [make_ti("extract"), make_ti("clean", map_index=0), make_ti("clean", map_index=1),
             make_ti("load_group.load"), make_ti("load_group.report")],
        R2: [
            make_ti("extract", R2),
            make_ti("clean", R2, map_index=0),
            make_ti("clean", R2, map_index=1, state="failed", try_number=2, max_tries=1,
                    error="Traceback (most recent call last):\nValueError: bad row 7",
                    log_stream="2026/01/02/[$LATEST]bbbb",
                    history=[{"state": "up_for_retry", "start": "2026-01-02T06:00:02+00:00",
                              "end": "2026-01-02T06:00:04+00:00", "error": "boom", "log_stream": "2026/01/02/[$LATEST]aaaa"}]),
            make_ti("load_group.load", R2, state="upstream_failed", try_number=0, duration=None,
                    start_date=None, end_date=None, log_stream=None),
        ],
    }
    return runs, tis


def _squares(page: str) -> dict[tuple[str, str], str]:
    found = re.findall(r'class="sq st-[a-z_]+[^"]*" data-task="([^"]+)" data-run="([^"]+)" data-state="([a-z_]+)"', page)
    return {(t, html.unescape(r)): s for t, r, s in found}


def test_rows_follow_topological_order_with_group_headers():
    rows = build_rows(make_plan())
    assert [(r.key, r.label, r.depth, r.is_group) for r in rows] == [
        ("extract", "extract", 0, False),
        ("clean", "clean", 0, False),
        ("load_group", "load_group", 0, True),
        ("load_group.load", "load", 1, False),
        ("load_group.report", "report", 1, False),
    ]
    assert rows[1].mapped


def test_columns_are_runs_oldest_first_and_cells_carry_states():
    runs, tis = _data()
    page = render_grid(make_plan(), runs, tis, links=LocalLinks())
    squares = _squares(page)
    assert squares[("extract", R1)] == "success"
    assert squares[("clean", R2)] == "failed"  # mapped summary: the most urgent state
    assert squares[("load_group", R2)] == "failed" or squares[("load_group", R2)] == "upstream_failed"
    assert squares[("load_group.report", R2)] == "no_status"
    assert page.index(f'data-run="{html.escape(R1)}"') < page.index(f'data-run="{html.escape(R2)}"')


def test_group_row_summarises_members():
    runs, tis = _data()
    grid = build_grid(make_plan(), runs, tis)
    assert grid.cell("load_group", R1).state == "success"
    assert grid.cell("load_group", R2).state == "upstream_failed"


def test_mapped_task_is_summarised_with_counts_and_expandable():
    runs, tis = _data()
    grid = build_grid(make_plan(), runs, tis)
    cell = grid.cell("clean", R2)
    assert cell.mapped and dict(cell.counts) == {"success": 1, "failed": 1}
    page = render_grid(make_plan(), runs, tis, links=LocalLinks(), selected_run=R2)
    assert "<details><summary>" in page and "mapped x2" in page and "1 failed, 1 success" in page
    assert "clean[1]" in page


def test_tries_durations_errors_and_log_links_per_try_local():
    runs, tis = _data()
    page = render_grid(make_plan(), runs, tis, links=LocalLinks(), selected_run=R2)
    assert "#1 up_for_retry 2.0s" in page
    assert "#2 failed 3.0s" in page
    assert "ValueError: bad row 7" in page
    assert "/logs?dag_id=daily_sales&amp;run_id=scheduled__2026-01-02T06%3A00%3A00%2B00%3A00&amp;task_id=clean&amp;try=1&amp;map_index=1" in page
    assert "Retry" in page  # failed task -> Retry button


def test_local_actions_are_post_forms_with_confirm():
    runs, tis = _data()
    page = render_grid(make_plan(), runs, tis, links=LocalLinks(), selected_run=R2, can_mark=True)
    forms = re.findall(r'<form class="act" method="post" action="/action" onsubmit="return confirm\((.*?)\)">'
                       r'<input type="hidden" name="params" value="([^"]+)">', page)
    params = [json.loads(html.unescape(p)) for _, p in forms]
    assert {"action": "trigger", "dag_id": "daily_sales"} in params
    assert {"action": "clear", "dag_id": "daily_sales", "run_id": R2, "task_id": "extract"} in params
    assert {"action": "mark", "dag_id": "daily_sales", "run_id": R2, "task_id": "extract", "state": "failed"} in params
    assert {"action": "clear", "dag_id": "daily_sales", "run_id": R2, "failed_only": True} in params
    confirmations = [json.loads(html.unescape(c)) for c, _ in forms]
    assert "Trigger a new run of DAG 'daily_sales' now?" in confirmations


ACTIONS_ARN = ARN + "-actions"


def test_widget_actions_use_cwdb_action_call_with_confirmation():
    runs, tis = _data()
    links = WidgetLinks(ARN, "eu-west-1", "/aws/lambda/worker", actions_endpoint=ACTIONS_ARN)
    page = render_grid(make_plan(), runs, tis, links=links, selected_run=R2)
    actions = re.findall(r'<a class="btn ([^"]*)">([^<]+)</a><cwdb-action action="call" endpoint="([^"]+)" '
                         r'display="widget" confirmation="([^"]+)">([^<]+)</cwdb-action>', page)
    assert actions, "no cwdb-action buttons"
    for _, _, endpoint, confirmation, body in actions:
        assert endpoint == ACTIONS_ARN  # the separately authorised function, never the read-only one
        assert html.unescape(confirmation).endswith("?")
        json.loads(html.unescape(body))
    labels = {label for _, label, *_ in actions}
    assert {"Trigger run", "Retry", "Clear", "Clear failed"} <= labels
    assert "Mark success" not in labels  # marking is a local-UI/CLI action
    assert "<script" not in page  # CloudWatch custom widgets run no script
    assert '"action": "select"' in page  # run columns select a run
    assert "/logs?" not in page


def test_read_only_widget_draws_no_action_buttons():
    runs, tis = _data()
    page = render_grid(make_plan(), runs, tis, links=WidgetLinks(ARN, "eu-west-1", "/g"), selected_run=R2)
    assert 'class="btn' not in page and '"action": "clear"' not in page and '"action": "trigger"' not in page
    assert '"action": "select"' in page  # viewing still selects runs, through the read-only function


def test_widget_log_links_open_the_try_stream_in_the_console():
    runs, tis = _data()
    page = html.unescape(render_grid(make_plan(), runs, tis, links=WidgetLinks(ARN, "eu-west-1", "/aws/lambda/worker"), selected_run=R2))
    assert ("https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:log-groups/log-group/"
            "$252Faws$252Flambda$252Fworker/log-events/2026$252F01$252F02$252F$255B$2524LATEST$255Daaaa") in page


def test_console_url_escaping():
    assert console_log_url("us-east-1", "/aws/lambda/w", "s") == (
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1"
        "#logsV2:log-groups/log-group/$252Faws$252Flambda$252Fw/log-events/s")


def test_time_range_keeps_runs_inside_it():
    runs, tis = _data()
    start = datetime(2026, 1, 2, tzinfo=timezone.utc)
    grid = build_grid(make_plan(), runs, tis, time_range=TimeRange(start=start))
    assert [c.run_id for c in grid.runs] == [R2]
    ms = TimeRange.from_millis(int(start.timestamp() * 1000), None)
    assert ms.start == start
    page = render_grid(make_plan(), runs, tis, links=LocalLinks(), time_range=TimeRange(end=datetime(2025, 1, 1, tzinfo=timezone.utc)))
    assert "No runs in this time range." in page


def test_max_runs_keeps_the_newest():
    runs, tis = _data()
    grid = build_grid(make_plan(), runs, tis, max_runs=1)
    assert [c.run_id for c in grid.runs] == [R2]


def test_selected_run_detail_defaults_to_newest():
    runs, tis = _data()
    page = render_grid(make_plan(), runs, tis, links=LocalLinks())
    assert f'<h4 class="run" data-run="{html.escape(R2)}" data-state="failed">' in page


def test_values_are_escaped():
    runs = [make_run("<script>x</script>")]
    tis = {"<script>x</script>": [make_ti("extract", "<script>x</script>", state="failed", error="<b>bad</b>")]}
    page = render_grid(make_plan(), runs, tis, links=LocalLinks())
    assert "<script>x" not in page and "&lt;b&gt;bad&lt;/b&gt;" in page


def test_decimal_numbers_from_dynamodb_are_accepted():
    from decimal import Decimal

    runs = [make_run(R1)]
    tis = {R1: [make_ti("extract", try_number=Decimal(1), max_tries=Decimal(3), duration=Decimal("2.5"), map_index=Decimal(-1))]}
    grid = build_grid(make_plan(), runs, tis)
    inst = grid.cell("extract", R1).instance
    assert inst is not None and (inst.try_number, inst.max_tries, inst.duration_s, inst.map_index) == (1, 3, 2.5, -1)


def test_summary_state_and_durations():
    assert summary_state([None, None]) is None
    assert summary_state(["success", "failed"]) == "failed"
    assert summary_state(["success", None]) == "running"
    assert summary_state(["skipped", "success"]) == "success"
    assert [format_duration(x) for x in (None, 0.42, 12, 185, 7260)] == ["", "0.4s", "12s", "3m 05s", "2h 01m"]


def test_tries_show_the_attempts_allowed():
    runs = [make_run(R1)]
    tis = {R1: [make_ti("extract", try_number=1, max_tries=2), make_ti("load_group.load", try_number=2, max_tries=1)]}
    page = render_grid(make_plan(), runs, tis, links=LocalLinks())
    assert "extract: success, try 1 of 3" in page and "load_group.load: success, try 2 of 2" in page


def test_widget_cells_carry_tooltips_and_only_bars_select_runs():
    runs, tis = _data()
    page = render_grid(make_plan(), runs, tis, links=WidgetLinks(ARN, "eu-west-1", "/g"))
    assert page.count('"action": "select"') == len(runs)
    assert 'title="clean [mapped x2]: 1 failed, 1 success"' in page


def test_mapped_task_buttons_act_on_the_task_and_empty_tasks_show_no_tries():
    runs, tis = _data()
    tis[R2].append(make_ti("load_group.report", R2, state="success", try_number=0))
    page = render_grid(make_plan(), runs, tis, links=LocalLinks(), selected_run=R2)
    forms = [json.loads(html.unescape(p)) for p in re.findall(r'name="params" value="([^"]+)"', page)]
    assert {"action": "clear", "dag_id": "daily_sales", "run_id": R2, "task_id": "clean", "failed_only": True} in forms
    assert sum(1 for f in forms if f.get("task_id") == "clean") == 2  # Retry failed + Clear, none per index
    assert "Clear task &#x27;clean&#x27; (all 2 map indexes) in run" in page
    report_row = re.search(r'<tr class="ti" data-task="load_group.report".*?</tr>', page).group(0)
    assert "0/1" not in report_row and "</span></td><td></td><td>3.0s</td>" in report_row  # no try: no "0/1"


def test_a_task_that_succeeded_does_not_show_its_previous_error():
    """Issue #19: the error of try 1 stayed in red on the row after try 2 succeeded."""
    runs, tis = [make_run(R1)], {R1: [make_ti("extract", try_number=2, max_tries=1, error="RuntimeError: warehouse offline",
                                              history=[{"state": "failed", "error": "RuntimeError: warehouse offline",
                                                        "start": "2026-01-01T06:00:02+00:00", "end": "2026-01-01T06:00:03+00:00"}])]}
    page = render_grid(make_plan(), runs, tis, links=LocalLinks())
    row = re.search(r'<tr class="ti" data-task="extract".*?</tr>', page).group(0)
    assert '<td class="err"></td>' in row and "warehouse offline" not in row
    assert "#1 failed" in row and "#2 success" in row  # the failed try is still listed, with its log


def test_a_running_map_shows_the_count_the_expansion_fixed():
    """Issue #19: a 1,000-way map under lanes showed 'mapped x645', growing as instances were created."""
    run = make_run(R1, state="running", end_date=None, **{"map_count#clean": 1000})
    created = [make_ti("clean", map_index=i, state="success") for i in range(640)]
    created += [make_ti("clean", map_index=640 + i, state="running") for i in range(5)]
    page = render_grid(make_plan(), [run], {R1: [make_ti("extract"), *created]}, links=LocalLinks())
    assert "mapped x1000" in page and "mapped x645" not in page
    assert "355 no_status" in page and "640 success" in page and "5 running" in page
    assert _squares(page)[("clean", R1)] == "running"

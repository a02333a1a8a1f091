"""Terminal renderers: ANSI colours only when asked, tree and table layout."""

from __future__ import annotations

from observe_builders import make_plan, make_run, make_ti

from orchestrator.observe.terminal import paint, render_run_tree, render_runs

R = "manual__2026-01-01T06:00:00+00:00"


def test_paint_uses_state_colours_only_when_enabled():
    assert paint("failed", "failed", True) == "\x1b[31mfailed\x1b[0m"
    assert paint("ok", "success", True) == "\x1b[32mok\x1b[0m"
    assert paint("x", None, True) == "x"
    assert paint("failed", "failed", False) == "failed"


def test_runs_table_colours_the_state_column_and_keeps_alignment():
    runs = [make_run(R, state="failed", tasks_done=3, tasks_total=4), make_run("m2", state="success")]
    plain = render_runs(runs).splitlines()
    coloured = render_runs(runs, color=True).splitlines()
    assert "\x1b[31mfailed\x1b[0m" in coloured[1]
    strip = [line.replace("\x1b[31m", "").replace("\x1b[32m", "").replace("\x1b[0m", "") for line in coloured]
    assert strip == plain
    assert render_runs([]) == "No runs."


def test_tree_of_a_run_with_cleared_task():
    tis = [make_ti("extract", state="none", try_number=1, history=[{"try_number": 1, "state": "failed"}])]
    text = render_run_tree(make_plan(), make_run(R, state="running", end_date=None), tis)
    assert "  extract  ○ no status  try 1/1" in text
    assert text.splitlines()[0].startswith(f"daily_sales  {R}  ▶ running")


def test_tree_header_shows_the_logical_date_in_the_zone_given():
    from zoneinfo import ZoneInfo

    run = make_run(R, state="success", logical_date="2026-01-01T06:00:00+00:00")
    assert "logical date 2026-01-01T07:00:00+01:00" in render_run_tree(make_plan(), run, [], tz=ZoneInfo("Europe/Amsterdam"))
    assert "logical date 2026-01-01T06:00:00+00:00" in render_run_tree(make_plan(), run, [])

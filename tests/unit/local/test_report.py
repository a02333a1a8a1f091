"""Progress counts and the final table of `stratus run`."""

from __future__ import annotations

from decimal import Decimal

from orchestrator.local.report import plain, progress, run_table, task_rows


def _ti(task, state, map_index=-1, tries=1, duration="0.5"):
    return {"task_id": task, "map_index": Decimal(map_index), "state": state, "try_number": Decimal(tries),
            "duration": Decimal(duration)}


def test_progress_counts_each_state_family():
    tis = [_ti("a", "success"), _ti("b", "running"), _ti("c", "up_for_retry"), _ti("d", "upstream_failed"),
           _ti("e", "queued"), _ti("f", "failed")]
    p = progress(tis)
    assert (p.done, p.running, p.failed, p.retrying, p.total) == (3, 2, 2, 1, 6)
    assert p.line() == "done 3/6  running 2  failed 2  retrying 1"


def test_mapped_tasks_are_one_summary_row_and_missing_tasks_show_no_status():
    tis = [_ti("extract", "success")] + [_ti("work", "success", i, duration=str(i)) for i in range(3)]
    tis.append(_ti("work", "failed", 3, tries=2, duration="0.1"))
    rows = task_rows(tis, ["extract", "work", "load"])
    assert rows[0] == ["extract", "-", "success", "1", "0.50s"]
    assert rows[1] == ["work", "[4]", "success 3, failed 1", "1-2", "max 2.00s"]
    assert rows[2] == ["load", "-", "no status", "0", "-"]


def test_run_table_has_a_header_and_columns():
    run = {"dag_id": "d", "run_id": "manual__x", "state": "success",
           "start_date": "2026-01-01T00:00:00+00:00", "end_date": "2026-01-01T00:01:05+00:00"}
    text = run_table(run, [_ti("a", "success")], ["a"])
    lines = text.splitlines()
    assert lines[0] == "d manual__x: success (1m05.0s)"
    assert lines[1].split() == ["task", "map", "index", "state", "tries", "duration"]


def test_plain_turns_dynamodb_values_into_json_values():
    assert plain({"n": Decimal("2"), "f": Decimal("0.5"), "s": {"b", "a"}, "l": [Decimal(1)]}) == {
        "n": 2, "f": 0.5, "s": ["a", "b"], "l": [1]}


def test_expected_instances_counts_map_children_once_known():
    from orchestrator.local.report import expected_instances

    assert expected_instances(None, ["work"], 3) == 3
    assert expected_instances({"map_count#work": Decimal(1000)}, ["work"], 3) == 1002
    assert progress([_ti("a", "success")], expected=1002).line() == "done 1/1002  running 0  failed 0  retrying 0"

"""Airflow-idiom DAG files that used to be refused or to differ silently (issues #21 and #18).

Each file in ``airflow_compat/`` is written as an Airflow 3 user writes it (``from airflow.sdk
import ...``). Expected task states and XComs are Airflow 3.3's, taken from Airflow's own code
and documentation (cited per test): no Airflow is installed here.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from orchestrator.cli.main import main
from orchestrator.errors import PlanValidationError
from orchestrator.plan.compiler import compile_dag
from orchestrator.plan.loader import DagBag

HERE = Path(__file__).parent / "airflow_compat"
DAY = datetime(2026, 3, 4, tzinfo=timezone.utc)


def _use(h, name: str) -> None:
    shutil.copy(HERE / f"{name}.py", h.root / f"{name}.py")


def _xcom(h, run, task_id: str, key: str = "return_value", map_index: int = -1):
    return h.store.get_xcom(run["dag_id"], run["run_id"], task_id, map_index, key)


# --- #21: refusal per DAG, not per file ----------------------------------------------------------


def test_one_unsupported_dag_is_refused_alone_and_the_two_others_run(h, capsys):
    _use(h, "c01_one_refused")
    bag = DagBag(str(h.root))
    assert not bag.import_errors and sorted(bag.dags) == ["c01_first", "c01_refused", "c01_second"]
    with pytest.raises(PlanValidationError) as err:
        compile_dag(bag.get_dag("c01_refused"), str(h.root))
    assert err.value.problems == [
        f"{h.root}/c01_one_refused.py:30: Task 'put' in DAG 'c01_refused' uses the 'amazon' provider "
        "(apache-airflow-providers-amazon) (airflow.providers.amazon.aws.operators.s3.S3CreateObjectOperator), "
        "which Stratus does not serve: Stratus runs no provider packages: write the step as a @task that calls "
        "the service's client library (boto3 for AWS), or subclass BaseOperator.",
        f"{h.root}/c01_one_refused.py:36: Task 'crunch' in DAG 'c01_refused' uses virtualenv tasks "
        "(@task.virtualenv), which Stratus does not serve: package the dependencies with the worker function (or "
        "a per-task lambda_function) and use @task (Stratus serves @task, @task.python, @task.branch, "
        "@task.short_circuit, @task.bash and @task.sensor).",
    ]
    # `stratus validate` lists the refused DAG with file:line and the feature, and counts the others as loaded
    assert main(["validate", str(h.root)]) == 1
    out = capsys.readouterr().out
    assert "c01_one_refused.py:30: Task 'put' in DAG 'c01_refused' uses the 'amazon' provider" in out
    assert "2 error(s)" in out and "3 DAG(s) loaded" in out
    for dag_id, task_id, value in (("c01_first", "total", 6), ("c01_second", "shout", "HELLO")):
        run = h.run(dag_id, logical_date=DAY)
        assert run["state"] == "success"
        assert set(h.states(dag_id, run["run_id"]).values()) == {"success"}
        assert _xcom(h, run, task_id) == value


def test_every_airflow_name_imports_and_a_name_only_referenced_by_a_task_refuses_that_dag(h):
    (h.root / "names.py").write_text(
        "from datetime import datetime\n"
        "from airflow.sdk import dag, task\n"
        "from airflow.providers.google.cloud.hooks.gcs import GCSHook\n"
        "from airflow.sdk.execution_time.something_new import brand_new_helper\n"
        "\n"
        "@dag(schedule=None, start_date=datetime(2026, 1, 1))\n"
        "def uses_hook():\n"
        "    @task\n"
        "    def download():\n"
        "        return GCSHook().download('b', 'o')\n"
        "    download()\n"
        "\n"
        "@dag(schedule=None, start_date=datetime(2026, 1, 1))\n"
        "def plain():\n"
        "    @task\n"
        "    def ok():\n"
        "        return 1\n"
        "    ok()\n"
        "uses_hook()\nplain()\n")
    bag = DagBag(str(h.root))
    assert not bag.import_errors
    with pytest.raises(PlanValidationError, match=r"names\.py:10: Task 'download' in DAG 'uses_hook' uses the "
                                                  r"'google' provider .*GCSHook"):
        compile_dag(bag.get_dag("uses_hook"), str(h.root))
    assert h.run("plain", logical_date=DAY)["state"] == "success"


# --- #21: the small names and the two XCom differences -------------------------------------------


@pytest.mark.parametrize("choice, followed, pushed, states", [
    # Airflow 3.3 (providers/standard/utils/skipmixin.py): skip_all_except pushes skipmixin_key
    # {"followed": [...]} and, when it skips a task, ends the try with DownstreamTasksSkipped before
    # the return value is pushed; a branch that skips nothing pushes its return value.
    (1, ["left"], None, {"left": "success", "right": "skipped"}),
    (None, ["left", "right"], ["left", "right"], {"left": "success", "right": "success"}),
])
def test_compat_sdk_asset_uri_param_keys_bash_and_branch_xcoms_as_airflow(h, choice, followed, pushed, states):
    _use(h, "c02_small_names")
    run = h.run("c02_small_names", logical_date=DAY, conf={"choice": choice})
    assert run["state"] == "success"
    assert h.states("c02_small_names", run["run_id"]) == {
        "produce": "success", "quiet": "success", "loud": "success", "pick": "success", "join": "success", **states}
    assert _xcom(h, run, "produce") == {"choice": choice, "utc": True}
    assert _xcom(h, run, "quiet") == ""  # no output: Airflow's SubprocessHook pushes ""
    assert _xcom(h, run, "loud") == "last"
    assert _xcom(h, run, "pick", key="skipmixin_key") == {"followed": followed}
    assert _xcom(h, run, "pick") == pushed


def test_param_with_int_and_none_keys_compiles_and_lists_in_the_plan(h):
    _use(h, "c02_small_names")
    plan = compile_dag(DagBag(str(h.root)).get_dag("c02_small_names"), str(h.root))
    assert plan.params["choice"].schema_["values_display"] == {"1": "One", "2": "Two", "null": "Nothing"}


# --- #18: branch operators and task-level params ----------------------------------------------------


@pytest.mark.parametrize("logical_date, followed", [
    # 2026-03-04 is a Wednesday; Airflow's BranchDateTimeOperator takes time targets on the day of "now"
    # (providers/standard/operators/datetime.py target_times_as_dates) and BranchDayOfWeekOperator
    # compares isoweekday() with the WeekDay set (operators/weekday.py).
    (datetime(2026, 3, 4, 3, 0, tzinfo=timezone.utc), {"early", "midweek"}),
    (datetime(2026, 3, 7, 12, 0, tzinfo=timezone.utc), {"later", "other_day"}),
])
def test_branch_datetime_and_day_of_week_follow_the_logical_date(h, logical_date, followed):
    _use(h, "c05_branch_time_params")
    run = h.run("c05_branch_time", logical_date=logical_date)
    assert run["state"] == "success"
    others = {"early", "later", "midweek", "other_day"} - followed
    assert h.states("c05_branch_time", run["run_id"]) == {
        "in_window": "success", "weekday": "success", **{t: "success" for t in followed},
        **{t: "skipped" for t in others}}


def test_branch_datetime_needs_a_target_and_weekday_names_are_checked(h):
    (h.root / "bad.py").write_text(
        "import datetime\nfrom airflow.sdk import DAG\n"
        "from airflow.providers.standard.operators.datetime import BranchDateTimeOperator\n"
        "with DAG('bad', schedule=None):\n"
        "    BranchDateTimeOperator(task_id='b', follow_task_ids_if_true='a', follow_task_ids_if_false='c')\n")
    [err] = DagBag(str(h.root)).import_errors.values()
    assert "Task 'b': Both target_upper and target_lower are None. At least one must be defined." in str(err)


@pytest.mark.parametrize("conf, own_limit", [({}, 10), ({"limit": 7}, 7)])
def test_task_level_params_merge_over_the_dags_and_the_conf_overrides_them(h, conf, own_limit):
    # Airflow 3: a task's params are the DAG's with the task's own over them; the run's conf overrides
    # both (dag_run_conf_overrides_params, default True).
    _use(h, "c05_branch_time_params")
    run = h.run("c05_task_params", logical_date=DAY, conf=conf)
    assert run["state"] == "success"
    assert _xcom(h, run, "own") == {"region": "eu", "limit": own_limit, "mode": "fast"}
    assert _xcom(h, run, "dag_only") == {"region": "eu", "limit": conf.get("limit", 5)}
    assert _xcom(h, run, "templated") == f"slow-{conf.get('limit', 5)}"


# --- #21: every context key Stratus accepts is filled as Airflow fills it ----------------------------


def test_context_keys_accepted_are_filled_prev_success_from_the_run_table(h):
    (h.root / "prev.py").write_text(
        "from datetime import datetime\n"
        "from airflow.sdk import dag, task\n"
        "from airflow.providers.standard.operators.bash import BashOperator\n"
        "@dag(schedule='@daily', start_date=datetime(2026, 1, 1))\n"
        "def prev():\n"
        "    @task\n"
        "    def keys(prev_start_date_success, prev_data_interval_start_success, test_mode, reason,\n"
        "             task_reschedule_count, templates_dict, map_index_template, inlet_events):\n"
        "        return [prev_data_interval_start_success and prev_data_interval_start_success.isoformat(),\n"
        "                prev_start_date_success is not None, test_mode, reason, task_reschedule_count,\n"
        "                templates_dict, map_index_template, len(inlet_events)]\n"
        "    shown = BashOperator(task_id='shown', bash_command='echo {{ prev_data_interval_end_success }}')\n"
        "    keys() >> shown\n"
        "prev()\n")
    first = h.run("prev", logical_date=datetime(2026, 3, 3, tzinfo=timezone.utc), run_type="scheduled",
                  data_interval=(datetime(2026, 3, 2, tzinfo=timezone.utc), datetime(2026, 3, 3, tzinfo=timezone.utc)))
    assert first["state"] == "success"
    assert _xcom(h, first, "keys") == [None, False, False, None, 0, None, None, 0]
    assert _xcom(h, first, "shown") == "None"
    second = h.run("prev", logical_date=datetime(2026, 3, 4, tzinfo=timezone.utc), run_type="scheduled",
                   data_interval=(datetime(2026, 3, 3, tzinfo=timezone.utc), datetime(2026, 3, 4, tzinfo=timezone.utc)))
    assert _xcom(h, second, "keys") == ["2026-03-02T00:00:00+00:00", True, False, None, 0, None, None, 0]
    assert _xcom(h, second, "shown") == "2026-03-03 00:00:00+00:00"


def test_a_dag_on_a_watched_asset_is_refused_with_what_to_do(h):
    (h.root / "watch.py").write_text(
        "from datetime import datetime\n"
        "from airflow.sdk import Asset, AssetWatcher, dag, task\n"
        "from airflow.providers.standard.triggers.file import FileDeleteTrigger\n"
        "watched = Asset('watched', watchers=[AssetWatcher(name='w', trigger=FileDeleteTrigger(filepath='/x'))])\n"
        "@dag(schedule=[watched], start_date=datetime(2026, 1, 1))\n"
        "def watch_dag():\n"
        "    @task\n"
        "    def t():\n"
        "        return 1\n"
        "    t()\n"
        "watch_dag()\n")
    with pytest.raises(PlanValidationError, match=r"watch\.py:5: DAG 'watch_dag' \(schedule\) uses asset watchers "
                                                  r"\(event-driven scheduling\).*drop the watchers"):
        compile_dag(DagBag(str(h.root)).get_dag("watch_dag"), str(h.root))

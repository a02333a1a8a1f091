"""Airflow-compatibility sweep: DAG files written as an Airflow 3 user writes them, run on the engine.

Each file in ``airflow_sweep/`` uses Airflow's import paths (``airflow.sdk``, ``airflow.decorators``,
``airflow.operators.*``, ``airflow.providers.standard.*``) and several features at once. Every
test runs one of them and compares each task's final state and XCom with what Airflow 3 gives
for the same file (trigger rules, skip propagation, branching into groups, mapping, templates,
retries, params overridden by conf).
"""

from __future__ import annotations

import shutil
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pytest

from orchestrator.errors import StratusError
from orchestrator.plan.loader import DagBag

SWEEP = Path(__file__).parent / "airflow_sweep"
DAY = datetime(2026, 3, 4, tzinfo=timezone.utc)


def _use(h, name: str) -> None:
    shutil.copy(SWEEP / f"{name}.py", h.root / f"{name}.py")
    for folder in ("scripts", "sql"):
        if not (h.root / folder).exists():
            shutil.copytree(SWEEP / folder, h.root / folder)


def _run(h, name: str, dag_id: str | None = None, **kwargs):
    _use(h, name)
    dag_id = dag_id or name
    run = h.run(dag_id, logical_date=kwargs.pop("logical_date", DAY), **kwargs)
    return run, h.states(dag_id, run["run_id"])


def _xcom(h, run, task_id: str, map_index: int = -1, key: str = "return_value"):
    return h.store.get_xcom(run["dag_id"], run["run_id"], task_id, map_index, key)


def test_taskflow_context_multiple_outputs_and_templated_op_kwargs_with_conf(h):
    run, states = _run(h, "s01_etl_context", conf={"limit": 4, "region": "us"})
    assert run["state"] == "success"
    assert set(states.values()) == {"success"}
    assert _xcom(h, run, "extract") == {"rows": [0, 1, 2, 3], "region": "us", "ds": "2026-03-04"}
    assert _xcom(h, run, "extract", key="rows") == [0, 1, 2, 3]
    # `-> dict` makes multiple_outputs, as in Airflow; the pushed key comes with it
    assert _xcom(h, run, "transform", key="row_count") == 4
    assert _xcom(h, run, "transform", key="total") == 6
    assert _xcom(h, run, "load") == {"count": 4, "total": 6, "extract_keys": ["ds", "region", "rows"],
                                     "conf": {"limit": 4, "region": "us"}}
    assert _xcom(h, run, "report") == "2026-03-04|us-20260304|4"


def test_param_validation_rejects_bad_conf_naming_the_param(h):
    _use(h, "s01_etl_context")
    with pytest.raises(StratusError, match=r"Param 'limit' of DAG 's01_etl_context': 11 is greater than the maximum"):
        h.start("s01_etl_context", conf={"limit": 11})
    with pytest.raises(StratusError, match=r"Param 'region' of DAG 's01_etl_context': 'asia' is not one of"):
        h.start("s01_etl_context", conf={"region": "asia"})


@pytest.mark.parametrize("mode, expected, join_value", [
    ("fast", {"paths.fast": "success", "paths.slow": "skipped", "after_fast": "success"}, None),
    ("both", {"paths.fast": "success", "paths.slow": "success", "after_fast": "success"}, "slow-done"),
    ("none", {"paths.fast": "skipped", "paths.slow": "skipped", "after_fast": "skipped", "join": "skipped"}, None),
])
def test_branch_into_a_task_group_with_none_failed_min_one_success_join(h, mode, expected, join_value):
    run, states = _run(h, "s02_branching", conf={"mode": mode})
    assert run["state"] == "success"
    want = {"choose": "success", "join": "success", "end": "success", **expected}
    assert states == want
    assert _xcom(h, run, "join") == join_value


def test_short_circuit_with_and_without_ignore_downstream_trigger_rules(h):
    run, states = _run(h, "s03_short_circuit")
    assert run["state"] == "success"
    assert states == {
        "gate_closed": "success", "after_closed": "skipped", "cleanup_hard": "skipped",   # all downstream skipped
        "soft_gate": "success", "after_soft": "skipped", "cleanup_soft": "success",       # rules still apply
        "gate_open": "success", "after_open": "success", "open_end": "success",
    }
    assert _xcom(h, run, "gate_closed") == []
    assert _xcom(h, run, "after_open") == {"go": True}


def test_partial_expand_expand_kwargs_map_over_map_zero_items_and_cross_product(h):
    run, states = _run(h, "s04_mapping")
    assert run["state"] == "success"
    assert states["per_item"] == "skipped" and states["after_empty"] == "skipped"
    assert [_xcom(h, run, "size", i) for i in range(3)] == [50, 50, 50]
    assert _xcom(h, run, "total") == 300
    assert _xcom(h, run, "sums") == [3, 30, 0, 1]
    assert [_xcom(h, run, "cross", i) for i in range(4)] == ["1x", "1y", "2x", "2y"]


def test_classic_dag_chain_cross_downstream_branch_and_xcom_templates(h):
    run, states = _run(h, "s05_classic")
    assert run["state"] == "success"
    assert states == {"start": "success", "producer": "success", "consumer": "success", "branch": "success",
                      "left": "success", "right": "skipped", "a1": "skipped", "a2": "skipped",
                      "b1": "success", "b2": "skipped", "many": "success"}
    assert _xcom(h, run, "consumer") == "p:7"
    assert _xcom(h, run, "many") == ["pushed", "p:7"]


def test_retries_fail_exception_timeout_and_failure_trigger_rules(h):
    run, states = _run(h, "s06_retries")
    assert run["state"] == "failed"
    assert states == {"flaky": "success", "boom": "failed", "fail_fast": "failed", "slow": "failed",
                      "after_boom": "upstream_failed", "nf": "upstream_failed", "alert": "success",
                      "all_failed": "success", "finally_": "success"}
    tis = {ti["task_id"]: ti for ti in h.store.list_tis("s06_retries", run["run_id"])}
    assert _xcom(h, run, "flaky") == 2
    assert int(tis["fail_fast"]["try_number"]) == 1  # AirflowFailException: no retry despite retries=2
    assert "execution_timeout" in tis["slow"]["error"]


def test_asset_schedules_compile_and_the_producer_runs(h):
    run, states = _run(h, "s07_assets", "s07_producer")
    assert run["state"] == "success" and states == {"write_raw": "success", "write_clean": "success"}
    bag = DagBag(str(h.root))
    assert {"s07_consumer", "s07_either", "s07_producer"} <= set(bag.dags)


def test_task_group_decorator_nested_groups_and_group_dependencies(h):
    run, states = _run(h, "s08_groups")
    assert run["state"] == "success"
    assert set(states) == {"seed", "process.inc", "process.square", "outer.inner.neg", "outer.wrap",
                           "side.e1", "side.e2", "final"}
    assert _xcom(h, run, "final") == {"a": 36, "b": {"v": -36}, "ids": [-36, 36]}
    dag = DagBag(str(h.root)).get_dag("s08_groups")
    assert dag.task_dict["final"].upstream_task_ids == {"process.square", "outer.wrap", "side.e2"}


def test_cron_dag_context_dates_and_bash_macros(h):
    run, states = _run(h, "s09_cron", logical_date=datetime(2026, 3, 4, 6, tzinfo=timezone.utc))
    assert run["state"] == "success"
    assert _xcom(h, run, "window")["ds_nodash"] == "20260304"
    assert _xcom(h, run, "window")["run_type"] == "manual"
    assert _xcom(h, run, "echo") == "2026-03-04 2026-03-05"


def test_skip_exception_against_every_trigger_rule(h):
    run, states = _run(h, "s10_skips")
    assert run["state"] == "success"
    assert states == {"maybe": "skipped", "ok": "success", "needs_all": "skipped", "none_failed": "success",
                      "none_skipped": "skipped", "all_skipped": "success", "one_success": "success",
                      "always": "success", "nfmos": "success", "chain_a": "skipped",
                      "downstream_of_skipped": "skipped"}


def test_xcom_pull_keys_map_indexes_defaults_and_templated_xcom(h):
    run, states = _run(h, "s11_xcom")
    assert run["state"] == "success"
    assert _xcom(h, run, "gather") == {"vals": [101, 102, 103], "sq": [1, 4, 9], "one": 102,
                                       "meta": {"source": "api", "n": 3}, "left": [1, 2], "right": "r",
                                       "missing": "dflt", "split_left": [1, 2]}
    assert _xcom(h, run, "templated") == {"value": "api", "ids": "templated/s11_xcom/True"}


@pytest.mark.parametrize("conf, gate, expected", [
    ({}, True, {"n": 10, "names": ["a"], "flag": False, "ratio": 0.5}),
    ({"n": 3, "names": ["x"], "flag": True}, False, None),
])
def test_params_of_every_type_and_short_circuit_operator(h, conf, gate, expected):
    run, states = _run(h, "s12_params_callbacks", conf=conf)
    assert run["state"] == "success"
    assert _xcom(h, run, "gate") is gate
    assert states["compute"] == ("success" if gate else "skipped")
    assert _xcom(h, run, "compute") == expected


def test_templates_in_bash_env_templates_dict_op_args_and_taskflow_literals(h):
    run, states = _run(h, "s13_templates", conf={"who": "bob"})
    assert run["state"] == "success"
    assert _xcom(h, run, "bash") == "hi-bob-none 20260304T000000 2026-03-04 prod"
    assert _xcom(h, run, "py") == {"a": "2026-03-04", "b": "v1",
                                   "td": {"y": "2026-03-03", "try": "1", "dflt": "dflt"}}
    assert _xcom(h, run, "taskflow_literal") == {"when": "2026-03-04", "who": "bob", "prev": "2026-03-03"}


def test_classic_operators_mapped_and_partly_failing_mapped_task(h):
    run, states = _run(h, "s14_map_classic")
    assert run["state"] == "failed"
    assert _xcom(h, run, "gather") == [3, 2, 6]
    assert _xcom(h, run, "gather_b") == ["one", "two"]
    assert states["check[0]"] == "success" and states["check[1]"] == "skipped" and states["check[2]"] == "failed"
    assert states["after_check"] == "upstream_failed" and states["nf"] == "upstream_failed"
    assert states["summary"] == "success"


def test_do_xcom_push_false_override_and_default_args_start_date(h):
    run, states = _run(h, "s15_misc")
    assert run["state"] == "success"
    assert states == {"one": "success", "silent": "success", "renamed": "success", "e": "success",
                      "puller": "success"}
    # do_xcom_push=False: Airflow keeps no return value
    assert _xcom(h, run, "silent") is None
    assert _xcom(h, run, "puller") == {"silent": None, "renamed": 2}


def test_mapping_over_a_dict_gives_key_value_pairs(h):
    run, states = _run(h, "s16_map_edges")
    assert run["state"] == "success"
    assert [_xcom(h, run, "pair", i) for i in range(2)] == ["a=1", "b=2"]
    assert [_xcom(h, run, "lit", i) for i in range(2)] == [["x", 1], ["y", 2]]


def test_branch_to_a_group_id_suffixed_ids_bad_branch_and_bash_script_file(h):
    run, states = _run(h, "s17_probe")
    assert run["state"] == "failed"  # bad_branch fails, as in Airflow
    assert states["grp.a"] == "success" and states["grp.b"] == "success" and states["other"] == "skipped"
    assert states["join"] == "success"
    assert states["bad_branch"] == "failed" and states["bb_down"] == "upstream_failed"
    assert [_xcom(h, run, t) for t in ("twice", "twice__1", "twice__2")] == [2, 4, 8]
    assert _xcom(h, run, "tg.inner") == 2 and _xcom(h, run, "tg__1.inner") == 3
    assert [_xcom(h, run, "mapgrp.sq", i) for i in range(2)] == [1, 4]
    assert _xcom(h, run, "script") == "script 2026-03-04 P"  # template_ext: the .sh file, rendered
    keys = _xcom(h, run, "ctx_keys")
    assert keys["ts_nodash"] == "20260304T000000" and keys["key"] == "s17_probe__ctx_keys__20260304"


def test_chain_linear_timezone_states_template_searchpath_and_jinja_options(h):
    run, states = _run(h, "s18_compat")
    assert run["state"] == "success"
    dag = DagBag(str(h.root)).get_dag("s18_compat")
    assert dag.task_dict["c1"].upstream_task_ids == {"b1", "b2"}
    assert dag.task_dict["c2"].upstream_task_ids == {"b1", "b2"}
    assert dag.task_dict["count"].upstream_task_ids == {"c1", "c2"}
    assert dag.start_date.isoformat() == "2026-01-01T00:00:00+00:00"
    assert _xcom(h, run, "c1") == {"state_enum": "running", "parsing": [None, None]}
    assert _xcom(h, run, "c2") is None
    assert _xcom(h, run, "count") == "from searchpath sales"
    assert _xcom(h, run, "loop") == "done-20260304"
    assert _xcom(h, run, "inc") == "included sales"  # {% include %} from the template_searchpath


def test_a_missing_template_file_fails_the_task_naming_the_file_and_folders(h):
    (h.root / "nofile.py").write_text(textwrap.dedent("""
        from datetime import datetime
        from airflow.sdk import DAG
        from airflow.providers.standard.operators.bash import BashOperator

        with DAG("nofile", schedule=None, start_date=datetime(2026, 1, 1)):
            BashOperator(task_id="run_it", bash_command="missing/job.sh")
    """))
    run = h.run("nofile")
    ti = h.store.get_ti("nofile", run["run_id"], "run_it")
    assert ti["state"] == "failed"
    assert "template file 'missing/job.sh'" in ti["error"] and "template_searchpath" in ti["error"]


def test_fail_fast_is_refused_with_what_to_do_instead(tmp_path):
    (tmp_path / "ff.py").write_text(textwrap.dedent("""
        from datetime import datetime
        from airflow.sdk import DAG
        with DAG("ff", schedule=None, start_date=datetime(2026, 1, 1), fail_fast=True):
            pass
    """))
    bag = DagBag(str(tmp_path))
    assert "fail_fast is not supported by Stratus" in str(bag.import_errors[str(tmp_path / "ff.py")])


# --- engine behaviours the sweep found missing (fixed by the lead in 842a6b8) ---------------------------


def test_reducing_a_mapped_task_gets_only_the_values_that_were_pushed(h):
    # Airflow's lazy sequence holds only the XComs that exist: no None for an instance that returned
    # None (s16) or was skipped or failed (s14's all_done reducer)
    run, states = _run(h, "s16_map_edges")
    assert _xcom(h, run, "collect") == [0, 2]
    run, states = _run(h, "s14_map_classic")
    assert _xcom(h, run, "summary") == [1]


def test_xcom_pull_of_a_mapped_task_gets_only_the_values_that_were_pushed(h):
    (h.root / "xp.py").write_text(textwrap.dedent("""
        from datetime import datetime
        from airflow.sdk import dag, task

        @dag(schedule=None, start_date=datetime(2026, 1, 1))
        def xp():
            @task
            def maybe(x):
                return None if x == 1 else x

            @task
            def pull(ti=None):
                return ti.xcom_pull(task_ids="maybe")

            maybe.expand(x=[0, 1, 2]) >> pull()

        xp()
    """))
    run = h.run("xp")
    assert h.store.get_xcom("xp", run["run_id"], "pull") == [0, 2]


def test_on_failure_callback_gets_the_exception_in_its_context(h, tmp_path):
    out = tmp_path / "seen.txt"
    (h.root / "cb.py").write_text(textwrap.dedent(f"""
        from datetime import datetime
        from airflow.sdk import dag, task

        def note(context):
            with open({str(out)!r}, "a") as fh:
                fh.write(repr(context.get("exception")))

        @dag(schedule=None, start_date=datetime(2026, 1, 1), default_args={{"on_failure_callback": note}})
        def cb():
            @task
            def boom():
                raise ValueError("bad input")
            boom()

        cb()
    """))
    run = h.run("cb")
    assert run["state"] == "failed"
    assert "bad input" in out.read_text()


def test_outlet_events_accessor_is_in_the_context(h):
    (h.root / "oe.py").write_text(textwrap.dedent("""
        from datetime import datetime
        from airflow.sdk import Asset, dag, task

        out = Asset("s3://stratus-landing/oe/")

        @dag(schedule=None, start_date=datetime(2026, 1, 1))
        def oe():
            @task(outlets=[out])
            def write(**context):
                context["outlet_events"][out].extra = {"rows": 3}
                return "ok"
            write()

        oe()
    """))
    run = h.run("oe")
    assert h.states("oe", run["run_id"]) == {"write": "success"}


# --- the CLI on the sweep folder ------------------------------------------------------------------------


def test_validate_and_dags_honour_the_dags_option_and_label_any_of_assets(tmp_path, capsys):
    from orchestrator.cli.main import main

    for name in ("s07_assets", "s02_branching"):
        shutil.copy(SWEEP / f"{name}.py", tmp_path / f"{name}.py")
    assert main(["validate", "--dags", str(tmp_path)]) == 0
    assert "OK: 4 DAG(s)" in capsys.readouterr().out  # before: --dags was ignored, ./dags validated
    assert main(["dags", "--dags", str(tmp_path)]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[2:]}
    assert "assets: s3://stratus-landing/sweep/raw/ & s3://stratus-landing/sweep/clean/" in rows["s07_consumer"]
    assert "assets: s3://stratus-landing/sweep/raw/ | s3://stratus-landing/sweep/clean/" in rows["s07_either"]
    with pytest.raises(SystemExit, match="name different folders"):
        main(["validate", str(tmp_path), "--dags", str(tmp_path / "other")])


@pytest.mark.parametrize("body, expected", [
    ("from airflow.sdk import dag, task, task_group\n@dag(schedule=None, start_date=datetime(2026, 1, 1))\n"
     "def d():\n    @task\n    def show(x):\n        return x\n    @task_group\n    def inner(y):\n"
     "        show(y)\n    @task_group\n    def outer(x):\n        inner.expand(y=[x])\n"
     "    outer.expand(x=[1, 2])\nd()\n",
     r"broken\.py:13: Task group 'inner' in DAG 'd': a mapped task group inside another mapped "
     r"task group is not supported by Stratus; map the outer group only"),
    ("from airflow.sdk import dag, task\n@dag(schedule=None, start_date=datetime(2026, 1, 1))\ndef d():\n"
     "    @task\n    def nums():\n        return [1]\n    @task\n    def show(x):\n        return x\n"
     "    show.expand_kwargs(nums().map(lambda v: {'x': v}))\nd()\n",
     r"broken\.py:11: Task 'show' .*expand_kwargs\(\) over an output's \.map\(\) is not supported yet"),
    ("from airflow.sdk import dag, task, task_group\n@dag(schedule=None, start_date=datetime(2026, 1, 1))\n"
     "def d():\n    @task.branch\n    def pick(x):\n        return 'g.a'\n    @task\n    def a():\n"
     "        return 1\n    @task_group\n    def g(x):\n        pick(x) >> a()\n    g.expand(x=[1, 2])\nd()\n",
     r"Task 'g\.pick' in DAG 'd' \(.*broken\.py:13\): a mapped @task\.branch \(by \.expand\(\) or in a mapped task "
     r"group\) is not supported by Stratus"),
    ("from airflow.sdk import dag, task, task_group\n@dag(schedule=None, start_date=datetime(2026, 1, 1))\n"
     "def d():\n    @task\n    def work(x):\n        return x\n    @task(trigger_rule='one_failed')\n"
     "    def alarm(v):\n        return v\n    @task_group\n    def g(x, v):\n        work(x) >> alarm(v)\n"
     "    g.partial(v=work.override(task_id='outside')(0)).expand(x=[1, 2])\nd()\n",
     r"Task 'g\.alarm' in DAG 'd' \(.*broken\.py:13\): trigger_rule 'one_failed' on a task that follows another task "
     r"of mapped task group 'g' and also depends on a task outside the group is not supported by Stratus yet"),
    ("from airflow.sdk import dag, task, ObjectStoragePath\n@dag(schedule=None, start_date=datetime(2026, 1, 1))\n"
     "def d():\n    base = ObjectStoragePath('s3://bucket/data/')\n    @task\n    def write():\n"
     "        (base / 'x.txt').write_text('hi')\n    write()\nd()\n",
     r"broken\.py:5: DAG 'd' uses object storage paths \(ObjectStoragePath\) \(airflow\.sdk\.ObjectStoragePath\), "
     r"which Stratus does not serve: read and write the objects with boto3"),
    ("from airflow.sdk import dag, task\n@dag(schedule=None, start_date=datetime(2026, 1, 1))\ndef d():\n"
     "    @task.virtualenv(requirements=['pandas'])\n    def calc():\n        return 1\n    calc()\nd()\n",
     r"broken\.py:8: Task 'calc' in DAG 'd' uses virtualenv tasks \(@task\.virtualenv\), which Stratus does "
     r"not serve: package the dependencies with the worker function"),
    ("from airflow.sdk import dag\nfrom airflow.providers.standard.operators.hitl import ApprovalOperator\n"
     "@dag(schedule=None, start_date=datetime(2026, 1, 1))\ndef d():\n"
     "    ApprovalOperator(task_id='approve', subject='ship it?')\nd()\n",
     r"broken\.py:6: Task 'approve' in DAG 'd' uses the human-in-the-loop operators "
     r"\(airflow\.providers\.standard\.operators\.hitl\.ApprovalOperator\), which Stratus does not serve: ask for "
     r"the decision outside the run"),
])
def test_airflow_features_not_built_refuse_their_dag_at_validate_with_what_to_write_instead(tmp_path, body, expected):
    import re

    from orchestrator.errors import PlanValidationError
    from orchestrator.plan.compiler import compile_dag

    (tmp_path / "broken.py").write_text("from datetime import datetime\n" + body)
    bag = DagBag(str(tmp_path))
    assert not bag.import_errors  # the file loads: only the DAG using the feature is refused
    with pytest.raises(PlanValidationError) as err:
        compile_dag(bag.get_dag("d"), str(tmp_path))
    assert re.search(expected, str(err.value)), str(err.value)


def test_native_templates_dag_function_params_group_default_args_and_mapped_retry(h):
    run, states = _run(h, "s19_native_retries", conf={"batch": 7})
    # g.fails_in_group is not a leaf and its downstream tasks succeed: the run succeeds, as in Airflow
    assert run["state"] == "success"
    assert states["g.fails_in_group"] == "failed" and states["on_fail"] == "success"
    assert states["all_done_empty"] == "success"
    tis = {(t["task_id"], int(t["map_index"])): t for t in h.store.list_tis("s19_native_retries", run["run_id"])}
    assert int(tis[("g.fails_in_group", -1)]["try_number"]) == 1  # the group's default_args: retries=0
    assert int(tis[("flaky_map", 1)]["try_number"]) == 2
    assert _xcom(h, run, "total") == 6
    assert _xcom(h, run, "classic_xcomarg") == "key:[1, 2]"
    assert _xcom(h, run, "native") == {"a_type": "int", "b_type": "list", "c": "L"}
    assert _xcom(h, run, "var_defaults") == ["d3", "d2"]


def test_stratus_run_takes_a_dag_file_as_well_as_a_dag_id(tmp_path, monkeypatch):
    from orchestrator.cli.run_commands import resolve_dag_target

    dags = tmp_path / "dags"
    dags.mkdir()
    for name in ("s10_skips", "s07_assets"):
        shutil.copy(SWEEP / f"{name}.py", dags / f"{name}.py")
    monkeypatch.chdir(tmp_path)
    assert resolve_dag_target("s10_skips", None) == ("dags", "s10_skips")
    assert resolve_dag_target("dags/s10_skips.py", None) == (str(dags), "s10_skips")
    assert resolve_dag_target(str(dags / "s10_skips.py"), str(dags)) == (str(dags), "s10_skips")
    with pytest.raises(StratusError, match=r"holds 3 DAGs \(s07_consumer, s07_either, s07_producer\); run one by id"):
        resolve_dag_target("dags/s07_assets.py", None)
    with pytest.raises(StratusError, match=r"'dags/nope\.py' does not exist"):
        resolve_dag_target("dags/nope.py", None)
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(StratusError, match=r"is not inside the DAGs folder"):
        resolve_dag_target("dags/s10_skips.py", str(other))


def test_quarterly_and_midnight_presets_compile_and_continuous_is_refused():
    from orchestrator.plan.schedule import normalize_schedule

    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    quarterly, problems = normalize_schedule("@quarterly", start)
    assert not problems and quarterly.expression == "0 0 1 */3 *" and quarterly.preset == "@quarterly"
    assert normalize_schedule("@midnight", start)[0].expression == "0 0 * * *"
    schedule, problems = normalize_schedule("@continuous", start)
    assert schedule is None
    assert problems == ["schedule '@continuous' is not supported (nothing runs all the time on Lambda); use a cron "
                        "schedule or an Asset schedule that starts a run when data lands"]


def test_xcomarg_map_transforms_each_item_for_expand_and_for_a_plain_argument(h):
    run, states = _run(h, "s22_map")
    assert run["state"] == "success"
    assert [_xcom(h, run, "show", i) for i in range(3)] == ["A_CSV!", "B_TXT!", "C_CSV!"]
    assert _xcom(h, run, "lengths") == [5, 5, 5]
    assert [_xcom(h, run, "echo", i) for i in range(3)] == ["a.csv", "b.txt", "c.csv"]


def test_airflow_task_arguments_without_meaning_on_lambda_are_accepted_and_sla_is_refused(tmp_path):
    from orchestrator import DAG, EmptyOperator
    from orchestrator.errors import DagDefinitionError, PlanValidationError
    from orchestrator.plan.compiler import compile_dag

    with DAG("ignored_args", schedule=None, start_date=datetime(2026, 1, 1)) as d:
        EmptyOperator(task_id="t", start_date=datetime(2026, 1, 1), executor="LocalExecutor", run_as_user="etl",
                      doc_yaml="a: 1", max_active_tis_per_dagrun=2, logger_name="x")
    assert compile_dag(d).steps[0].task_id == "t"
    with pytest.raises(DagDefinitionError, match=r"Task 't' .*sla was removed in Airflow 3"):
        with DAG("sla", schedule=None, start_date=datetime(2026, 1, 1)):
            EmptyOperator(task_id="t", sla=60)
    with DAG("wfd", schedule=None, start_date=datetime(2026, 1, 1)) as d:
        EmptyOperator(task_id="t", wait_for_downstream=True)  # Airflow: implies depends_on_past=True
    past = compile_dag(d).steps[0].past
    assert past is not None and past.wait_for_downstream
    with DAG("wpd", schedule=None, start_date=datetime(2026, 1, 1)) as d:
        EmptyOperator(task_id="t", depends_on_past=True, wait_for_past_depends_before_skipping=True)
    with pytest.raises(PlanValidationError, match=r"wait_for_past_depends_before_skipping=True is not supported"):
        compile_dag(d)


def test_custom_operator_with_template_fields_self_log_and_partial_expand(h, capsys):
    run, states = _run(h, "s23_custom")
    assert run["state"] == "success"
    assert _xcom(h, run, "upload") == {"rows": 3}
    assert _xcom(h, run, "upload", key="uri") == "s3://lake/raw/20260304.csv"
    assert [_xcom(h, run, "upload_many", i, key="uri") for i in range(2)] == ["s3://lake/a", "s3://lake/b"]
    # self.log writes to the task's output (its log stream on Lambda), INFO included, as in Airflow
    assert "uploading 3 rows to s3://lake/raw/20260304.csv" in capsys.readouterr().out


def test_triggering_asset_events_are_found_by_the_asset_object(h):
    (h.root / "ae.py").write_text(textwrap.dedent("""
        from datetime import datetime
        from airflow.sdk import Asset, dag, task

        raw = Asset("s3://stratus-landing/ae/")

        @dag(schedule=[raw], start_date=datetime(2026, 1, 1))
        def ae():
            @task
            def read(triggering_asset_events=None):
                events = triggering_asset_events[raw]
                return {"n": len(events), "key": events[0]["key"], "has": raw in triggering_asset_events}
            read()

        ae()
    """))
    event = {"uri": "s3://stratus-landing/ae/x.csv", "bucket": "stratus-landing", "key": "ae/x.csv",
             "extra": {"key": "ae/x.csv"}}
    run = h.run("ae", run_type="asset_triggered",
                triggering_asset_events={"s3://stratus-landing/ae/": [event]})
    assert h.store.get_xcom("ae", run["run_id"], "read") == {"n": 1, "key": "ae/x.csv", "has": True}


def test_mapping_after_a_branch_a_skip_inside_a_map_and_a_failed_upstream(h):
    run, states = _run(h, "s25_mapflow")
    assert run["state"] == "success"  # boom failed, but the leaves did not: Airflow's rule
    assert states["g.b"] == "skipped" and states["dbl_b"] == "skipped" and states["red_b"] == "skipped"
    assert states["after"] == "upstream_failed" and states["red_fail"] == "success"
    assert states["part[1]"] == "skipped"
    assert _xcom(h, run, "red") == [2, 4]
    assert _xcom(h, run, "red_part") == [1, 3]
    assert _xcom(h, run, "red_fail") == []


def test_multiple_outputs_with_a_non_dict_return_fails_the_try_as_in_airflow(h):
    (h.root / "mo.py").write_text(textwrap.dedent("""
        from datetime import datetime
        from airflow.sdk import dag, task

        @dag(schedule=None, start_date=datetime(2026, 1, 1))
        def mo():
            @task(multiple_outputs=True)
            def not_a_dict():
                return [1, 2]

            @task
            def int_keys() -> dict:
                return {1: "a"}

            @task(multiple_outputs=True)
            def nothing():
                return None

            not_a_dict(); int_keys(); nothing()

        mo()
    """))
    run = h.run("mo")
    assert h.states("mo", run["run_id"]) == {"not_a_dict": "failed", "int_keys": "failed", "nothing": "success"}
    tis = {t["task_id"]: t for t in h.store.list_tis("mo", run["run_id"])}
    assert "TypeError: Task 'not_a_dict' returned list, but multiple_outputs=True needs a dict" in tis["not_a_dict"]["error"]
    assert "the dict keys must be strings, found 1 (int)" in tis["int_keys"]["error"]


def test_info_lines_of_any_logger_in_a_task_body_reach_the_task_log(h, capsys, monkeypatch):
    import logging

    # The local cloud's root logger has no handler (pytest's capture handlers are set aside here);
    # on Lambda the runtime's handler is there and only the level is lowered.
    monkeypatch.setattr(logging.getLogger(), "handlers", [])

    (h.root / "lg.py").write_text(textwrap.dedent("""
        import logging
        from datetime import datetime
        from airflow.sdk import dag, task

        log = logging.getLogger(__name__)

        @dag(schedule=None, start_date=datetime(2026, 1, 1))
        def lg():
            @task
            def talk():
                log.info("module logger info line")
                logging.warning("root warning line")
                return 1
            talk()

        lg()
    """))
    level = logging.getLogger().level
    run = h.run("lg")
    assert run["state"] == "success"
    out = capsys.readouterr().out
    assert "INFO - module logger info line" in out and "WARNING - root warning line" in out
    assert logging.getLogger().level == level and logging.getLogger().handlers == []  # restored afterwards


def test_params_in_default_args_reach_every_task_and_conf_overrides_them(h):
    (h.root / "dp.py").write_text(textwrap.dedent("""
        from datetime import datetime
        from airflow import DAG
        from airflow.operators.python import PythonOperator

        with DAG("dp", schedule=None, start_date=datetime(2026, 1, 1), params={"a": 0, "b": "x"},
                 default_args={"params": {"a": 1}, "owner": "etl"}):
            PythonOperator(task_id="p", python_callable=lambda params: [params["a"], params["b"]])
    """))
    run = h.run("dp")
    assert h.store.get_xcom("dp", run["run_id"], "p") == [1, "x"]
    run = h.run("dp", conf={"a": 5})
    assert h.store.get_xcom("dp", run["run_id"], "p") == [5, "x"]


@pytest.mark.parametrize("run_type, days_ago, followed", [
    ("scheduled", 0, True),     # the latest scheduled run
    ("scheduled", 5, False),    # a catch-up run: its next run is already due
    ("backfill", 30, False),
    ("manual", 30, True),       # not created by the schedule: never skipped
])
def test_latest_only_operator_skips_the_work_of_runs_that_are_not_the_latest(h, run_type, days_ago, followed):
    from datetime import timedelta

    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    logical = today - timedelta(days=days_ago)
    run, states = _run(h, "s27_latest_only", run_type=run_type, logical_date=logical,
                       data_interval=(logical, logical))
    assert run["state"] == "success"
    assert states["notify"] == ("success" if followed else "skipped")
    assert states["load"] == "success" and states["done"] == "success"


def test_python_operator_templates_exts_names_template_files_in_templates_dict(h):
    # Airflow's PythonOperator(templates_exts=[".sql"]): a templates_dict value ending so is a file, rendered
    (h.root / "q.sql").write_text("SELECT '{{ ds }}' AS d, {{ params.limit }} AS l")
    (h.root / "texts.py").write_text(textwrap.dedent("""
        from datetime import datetime
        from airflow.sdk import DAG
        from airflow.providers.standard.operators.python import PythonOperator

        def show(templates_dict=None):
            return templates_dict["q"]

        with DAG("texts", schedule=None, start_date=datetime(2026, 1, 1), params={"limit": 5}):
            PythonOperator(task_id="show", python_callable=show, templates_dict={"q": "q.sql"},
                           templates_exts=[".sql"])
    """))
    run = h.run("texts", logical_date=DAY)
    assert _xcom(h, run, "show") == "SELECT '2026-03-04' AS d, 5 AS l"


def test_run_if_and_skip_if_skip_a_task_on_its_condition_mapped_or_not(h):
    # Airflow 2.10+'s @task.run_if / @task.skip_if (astronomer's 2-10 example: override keeps the condition)
    (h.root / "cond.py").write_text(textwrap.dedent("""
        from datetime import datetime
        from airflow.sdk import dag, task

        @dag(schedule=None, start_date=datetime(2026, 1, 1))
        def cond():
            @task.run_if(lambda context: context["task_instance"].task_id.endswith("_do_run"))
            @task
            def say_hello():
                return "hello!"

            say_hello.override(task_id="say_hi_do_run")()
            say_hello.override(task_id="say_hi_1234")()

            @task.skip_if(lambda context: context["ti"].map_index == 1, skip_message="not this one")
            @task
            def each(x):
                return x

            @task(trigger_rule="none_failed")  # all_success would skip it: one instance was skipped
            def collect(values):
                return sorted(values)

            collect(each.expand(x=[1, 2, 3]))

        cond()
    """))
    run = h.run("cond", logical_date=DAY)
    states = h.states("cond", run["run_id"])
    assert run["state"] == "success"
    assert states["say_hi_do_run"] == "success" and states["say_hi_1234"] == "skipped"
    assert [h.store.get_ti("cond", run["run_id"], "each", i)["state"] for i in range(3)] == ["success", "skipped", "success"]
    assert _xcom(h, run, "collect") == [1, 3]


def test_run_if_must_sit_above_task(tmp_path):
    (tmp_path / "wrong.py").write_text(textwrap.dedent("""
        from datetime import datetime
        from airflow.sdk import dag, task

        @dag(schedule=None, start_date=datetime(2026, 1, 1))
        def wrong():
            @task
            @task.run_if(lambda context: True)
            def f():
                return 1
            f()

        wrong()
    """))
    bag = DagBag(str(tmp_path))
    assert "put it above @task" in str(bag.import_errors[str(tmp_path / "wrong.py")])

from __future__ import annotations

import os
import sys
import textwrap
import threading

import pytest

from orchestrator.errors import DagImportError
from orchestrator.plan import loader
from orchestrator.plan.loader import DagBag, get_dag, module_name_for

BROKEN = os.path.join(os.path.dirname(__file__), "..", "fixtures", "broken_dags")

EXPECTED_LINES = {
    "syntax_error.py": (7, "SyntaxError"),
    "import_error.py": (4, "ModuleNotFoundError: No module named 'not_a_real_module_xyz'"),
    "bad_call.py": (12, "missing a required argument: 'rows'"),
    "duplicate_task.py": (6, "Task id 'same' has already been added to the DAG 'duplicate_task'"),
    "bad_expand.py": (11, "cannot expand over argument 'n' = 5 (int)"),
    "bad_asset.py": (5, "uses the scheme 'airflow', which Airflow reserves"),
    "raises_in_helper.py": (6, "ValueError: config missing"),
    "later_duplicate_id.py": (5, "DAG id 'good_dag' is already defined at"),
}


@pytest.fixture(scope="module")
def broken_bag():
    return DagBag(BROKEN)


def test_each_broken_file_reported_with_file_and_line(broken_bag):
    errors = {os.path.basename(p): e for p, e in broken_bag.import_errors.items()}
    assert set(errors) == set(EXPECTED_LINES)
    for name, (line, text) in EXPECTED_LINES.items():
        err = errors[name]
        assert err.line == line, (name, str(err))
        assert f"{name}:{line}: " in str(err), str(err)
        assert text in str(err), str(err)
        assert err.file.endswith(name)


def test_good_files_still_load(broken_bag):
    assert set(broken_bag.dags) == {"good_dag", "invalid_plan"}
    assert broken_bag.files["good_dag"].endswith("good_dag.py")


def test_load_times_recorded_for_every_imported_file(broken_bag):
    names = {os.path.basename(p) for p in broken_bag.load_times}
    assert "helper_module.py" not in names  # safe mode skipped it
    assert set(EXPECTED_LINES) | {"good_dag.py", "invalid_plan.py"} <= names
    assert all(t >= 0 for t in broken_bag.load_times.values())


def test_safe_mode_off_imports_everything():
    bag = DagBag(BROKEN, safe_mode=False)
    err = next(e for p, e in bag.import_errors.items() if p.endswith("helper_module.py"))
    assert "helper_module.py:2: RuntimeError: should not be imported in safe mode" in str(err)


def test_get_dag_suggests(broken_bag):
    with pytest.raises(DagImportError, match=r"No DAG 'good_dg' in .*Did you mean 'good_dag'\?"):
        broken_bag.get_dag("good_dg")


def test_files_are_isolated_and_root_on_path(tmp_path):
    (tmp_path / "common.py").write_text("VALUE = 41\n")
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "etl.py").write_text(textwrap.dedent(f"""
            from common import VALUE
            from orchestrator import DAG
            with DAG("etl_{sub}") as d:
                pass
            d.doc_md = str(VALUE + 1)
        """))
    bag = DagBag(str(tmp_path))
    assert bag.import_errors == {}
    assert sorted(bag.dags) == ["etl_a", "etl_b"]
    assert bag.dags["etl_a"].doc_md == "42"
    assert module_name_for(str(tmp_path / "a" / "etl.py")) != module_name_for(str(tmp_path / "b" / "etl.py"))
    assert sys.path[-1] == str(tmp_path)  # kept importable for task code, after everything else
    assert bag.dags["etl_a"].dags_root == str(tmp_path)


def test_dag_not_assigned_to_a_global_is_found(tmp_path):
    (tmp_path / "anon.py").write_text("from orchestrator import dag\n@dag\ndef anon():\n    pass\nanon()\n")
    assert list(DagBag(str(tmp_path)).dags) == ["anon"]


def test_ignore_file(tmp_path):
    (tmp_path / ".airflowignore").write_text("skip_.*\n# comment\n")
    (tmp_path / "skip_me.py").write_text("raise RuntimeError('dag')\n")
    (tmp_path / "keep.py").write_text("from orchestrator import DAG\nDAG('keep')\n")
    bag = DagBag(str(tmp_path))
    assert list(bag.dags) == ["keep"] and bag.import_errors == {}


def test_missing_folder():
    with pytest.raises(DagImportError, match="no such file or folder of DAGs"):
        DagBag("/nonexistent/dags/folder")


def test_single_file_bag(tmp_path):
    path = tmp_path / "one.py"
    path.write_text("from orchestrator import DAG\nDAG('one')\n")
    bag = DagBag(str(path))
    assert list(bag.dags) == ["one"] and bag.dags_root == str(tmp_path)


def test_get_dag_cache_loads_once(tmp_path):
    (tmp_path / "counted.py").write_text(textwrap.dedent("""
        import builtins
        builtins.__dict__.setdefault("_stratus_test_loads", []).append(1)
        from orchestrator import DAG
        DAG("counted")
    """))
    import builtins

    builtins.__dict__["_stratus_test_loads"] = []
    try:
        d1 = get_dag(str(tmp_path), "counted.py", "counted")
        d2 = get_dag(str(tmp_path), "counted.py", "counted")
        assert d1 is d2
        assert len(builtins.__dict__["_stratus_test_loads"]) == 1
        with pytest.raises(DagImportError, match=r"counted.py: defines no DAG 'other' \(it defines \['counted'\]\)"):
            get_dag(str(tmp_path), "counted.py", "other")
    finally:
        builtins.__dict__.pop("_stratus_test_loads", None)
        loader.clear_cache()


def test_concurrent_loads_are_safe(tmp_path):
    for i in range(8):
        (tmp_path / f"d{i}.py").write_text(f"from orchestrator import DAG, EmptyOperator\nwith DAG('d{i}'):\n"
                                           f"    EmptyOperator(task_id='t')\n")
    results = []

    def load():
        results.append(sorted(DagBag(str(tmp_path)).dags))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [[f"d{i}" for i in range(8)]] * 4


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="SIGALRM needs the main thread")
def test_slow_file_times_out_with_its_line(tmp_path):
    (tmp_path / "slow.py").write_text("import time\nfrom orchestrator import DAG\nDAG('slow')\ntime.sleep(20)\n")
    (tmp_path / "fast.py").write_text("from orchestrator import DAG\nDAG('fast')\n")
    bag = DagBag(str(tmp_path), import_timeout_s=0.3)
    assert list(bag.dags) == ["fast"]
    (err,) = bag.import_errors.values()
    assert err.line == 4
    assert "DagImportTimeout: importing took longer than 0.3 s" in str(err)


def test_for_dag_imports_the_files_that_mention_the_id_first(tmp_path):
    from orchestrator.plan.loader import DagBag

    head = "from datetime import datetime\nfrom orchestrator import dag, task\n"
    (tmp_path / "a_other.py").write_text(head + "@dag(schedule=None, start_date=datetime(2026, 1, 1))\n"
                                         "def other():\n    @task\n    def t():\n        pass\n    t()\nother()\n")
    (tmp_path / "b_broken.py").write_text("from orchestrator import dag\nraise RuntimeError('dag file broken')\n")
    (tmp_path / "c_mine.py").write_text(head + "@dag(schedule=None, start_date=datetime(2026, 1, 1))\n"
                                        "def mine():\n    @task\n    def t():\n        pass\n    t()\nmine()\n")
    (tmp_path / "d_computed.py").write_text(head + "NAME = 'comp' + 'uted'\n"
                                            "@dag(dag_id=NAME, schedule=None, start_date=datetime(2026, 1, 1))\n"
                                            "def f():\n    @task\n    def t():\n        pass\n    t()\nf()\n")
    bag = DagBag.for_dag(str(tmp_path), "mine")
    assert sorted(bag.dags) == ["mine"] and not bag.import_errors  # the others were not imported
    # an id written nowhere (computed): the whole folder, every DAG and import error, as DagBag does
    bag = DagBag.for_dag(str(tmp_path), "computed")
    full = DagBag(str(tmp_path))
    assert sorted(bag.dags) == sorted(full.dags) == ["computed", "mine", "other"]
    assert sorted(bag.import_errors) == sorted(full.import_errors) and len(full.import_errors) == 1
    assert sorted(DagBag.for_dag(str(tmp_path), "nope").dags) == sorted(full.dags)

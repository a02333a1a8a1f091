"""``dag.test()`` at the bottom of a DAG file, run as ``python file.py`` (Airflow's habit)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from tests.e2e.conftest import ROOT


def test_python_dag_file_with_dag_test_runs_once_on_an_embedded_cloud(tmp_path):
    path = tmp_path / "hello.py"
    path.write_text(textwrap.dedent("""
        from datetime import datetime
        from orchestrator import dag, task

        @dag(schedule=None, start_date=datetime(2026, 1, 1), params={"who": "world"})
        def hello():
            @task
            def greet(**context):
                return f"hello {context['params']['who']}"

            @task
            def shout(text):
                if "airflow" not in text:
                    raise ValueError(f"conf did not reach the task: {text!r}")
                return text.upper()

            shout(greet())

        d = hello()

        if __name__ == "__main__":
            run = d.test(run_conf={"who": "airflow"})
            print("STATE", run["state"])
    """))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[-1] == "STATE success"
    assert any(line.split()[:3] == ["greet", "-", "success"] for line in lines), proc.stdout
    assert any(line.split()[:3] == ["shout", "-", "success"] for line in lines), proc.stdout


def test_a_failing_dag_test_ends_with_the_exception_and_the_tasks_last_output(tmp_path):
    path = tmp_path / "fails.py"
    path.write_text(textwrap.dedent("""
        from datetime import datetime
        from orchestrator import dag, task

        @dag(schedule=None, start_date=datetime(2026, 1, 1))
        def fails():
            @task
            def boom():
                print("read 0 rows")
                raise KeyError("customer_id")

            boom()

        d = fails()

        if __name__ == "__main__":
            print("STATE", d.test()["state"])
    """))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "FAILED boom (try 1): KeyError: 'customer_id'" in proc.stdout
    assert "  | read 0 rows" in proc.stdout and proc.stdout.splitlines()[-1] == "STATE failed"

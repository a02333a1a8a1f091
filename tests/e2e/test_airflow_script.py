"""#16: ``python my_dag.py`` with Airflow 3 imports and ``dag.test()`` at the bottom, in a subprocess.

Where Apache Airflow is not installed, ``stratus-airflow.pth`` (installed with Stratus, see
``stratus_airflow_hook``) answers ``airflow`` imports with Stratus's objects; where a real
Airflow is importable, it is the one imported (never shadowed).
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest


DAG_FILE = textwrap.dedent('''\
    from datetime import datetime
    from airflow.sdk import dag, task

    @dag(schedule=None, start_date=datetime(2026, 1, 1))
    def airflow_script():
        @task
        def extract() -> list[int]:
            print("extracting 3 rows")
            return [1, 2, 3]

        @task
        def total(rows: list[int]) -> int:
            return sum(rows)

        total(extract())

    the_dag = airflow_script()

    if __name__ == "__main__":
        run = the_dag.test()
        print("STATE", run["state"])
''')


@pytest.fixture(scope="module")
def installed() -> Path:
    pth = Path(sysconfig.get_paths()["purelib"]) / "stratus-airflow.pth"
    assert pth.is_file(), f"{pth} is missing: reinstall Stratus (`make install`; pyproject.toml/setup.py changed)"
    return pth


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AWS_ENDPOINT_URL", "STRATUS_STACK")}
    return {**env, **extra}


def test_python_airflow_dag_file_runs_without_airflow_installed(tmp_path, installed):
    path = tmp_path / "airflow_script.py"
    path.write_text(DAG_FILE)
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env=_clean_env())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[-1] == "STATE success"
    assert any(line.split()[:3] == ["extract", "-", "success"] for line in lines), proc.stdout
    assert any(line.split()[:3] == ["total", "-", "success"] for line in lines), proc.stdout


def test_a_real_airflow_is_imported_first_never_shadowed(tmp_path, installed):
    real = tmp_path / "site" / "airflow"
    (real / "sdk").mkdir(parents=True)
    (real / "__init__.py").write_text("REAL_AIRFLOW = True\n")
    (real / "sdk" / "__init__.py").write_text("def dag(*a, **k):\n    return 'real dag'\n")
    code = "import airflow, airflow.sdk; print(airflow.REAL_AIRFLOW, airflow.sdk.dag())"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=_clean_env(PYTHONPATH=str(tmp_path / "site")))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True real dag"
    # and without it, the same import is answered by Stratus (the hook is what makes the difference)
    proc = subprocess.run([sys.executable, "-c", "import airflow.sdk as s; print(s.dag.__module__)"],
                          capture_output=True, text=True, timeout=120, env=_clean_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith("orchestrator.")

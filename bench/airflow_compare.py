"""The same DAGs through Apache Airflow's ``dag.test()`` and through Stratus's local cloud, side by side.

Airflow lives in its own virtualenv (``.venv-airflow``, made by ``make bench-airflow``), so its
hundreds of pinned dependencies never meet Stratus's. This script runs in Stratus's venv and
starts Airflow's Python once per DAG (a fresh process, as ``python dags/x.py`` with
``dag.test()`` would be) with ``AIRFLOW_HOME`` in a temporary folder prepared by
``airflow db migrate`` (SQLite). When no Airflow is found it prints
``Airflow not installed: skipped`` and exits 0.

Figures, first table (issue #17): whole processes as a user meets them, side by side in the
same run: Airflow's ``python dag.py``-like process (interpreter, Airflow's imports, the DAG
file, ``dag.test()``; ``airflow db migrate`` done once before) against ``stratus run DAG``
(``bench/whole_process.py``: interpreter, imports, the local cloud restored from the deploy
cache, the run), for a 1-task DAG and the three shapes, with #17's targets. Second table
(labelled warm): Airflow's ``dag.test()`` call alone (DAG import excluded, its first-task
warm-up included), the median gap between one task's end and the next one's start from
Airflow's own task-instance timestamps, and Stratus's run time on a local cloud that is
already up (``bench/local_speed.py``), with the ratio and the target from issue #8.

Usage::

    python bench/airflow_compare.py [--chain 100] [--diamond 50] [--map 1000] [--airflow-python PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.dags import BenchDag, chain, standard_suite, write_dags  # noqa: E402
from bench.table import render  # noqa: E402

ENV_AIRFLOW_PYTHON = "STRATUS_AIRFLOW_PYTHON"
DEFAULT_AIRFLOW_VENV = REPO / ".venv-airflow"
RUNNER = Path(__file__).resolve().parent / "_airflow_runner.py"
# Issue #8: Stratus locally at least this many times faster than dag.test(), by shape.
TARGET_SPEEDUP = {"chain": 15.0, "map": 8.0}
SKIPPED = "Airflow not installed: skipped"


@dataclass
class AirflowResult:
    """One DAG through ``dag.test()``, timed inside Airflow's process."""

    dag_id: str
    state: str
    test_s: float
    median_gap_s: float
    median_task_s: float
    first_task_s: float
    task_instances: int
    log: Path
    whole_s: float = 0.0  # the fresh process, start to exit
    whole_cpu_s: float = 0.0  # its user + system CPU (its children included)


def airflow_python(explicit: str | None = None) -> Path | None:
    """The Python of an environment where ``airflow`` imports, or None."""
    candidates = [explicit, os.environ.get(ENV_AIRFLOW_PYTHON), str(DEFAULT_AIRFLOW_VENV / "bin" / "python"),
                  sys.executable]  # the last one: the ``bench`` extra installed next to Stratus
    for candidate in candidates:
        if not candidate or not Path(candidate).exists():
            continue
        probe = subprocess.run(
            [candidate, "-c", "import importlib.util, sys; sys.exit(importlib.util.find_spec('airflow') is None)"],
            capture_output=True,
        )
        if probe.returncode == 0:
            return Path(candidate)
    return None


def airflow_version(python: Path) -> str:
    out = subprocess.run(
        [str(python), "-c", "from importlib.metadata import version; print(version('apache-airflow'))"],
        capture_output=True, text=True,
    )
    return out.stdout.strip() or "unknown"


def _airflow_env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(workdir / "airflow_home"),
        AIRFLOW__CORE__DAGS_FOLDER=str(workdir / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
    )
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as on a user's machine (and as bench/whole_process.py)
    return env


def prepare_airflow(python: Path, workdir: Path) -> dict[str, str]:
    """Make an AIRFLOW_HOME under ``workdir`` with a migrated SQLite database; return the environment to use."""
    env = _airflow_env(workdir)
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [str(python), "-m", "airflow", "db", "migrate"], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"`airflow db migrate` failed in {env['AIRFLOW_HOME']}:\n{done.stderr[-2000:]}")
    return env


def run_airflow_one(spec: BenchDag, workdir: Path, python: Path, env: dict[str, str], paths: dict[str, Path],
                    timeout_s: float = 1800) -> AirflowResult:
    """One DAG through ``dag.test()`` in a fresh Airflow process (``env`` from ``prepare_airflow``, ``paths``
    from ``write_dags``)."""
    out = workdir / f"{spec.dag_id}.json"
    log = workdir / f"{spec.dag_id}.airflow.log"
    with log.open("w") as fh:
        from bench.whole_process import child_cpu

        c0, t0 = child_cpu(), time.perf_counter()
        done = subprocess.run(
            [str(python), str(RUNNER), str(paths[spec.dag_id]), spec.dag_id, str(out)],
            env=env, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout_s,
        )
        whole_s, whole_cpu_s = time.perf_counter() - t0, child_cpu() - c0
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"Airflow's dag.test() failed for {spec.dag_id}; see {log}")
    data: dict[str, Any] = json.loads(out.read_text())
    return AirflowResult(
        dag_id=spec.dag_id, state=data["state"], test_s=data["test_s"], median_gap_s=data["median_gap_s"],
        median_task_s=data["median_task_s"], first_task_s=data["first_task_s"],
        task_instances=data["task_instances"], log=log, whole_s=whole_s, whole_cpu_s=whole_cpu_s,
    )


# Issue #17: whole process, Stratus at least this many times faster than Airflow's dag.test() process.
TARGET_WHOLE = {"1 task": 8.0, "chain": 15.0, "map": 12.0}


def whole_process_table(specs: list[BenchDag], airflow: dict[str, AirflowResult], whole: dict[str, Any],
                        version: str = "") -> str:
    """Whole processes side by side: Airflow's dag.test() process against ``stratus run``."""
    rows = []
    for spec in specs:
        a, w = airflow.get(spec.dag_id), whole.get(spec.dag_id)
        s = w.median_s if w else None
        ratio = (a.whole_s / s) if a and s else None
        target = TARGET_WHOLE.get(spec.label) or (TARGET_WHOLE.get(spec.shape) if spec.label != "1 task" else None)
        verdict = "-" if target is None or ratio is None else ("met" if ratio >= target else "NOT met")
        cpu_a, cpu_s = (a.whole_cpu_s if a else None), (w.cpu_median_s if w else None)
        cpu_ratio = f"{cpu_a / cpu_s:.1f}x" if cpu_a and cpu_s else "-"
        rows.append([spec.label, a.whole_s if a else None, s, w.best_s if w else None,
                     f"{ratio:.1f}x" if ratio else "-", f">= {target:.0f}x: {verdict}" if target else "-",
                     cpu_a, cpu_s, cpu_ratio])
    first = next(iter(whole.values())).first_s if whole else None
    return render(
        f"Whole process (issue #17): Apache Airflow {version} dag.test() vs `stratus run`, same DAG files, same run",
        ["DAG", "Airflow process s", "stratus run s (median)", "stratus run s (best)", "speed-up", "target",
         "Airflow CPU s", "stratus run CPU s", "CPU ratio"],
        rows,
        notes=[
            "Airflow: `python` + Airflow's imports + the DAG file + dag.test(), one fresh process per DAG, SQLite "
            "(`airflow db migrate` done once before, not counted).",
            "Stratus: `stratus run DAG --dags FOLDER`, fresh processes (median of several); the local cloud is "
            "restored from the deploy cache that the first run on a machine fills"
            + (f" (that first run: {first:.2f} s)." if first else "."),
            f"Machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end; "
            "both sides ran in the same sitting, DAG by DAG (Stratus's processes, then Airflow's), so a machine "
            "whose speed drifts shifts both sides of a row alike.",
            "CPU s: user + system CPU of each process (children included), which the machine's load barely changes.",
        ],
    )


def comparison_table(
    specs: list[BenchDag], airflow: dict[str, AirflowResult], stratus_s: dict[str, float],
    stratus_gap_ms: dict[str, float] | None = None, version: str = "", backend: str = "local",
) -> str:
    """Airflow vs Stratus by DAG: wall times, ratios and the issue's targets."""
    rows = []
    for spec in specs:
        a = airflow.get(spec.dag_id)
        s = stratus_s.get(spec.dag_id)
        ratio = (a.test_s / s) if a and s else None
        target = TARGET_SPEEDUP.get(spec.shape) if spec.label != "1 task" else None
        verdict = "-" if target is None or ratio is None else ("met" if ratio >= target else "NOT met")
        gap_a = a.median_gap_s * 1000 if a and spec.shape == "chain" else None
        gap_s = (stratus_gap_ms or {}).get(spec.dag_id)
        rows.append([
            spec.label, spec.task_instances,
            a.test_s if a else None, s,
            f"{ratio:.1f}x" if ratio else "-",
            f">= {target:.0f}x: {verdict}" if target else "-",
            gap_a, gap_s,
        ])
    return render(
        f"Warm: Stratus local cloud already up vs Apache Airflow {version} dag.test() call (same DAG files)",
        ["DAG", "task instances", "Airflow dag.test() s", "Stratus local s", "speed-up", "target",
         "Airflow median gap ms", "Stratus median gap ms"],
        rows,
        notes=[
            "Airflow: one fresh process per DAG, SQLite, default settings; time of dag.test() itself "
            "(DAG import and `airflow db migrate` excluded; its first-task warm-up included).",
            "Stratus: start_run until idle on a local cloud already started (moto in process, real handlers)."
            if backend == "local" else
            "Stratus: the engine alone on moto (no Lambda hop; the local cloud was not available).",
            "Airflow's steady state is its median gap; its total includes a first-task warm-up of several seconds.",
            f"Machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end.",
            "gap (chains only): median time from one task's end to the next task's start (task-instance timestamps).",
        ],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chain", type=int, default=100)
    parser.add_argument("--diamond", type=int, default=50)
    parser.add_argument("--map", type=int, default=1000)
    parser.add_argument("--airflow-python", default=None, help=f"defaults to ${ENV_AIRFLOW_PYTHON} or .venv-airflow")
    parser.add_argument("--stratus-json", default=None,
                        help="reuse Stratus timings written by local_speed.py --json instead of running them again")
    parser.add_argument("--repeats", type=int, default=3, help="fresh `stratus run` processes per DAG")
    args = parser.parse_args(argv)

    python = airflow_python(args.airflow_python)
    if python is None:
        print(SKIPPED)
        return 0
    specs = [chain(1), *standard_suite(chain_n=args.chain, diamond_w=args.diamond, map_n=args.map)]
    print(compare(specs, python, stratus_json=args.stratus_json, repeats=args.repeats))
    return 0


def compare(specs: list[BenchDag], python: Path, stratus_json: str | None = None, repeats: int = 3) -> str:
    """Run both sides (Stratus's warm figures first, or from ``stratus_json``; then the whole processes, DAG
    by DAG) and return the two comparison tables."""
    from bench import whole_process

    if stratus_json:
        data = json.loads(Path(stratus_json).read_text())
        stratus_s = {k: v["total_s"] for k, v in data.items()}
        gaps = {k: v.get("median_gap_ms") for k, v in data.items()}
        backend = next((str(v.get("backend", "local")) for v in data.values()), "local")
    else:
        from bench.harness import default_backend
        from bench.local_speed import measure

        backend = default_backend()
        measured = measure(specs, backend=backend)
        stratus_s = {r.dag_id: r.total_s for r in measured.runs}
        gaps = {r.dag_id: r.median_gap_ms for r in measured.runs}
    with tempfile.TemporaryDirectory(prefix="stratus-bench-airflow-") as tmp:
        # DAG by DAG, Stratus's processes then Airflow's: a machine whose speed drifts over the
        # minutes a sitting takes shifts both sides of a row alike.
        prepared = whole_process.prepare(specs, Path(tmp) / "stratus")
        t0 = time.perf_counter()
        env = prepare_airflow(python, Path(tmp))
        paths = write_dags(Path(tmp) / "dags", specs, flavor="airflow")
        elapsed = time.perf_counter() - t0
        whole, airflow = {}, {}
        for spec in specs:
            whole[spec.dag_id] = whole_process.measure_one(spec, prepared, repeats)
            t0 = time.perf_counter()
            airflow[spec.dag_id] = run_airflow_one(spec, Path(tmp), python, env, paths)
            elapsed += time.perf_counter() - t0
        version = airflow_version(python)
        table = whole_process_table(specs, airflow, whole, version=version) + "\n\n" + comparison_table(
            specs, airflow, stratus_s, gaps, version=version, backend=backend)
    return table + f"\n(Airflow side took {elapsed:.0f} s in all, including `airflow db migrate` and imports.)\n"


if __name__ == "__main__":
    raise SystemExit(main())

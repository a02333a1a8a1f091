"""Run every benchmark and print all the tables: ``make bench``.

Each part runs in its own process (so one part's memory or patches never colour another's):

1. cold import time of each Lambda handler module (``bench/imports.py``);
2. compile time of a 10,000-task DAG and load time of a 200-file DAG folder
   (``bench/compile.py``, ``bench/load_folder.py``, when present);
3. AWS calls per task, cost per million tasks vs Step Functions, critical-path calls (``bench/aws_calls.py``);
   the scenarios of the AWS model (``bench/aws_model.py``: 100,000-task maps, 1,000 concurrent runs, ...);
   what runs and what it costs while no DAG runs (``bench/idle.py``);
4. local cloud speed: chain hops, diamond, 1,000-map, 10,000-map (``--no-large-map`` skips it), peak memory
   (``bench/local_speed.py``);
5. the same DAGs through Apache Airflow's ``dag.test()`` with the ratios (``bench/airflow_compare.py``),
   when Airflow is installed (``make bench-airflow`` makes ``.venv-airflow``); else it says it skipped.

Usage::

    python bench/run_all.py [--quick] [--no-large-map] [--no-airflow]

``--quick`` uses small DAGs (a 20-chain, 1-10-1, a 100-map) and no 10,000-map for a fast look;
``--no-large-map`` leaves out the 10,000-map (about 3 minutes of the run on moto).
Set ``STRATUS_BENCH_AIRFLOW=0`` to skip the Airflow part without the flag.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent


def _run(title: str, script: str, args: list[str]) -> int:
    path = BENCH / script
    print(f"\n## {title}\n", flush=True)
    if not path.exists():
        print(f"(bench/{script} is not there yet: skipped)\n", flush=True)
        return 0
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, str(path), *args], cwd=REPO)
    print(f"(bench/{script} took {time.perf_counter() - t0:.0f} s, exit status {done.returncode})", flush=True)
    return done.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small DAGs, no large map")
    parser.add_argument("--large-map", action="store_true", help=argparse.SUPPRESS)  # the default now
    parser.add_argument("--no-large-map", action="store_true", help="leave out the 10,000-map (about 3 minutes)")
    parser.add_argument("--no-airflow", action="store_true", help="skip the Airflow comparison")
    args = parser.parse_args(argv)

    sizes = ["--chain", "20", "--diamond", "10", "--map", "100"] if args.quick else []
    skip_airflow = args.no_airflow or os.environ.get("STRATUS_BENCH_AIRFLOW", "").strip() in ("0", "false", "no")
    failures = []
    print(f"# Stratus benchmarks ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, Python {sys.version.split()[0]})", flush=True)

    if _run("Cold import of the Lambda handlers", "imports.py", []):
        failures.append("imports.py")
    if _run("Compile time of a 10,000-task DAG", "compile.py", []):
        failures.append("compile.py")
    if _run("Load time of a 200-file DAG folder", "load_folder.py", []):
        failures.append("load_folder.py")
    if _run("AWS calls and cost per task", "aws_calls.py", sizes):
        failures.append("aws_calls.py")
    if _run("Idle footprint", "idle.py", []):
        failures.append("idle.py")
    model = ["--quick"] if args.quick else []
    if _run("Stratus on AWS at scale, modelled", "aws_model.py", model):
        failures.append("aws_model.py")
    if _run("AWS model check", "aws_model.py", ["--check", *model]):
        failures.append("aws_model.py --check")

    with tempfile.TemporaryDirectory(prefix="stratus-bench-") as tmp:
        speed_json = Path(tmp) / "local_speed.json"
        large = [] if (args.no_large_map or args.quick) else ["--large-map", "10000"]
        if _run("Local cloud speed", "local_speed.py", [*sizes, *large, "--json", str(speed_json)]):
            failures.append("local_speed.py")
        if skip_airflow:
            print("\n## Stratus vs Apache Airflow dag.test()\n\nAirflow comparison: skipped (--no-airflow or "
                  "STRATUS_BENCH_AIRFLOW=0)")
        else:
            reuse = ["--stratus-json", str(speed_json)] if speed_json.exists() else []
            if _run("Stratus vs Apache Airflow dag.test()", "airflow_compare.py", [*sizes, *reuse]):
                failures.append("airflow_compare.py")

    if failures:
        print(f"\nFAILED: {', '.join(failures)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

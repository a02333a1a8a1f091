"""Load time of a 200-file DAG folder with ``DagBag`` (each file imported in isolation).

Writes 200 DAG files (TaskFlow and classic operators, 5 to 25 tasks each, a few helper
files without DAGs that safe mode skips) into a temporary folder, loads it with
``DagBag`` a few times (a fresh process-wide state each time is not needed: every load
imports every file again under its unique module name), compiles every DAG, and prints a
Markdown table with the slowest files.

Usage: ``python bench/load_folder.py [--files 200] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.table import render  # noqa: E402
from orchestrator.plan.compiler import compile_dag  # noqa: E402
from orchestrator.plan.loader import DagBag  # noqa: E402

TASKFLOW = '''
"""Generated TaskFlow DAG {i}."""
from datetime import datetime, timedelta
from orchestrator import dag, task, TaskGroup

@dag(schedule="{schedule}", start_date=datetime(2026, 1, 1), tags=["bench"],
     default_args={{"retries": 1, "retry_delay": timedelta(seconds=10)}})
def bench_tf_{i}():
    @task
    def extract() -> list[int]:
        return list(range({width}))

    @task
    def transform(x: int) -> int:
        return x * 2

    @task
    def load(values: list[int]) -> int:
        return sum(values)

    rows = extract()
    with TaskGroup("parts"):
        parts = [transform(rows) for _ in range({width})]
    load(transform.expand(x=rows)) >> parts

bench_tf_{i}()
'''

CLASSIC = '''
"""Generated classic-operator DAG {i}."""
from datetime import datetime
from orchestrator import DAG, EmptyOperator, PythonOperator, chain

def work(n):
    return n + 1

with DAG("bench_classic_{i}", schedule="{schedule}", start_date=datetime(2026, 1, 1)):
    start = EmptyOperator(task_id="start")
    steps = [PythonOperator(task_id=f"step_{{k}}", python_callable=work, op_kwargs={{"n": k}})
             for k in range({width})]
    end = EmptyOperator(task_id="end")
    chain(start, *steps, end)
'''

HELPER = '''
"""Shared helper module without the magic word: safe mode skips it."""
def helper(x):
    return x
'''

SCHEDULES = ["@daily", "@hourly", "0 6 * * 1-5", "@weekly"]


def write_folder(root: Path, n_files: int) -> None:
    for i in range(n_files):
        template = TASKFLOW if i % 2 == 0 else CLASSIC
        width = 5 + (i * 7) % 20
        text = template.format(i=i, width=width, schedule=SCHEDULES[i % len(SCHEDULES)])
        (root / f"dag_{i:03d}.py").write_text(textwrap.dedent(text))
    for j in range(5):
        (root / f"helper_{j}.py").write_text(HELPER)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="stratus-bench-dags-") as tmp:
        root = Path(tmp)
        write_folder(root, args.files)
        loads, compiles = [], []
        bag = None
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            bag = DagBag(str(root))
            t1 = time.perf_counter()
            for d in bag.dags.values():
                compile_dag(d, bag.dags_root)
            t2 = time.perf_counter()
            loads.append(t1 - t0)
            compiles.append(t2 - t1)
        assert bag is not None
        if bag.import_errors:
            for err in bag.import_errors.values():
                print(f"import error: {err}", file=sys.stderr)
            return 1
        tasks = sum(len(d.task_dict) for d in bag.dags.values())
        per_file = sorted(bag.load_times.values())
        rows = [[
            f"{len(bag.load_times)} files ({len(bag.dags)} DAGs, {tasks:,} tasks)",
            min(loads),
            min(compiles),
            1000 * statistics.median(per_file),
            1000 * per_file[-1],
        ]]
        print(render(
            f"Load a {args.files}-file DAG folder with DagBag (best of {args.repeat})",
            ["folder", "DagBag load (s)", "compile all (s)", "median file (ms)", "slowest file (ms)"],
            rows,
            notes=["Every file is imported in isolation under a unique module name; 5 helper files "
                   "without 'dag' in them are skipped by safe mode."],
        ))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Instructions a whole ``stratus run`` process executes, counted by valgrind: a figure the machine's load does not move.

Timings on a shared machine drift by 30% over minutes; the instructions a process executes do
not. Each DAG runs once to fill a fresh deploy cache, then once under ``valgrind
--tool=cachegrind --cache-sim=no`` (user-space instructions of every thread; about 50 times
slower than a normal run). The 1-task DAG gives the fixed cost of a process (imports, the
local cloud restored, the plan registered, the run started and read back); for the other DAGs
the difference from it over their extra task instances is the cost of one task instance.

The local cloud's pollers (the emulation's tick, the progress line) run by the clock, so a
process that valgrind slows does a little more of their work: the per-task figure moves by about
1% between identical runs. Compare code changes with several runs each, never timings.

Usage::

    python bench/instructions.py [--chain 100] [--map 0]      # valgrind must be installed
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.dags import BenchDag, chain, fan_map, write_dags  # noqa: E402
from bench.table import render  # noqa: E402

_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


def instructions(dag_id: str, dags: Path, env: dict[str, str]) -> int:
    """Instructions of one fresh ``stratus run dag_id`` (the deploy cache already filled)."""
    cmd = [sys.executable, "-m", "orchestrator.cli.main", "run", dag_id, "--dags", str(dags)]
    first = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=1800)
    if first.returncode != 0:
        raise RuntimeError(f"stratus run {dag_id} failed:\n{first.stdout[-2000:]}\n{first.stderr[-2000:]}")
    done = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                           *cmd], env=env, cwd=REPO, capture_output=True, text=True, timeout=7200)
    found = _REFS.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"valgrind stratus run {dag_id} failed:\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chain", type=int, default=100)
    parser.add_argument("--map", type=int, default=0, help="also a map over this many elements (0: none)")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: skipped (apt-get install valgrind)")
        return 0
    specs: list[BenchDag] = [chain(1), chain(args.chain)] + ([fan_map(args.map)] if args.map else [])
    with tempfile.TemporaryDirectory(prefix="stratus-instr-") as tmp:
        dags = Path(tmp) / "dags"
        write_dags(dags, specs)
        env = {**os.environ, "STRATUS_CACHE_DIR": str(Path(tmp) / "cache"), "PYTHONPATH": str(REPO)}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        counts = {spec.dag_id: instructions(spec.dag_id, dags, env) for spec in specs}
    fixed = counts[specs[0].dag_id]
    rows = [[specs[0].label, specs[0].task_instances, fixed / 1e6, "-"]]
    for spec in specs[1:]:
        per_task = (counts[spec.dag_id] - fixed) / (spec.task_instances - 1)
        rows.append([spec.label, spec.task_instances, counts[spec.dag_id] / 1e6, per_task / 1e6])
    print(render("Instructions of a whole `stratus run` process (valgrind cachegrind)",
                 ["DAG", "task instances", "M instructions", "M instructions per extra task"], rows,
                 ["User-space instructions of every thread; the 1-task process is the fixed cost."]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``stratus run DAG`` as a user meets it: a fresh process per run, timed from the outside.

Each DAG file is written to a temporary folder and run with ``python -m orchestrator.cli.main
run DAG --dags FOLDER`` (what the ``stratus`` command runs). The first run in a fresh deploy
cache (``STRATUS_CACHE_DIR`` in the temporary folder) deploys the template into moto and keeps
it (``orchestrator/local/deploycache.py``); the runs after it restore it, as every run after a
user's first does. Figures: that first run, then the best and median of ``repeats`` more.

Usage::

    python bench/whole_process.py [--chain 100] [--diamond 50] [--map 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.dags import BenchDag, chain, standard_suite, write_dags  # noqa: E402
from bench.table import render  # noqa: E402


@dataclass
class WholeProcess:
    dag_id: str
    first_s: float  # deploy cache empty: translate + deploy + keep, then the run
    runs_s: list[float]  # deploy cache filled, as every later run
    cpu_s: list[float] = field(default_factory=list)  # user + system CPU of each of those processes

    @property
    def cpu_median_s(self) -> float | None:
        return statistics.median(self.cpu_s) if self.cpu_s else None

    @property
    def best_s(self) -> float:
        return min(self.runs_s)

    @property
    def median_s(self) -> float:
        return statistics.median(self.runs_s)


def child_cpu() -> float:
    """User + system CPU seconds of this process's finished children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _one(dag_id: str, dags: Path, env: dict[str, str], timeout_s: float, cpu: list[float] | None = None) -> float:
    c0 = child_cpu()
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "orchestrator.cli.main", "run", dag_id, "--dags", str(dags)],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout_s)
    elapsed = time.perf_counter() - t0
    if cpu is not None:
        cpu.append(child_cpu() - c0)
    if done.returncode != 0:
        raise RuntimeError(f"stratus run {dag_id} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return elapsed


@dataclass
class Prepared:
    """The DAG folder and environment of the runs, and the very first run's time (deploy cache empty)."""

    dags: Path
    env: dict[str, str]
    first_s: float


def prepare(specs: list[BenchDag], workdir: Path, timeout_s: float = 1800) -> Prepared:
    """Write the DAG files and fill a fresh deploy cache under ``workdir`` (the first run, timed)."""
    dags = workdir / "dags"
    write_dags(dags, specs, flavor="stratus")
    env = {**os.environ, "STRATUS_CACHE_DIR": str(workdir / "cache"), "PYTHONPATH": str(REPO)}
    env.pop("STRATUS_DEPLOY_CACHE", None)
    # As on a user's machine: Python keeps the bytecode of what it imports (a session that sets
    # PYTHONDONTWRITEBYTECODE would make every process compile Stratus's own modules again).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    first_s = _one(specs[0].dag_id, dags, env, timeout_s)  # empty deploy cache: deploys and keeps it
    return Prepared(dags, env, first_s)


def measure_one(spec: BenchDag, prepared: Prepared, repeats: int = 3, timeout_s: float = 1800) -> WholeProcess:
    """``repeats`` fresh ``stratus run`` processes of one DAG."""
    cpu: list[float] = []
    runs = [_one(spec.dag_id, prepared.dags, prepared.env, timeout_s, cpu) for _ in range(repeats)]
    return WholeProcess(spec.dag_id, prepared.first_s, runs, cpu)


def measure(specs: list[BenchDag], workdir: Path, repeats: int = 3, timeout_s: float = 1800) -> dict[str, WholeProcess]:
    """Whole-process ``stratus run`` times per DAG id (a fresh deploy cache under ``workdir``)."""
    prepared = prepare(specs, workdir, timeout_s)
    return {spec.dag_id: measure_one(spec, prepared, repeats, timeout_s) for spec in specs}


def table(specs: list[BenchDag], results: dict[str, WholeProcess]) -> str:
    rows = []
    for spec in specs:
        r = results[spec.dag_id]
        rows.append([spec.label, r.best_s, r.median_s, r.cpu_median_s, len(r.runs_s)])
    first = next(iter(results.values())).first_s
    return render(
        "Stratus whole process: `stratus run DAG` as a fresh process (deploy cache filled)",
        ["DAG", "best s", "median s", "median CPU s", "runs"], rows,
        notes=[f"The very first run on a machine (empty deploy cache: translate and deploy the template, keep it) "
               f"took {first:.2f} s with the first DAG.",
               f"Machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end."],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chain", type=int, default=100)
    parser.add_argument("--diamond", type=int, default=50)
    parser.add_argument("--map", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    specs = [chain(1), *standard_suite(chain_n=args.chain, diamond_w=args.diamond, map_n=args.map)]
    with tempfile.TemporaryDirectory(prefix="stratus-bench-whole-") as tmp:
        print(table(specs, measure(specs, Path(tmp), repeats=args.repeats)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

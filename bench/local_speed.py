"""Speed on the local cloud: time per hop on a chain, total time of a diamond and of wide maps, peak memory.

Everything runs in this process: moto with the SAM template deployed, the real Lambda
handlers run on invoke (``orchestrator.local.cloud.LocalCloud``). One cloud is started
(its start-up time is printed apart) and each DAG is run once, until the cloud is idle.

- total s: from ``run_dag`` to idle (run creation, every task, run finalisation);
- per task ms: total / task instances;
- CPU ms per task: this process's CPU time during the run (all threads: moto, handlers,
  emulation) / task instances; on a busy machine the wall time also holds the waits for
  the CPUs, this does not;
- median/p90 gap ms: from one task's ``end_date`` to the next task's ``start_date`` as the
  task-instance items record them (on the chain: the hop latency);
- peak RSS MB: the process's peak resident set size after that run (``ru_maxrss``; it only
  grows, so each row is the peak so far, cloud included).

Usage::

    python bench/local_speed.py [--chain 100] [--diamond 50] [--map 1000] [--large-map 10000]
                                [--json out.json] [--profile] [--fast-moto] [--backend local|engine]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.dags import BenchDag, fan_map, standard_suite  # noqa: E402
from bench.harness import BACKENDS, RunResult, bench_cloud, default_backend, run_and_wait  # noqa: E402
from orchestrator.local.speedups.moto_patches import fast_moto  # noqa: E402
from bench.sampler import StackSampler  # noqa: E402
from bench.table import render  # noqa: E402


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KB)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 if sys.platform != "darwin" else rss / (1024 * 1024)


@dataclass
class SpeedReport:
    """The runs measured, with the cloud's start-up time and the process's peak memory after each run."""

    specs: list[BenchDag]
    runs: list[RunResult] = field(default_factory=list)
    rss_mb: dict[str, float] = field(default_factory=dict)
    cloud_start_s: float = 0.0
    rss_before_mb: float = 0.0
    skipped: list[str] = field(default_factory=list)
    backend: str = "local"
    fast_moto: str = ""

    def as_json(self) -> dict[str, dict[str, object]]:
        return {
            r.dag_id: {
                "total_s": r.total_s, "state": r.state, "task_instances": len(r.task_instances),
                "median_gap_ms": r.median_gap_ms if r.dag_id.startswith("bench_chain_") else None,
                "peak_rss_mb": self.rss_mb.get(r.dag_id), "backend": self.backend, "cpu_s": r.cpu_s,
            }
            for r in self.runs
        }


def measure(specs: list[BenchDag], timeout_s: float = 1800.0, sampler: StackSampler | None = None,
            backend: str = "local", fast: bool = False) -> SpeedReport:
    """Start one cloud over ``specs`` and run each DAG once, in order (sampled by ``sampler`` if given).

    ``fast``: make moto fast first (``orchestrator.local.speedups.moto_patches.fast_moto``), for the rest of the process.
    """
    report = SpeedReport(specs=specs, rss_before_mb=peak_rss_mb(), backend=backend)
    if fast:
        report.fast_moto = fast_moto()
    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        cloud = stack.enter_context(bench_cloud(specs, backend=backend))
        report.cloud_start_s = time.perf_counter() - t0
        with sampler if sampler is not None else contextlib.nullcontext():
            for spec in specs:
                result = run_and_wait(cloud, spec, timeout_s)
                report.runs.append(result)
                report.rss_mb[spec.dag_id] = peak_rss_mb()
    return report


def _p90(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]


def speed_table(report: SpeedReport) -> str:
    """The local speed table (one row per DAG)."""
    by_id = {s.dag_id: s for s in report.specs}
    rows = []
    for r in report.runs:
        spec = by_id[r.dag_id]
        gaps = r.gaps_s() if spec.shape == "chain" else []  # parallel tasks overlap: a gap means nothing
        p90 = _p90(gaps)
        rows.append([
            spec.label, spec.task_instances, r.succeeded, r.state, r.total_s,
            r.total_s * 1000 / max(1, spec.task_instances),
            r.cpu_s * 1000 / max(1, spec.task_instances),
            statistics.median(gaps) * 1000 if gaps else None,
            p90 * 1000 if p90 is not None else None,
            report.rss_mb.get(r.dag_id),
        ])
    notes = [
        f"Local cloud start-up (moto, template deployed): {report.cloud_start_s:.2f} s, not included above; "
        f"peak RSS before start-up {report.rss_before_mb:.0f} MB.",
        "gap (chains only): one task's end_date to the next task's start_date, the hop latency.",
        f"Machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end (other work slows every figure).",
    ]
    notes.append("The local cloud installs orchestrator.local.speedups.motofast (moto's slow paths made fast, same results), "
                 "orchestrator.local.speedups.motorequest (in-process requests routed once per URL, DynamoDB's without werkzeug, "
                 "signatures moto never checks not computed) and orchestrator.local.speedups.botofast (botocore's models loaded "
                 "once per process, User-Agent strings kept) on start.")
    notes += [f"Skipped: {s}" for s in report.skipped]
    title = ("Local cloud speed (moto in process, real handlers)" if report.backend == "local"
             else "Engine speed on moto (no Lambda hop: task messages run in one thread)")
    return render(
        title,
        ["DAG", "task instances", "succeeded", "run state", "total s", "per task ms", "CPU ms per task",
         "median gap ms", "p90 gap ms", "peak RSS MB"],
        rows, notes,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chain", type=int, default=100)
    parser.add_argument("--diamond", type=int, default=50)
    parser.add_argument("--map", type=int, default=1000)
    parser.add_argument("--large-map", type=int, default=0, metavar="N",
                        help="also run an N-way map (10000 for the published table; it takes a few minutes), "
                             "in a fresh local cloud")
    parser.add_argument("--json", default=None, help="also write the figures as JSON to this path")
    parser.add_argument("--fast-moto", action="store_true",
                        help="apply orchestrator.local.speedups.motofast first (the local cloud does on start; this is for --backend engine)")
    parser.add_argument("--profile", action="store_true",
                        help="sample every thread's stack during the runs and print the hottest functions")
    parser.add_argument("--backend", choices=BACKENDS, default=None,
                        help="local: the local cloud (default when available); engine: the engine alone on moto")
    args = parser.parse_args(argv)
    backend = args.backend or default_backend()

    specs = standard_suite(chain_n=args.chain, diamond_w=args.diamond, map_n=args.map)
    sampler = StackSampler() if args.profile else None
    report = measure(specs, sampler=sampler, backend=backend, fast=args.fast_moto)
    if args.large_map:
        # moto copies whole tables on every transaction: without the fix a 10,000-map is quadratic (hours).
        large = measure([fan_map(args.large_map)], backend=backend, fast=True)
        report.specs += large.specs
        report.runs += large.runs
        report.rss_mb.update(large.rss_mb)
        report.fast_moto = report.fast_moto or f"{large.fast_moto} (for the {args.large_map:,}-map)"
    else:
        report.skipped.append("the 10,000-map (pass --large-map 10000; `make bench` runs it unless "
                              "BENCH_ARGS=--no-large-map; it takes about 3 minutes on moto)")
    print(speed_table(report))
    if sampler is not None:
        print("Where the time goes (all threads, during the runs):\n")
        print(sampler.report(25, only=("orchestrator/", "functions/", "moto/", "botocore/", "boto3/")))
    if args.json:
        Path(args.json).write_text(json.dumps(report.as_json(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

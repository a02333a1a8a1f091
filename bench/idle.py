"""What Stratus runs, holds and costs while no DAG runs (issue #8: "nothing runs when idle").

On AWS nothing of Stratus runs between runs: no process, no memory held, no database server.
What is left is the sweeper: the template's ``SweeperSchedule`` invokes the conductor at a
fixed rate (read from ``template.yaml`` here) to repair what lost messages left behind. This
script deploys the template on the local cloud, registers the example DAGs of ``dags/``
(no run in flight), invokes that sweep a few times through Lambda as the schedule would, and
counts its AWS calls and DynamoDB read units. It prints the sweeps per month and what they
cost at on-demand prices (``bench.aws_calls.PRICES``), next to Airflow's idle footprint as
issue #8 measured it (not re-measured here). Schedule fires of scheduled DAGs are runs, not
idle cost, and are left out; so are CloudWatch Logs and the free tiers.

Usage::

    python bench/idle.py [--dags dags] [--sweeps 5] [--sweep-ms 300]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.aws_calls import PRICES, PRICES_AS_OF  # noqa: E402
from bench.awscount import CallRecorder  # noqa: E402
from bench.table import fmt, render  # noqa: E402

SECONDS_PER_MONTH = 30 * 24 * 3600
READS = ("GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems")
# Issue #8's measurement of Apache Airflow 3.3.2 (scheduler + LocalExecutor, api-server,
# dag-processor, triggerer) idling on this 2-core machine.
AIRFLOW_IDLE = {"processes": 40, "pss_gb": 1.1}


def sweeper_rate_s(template: Path) -> tuple[str, int]:
    """The sweeper's ScheduleExpression in ``template`` and its period in seconds."""
    from orchestrator.local.template import load_sam_template

    resources = load_sam_template(template)["Resources"]
    expr = str(resources["SweeperSchedule"]["Properties"]["ScheduleExpression"])
    m = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expr)
    if not m:
        raise SystemExit(f"template.yaml SweeperSchedule: cannot read the period of {expr!r}")
    unit = {"minute": 60, "hour": 3600, "day": 86400}[m.group(2).rstrip("s")]
    return expr, int(m.group(1)) * unit


def conductor_memory_mb(template: Path) -> int:
    from orchestrator.local.template import load_sam_template

    sam = load_sam_template(template)
    props = sam["Resources"]["ConductorFunction"]["Properties"]
    value = props.get("MemorySize", sam.get("Globals", {}).get("Function", {}).get("MemorySize", 128))
    return int(value) if isinstance(value, (int, str)) and str(value).isdigit() else 512


def measure_sweeps(dags: Path, sweeps: int) -> tuple[int, list[dict[str, float]]]:
    """Register every DAG of ``dags`` on a local cloud, then invoke the sweep ``sweeps`` times."""
    from orchestrator.local.cloud import LocalCloud

    with LocalCloud(str(dags)) as cloud:
        from orchestrator.plan.loader import DagBag

        dag_ids = sorted(DagBag(str(dags)).dags)
        for dag_id in dag_ids:
            cloud.sync_dag(dag_id)
        lam = cloud.clients.client("lambda")
        payload = json.dumps({"kind": "sweep"})
        out = []
        for _ in range(sweeps):
            with CallRecorder() as rec:
                t0 = time.perf_counter()
                lam.invoke(FunctionName=cloud.resources.conductor_function, Payload=payload)
                elapsed = time.perf_counter() - t0
            calls = [c for c in rec.api_calls() if c.name != "lambda:Invoke"]
            ddb = [c for c in calls if c.service == "dynamodb"]
            # A read that returns nothing is still billed: at least half a unit (eventually consistent).
            rru = sum(max(c.rcu, 0.5) for c in ddb if c.operation in READS)
            wru = sum(c.wcu for c in ddb if c.operation not in READS)
            out.append({"calls": len(calls), "ddb": len(ddb), "rru": rru, "wru": wru, "ms": elapsed * 1000})
        return len(dag_ids), out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dags", default=str(REPO / "dags"), help="DAG folder to register (default: dags/)")
    parser.add_argument("--sweeps", type=int, default=5, help="sweeps to measure (default: 5)")
    parser.add_argument("--sweep-ms", type=float, default=300.0,
                        help="billed duration assumed per sweep on AWS (default: 300 ms; moto's time is printed)")
    args = parser.parse_args(argv)

    template = REPO / "template.yaml"
    expr, period_s = sweeper_rate_s(template)
    memory_mb = conductor_memory_mb(template)
    n_dags, sweeps = measure_sweeps(Path(args.dags), args.sweeps)
    per_month = SECONDS_PER_MONTH / period_s
    calls = statistics.median(s["calls"] for s in sweeps)
    rru = statistics.median(s["rru"] for s in sweeps)
    wru = statistics.median(s["wru"] for s in sweeps)
    cost = {
        "lambda": per_month * (PRICES["lambda_request"]
                               + memory_mb / 1024 * args.sweep_ms / 1000 * PRICES["lambda_gb_s_arm64"]),
        "dynamodb": per_month * (rru * PRICES["dynamodb_rru"] + wru * PRICES["dynamodb_wru"]),
    }
    print(render(
        f"Idle: what runs while no DAG runs ({n_dags} DAGs registered, no run in flight)",
        ["", "Stratus on AWS", "Apache Airflow 3.3.2 (issue #8)"],
        [
            ["processes running between runs", "0", f"~{AIRFLOW_IDLE['processes']}"],
            ["memory held between runs", "0 GB", f"~{AIRFLOW_IDLE['pss_gb']} GB (PSS)"],
            ["periodic work", f"sweeper, {expr}: {per_month:,.0f} invocations/month", "scheduler loop, always on"],
            ["AWS calls per sweep (median)", fmt(calls, 0), "-"],
            ["DynamoDB RRU / WRU per sweep", f"{fmt(rru)} / {fmt(wru)}", "-"],
            ["sweep time on moto, median ms", fmt(statistics.median(s["ms"] for s in sweeps), 0), "-"],
            ["idle cost per month, USD", f"{cost['lambda'] + cost['dynamodb']:.4f} (Lambda {cost['lambda']:.4f}, "
             f"DynamoDB {cost['dynamodb']:.4f})", "the machine(s) it runs on"],
        ],
        notes=[
            f"Prices as of {PRICES_AS_OF}; conductor {memory_mb} MB arm64, {args.sweep_ms:g} ms billed per sweep "
            "assumed (--sweep-ms); DynamoDB units from item sizes (bench/awscount.py).",
            "Not counted: DynamoDB and S3 storage of past runs (TTL removes old runs), CloudWatch Logs, free tiers.",
            "Airflow column: issue #8's measurement on this machine, not re-measured by this script.",
        ],
    ))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

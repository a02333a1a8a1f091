"""AWS calls per task instance, what they cost per million tasks, and the calls on the critical path.

Each benchmark DAG runs once on the local cloud (moto, the SAM template deployed, the real
handlers run on invoke) while ``bench.awscount.CallRecorder`` counts every AWS API call the
process makes, by service and operation, with the DynamoDB request units AWS would bill
(computed from item sizes). The local cloud's own emulation of what AWS does by itself
(writing Lambda logs to CloudWatch Logs) is counted apart and not priced: on AWS the
Lambda runtime does it, not an API call of ours.

Cost per million tasks at on-demand us-east-1 prices (see ``PRICES``) is printed next to
AWS Step Functions Standard, which bills $25 per million state transitions on top of the
same Lambda invocations.

On the chain, the calls between one task's end (its ``BaseOperator.run`` returning) and the
next task's start are listed in order: the sequential AWS calls on the hop's critical path.

Usage::

    python bench/aws_calls.py [--chain 100] [--diamond 50] [--map 1000] [--lambda-ms 40]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.awscount import Call, CallRecorder  # noqa: E402
from bench.dags import BenchDag, standard_suite  # noqa: E402
from bench.harness import BACKENDS, RunResult, bench_cloud, default_backend, operator_markers, run_and_wait  # noqa: E402
from orchestrator.local.speedups.moto_patches import fast_moto  # noqa: E402
from bench.table import render  # noqa: E402

# On-demand prices, us-east-1, as published on the AWS pricing pages (checked 2026-11-22):
# Lambda https://aws.amazon.com/lambda/pricing/ (arm64 first tier), DynamoDB on-demand
# https://aws.amazon.com/dynamodb/pricing/on-demand/ (after the 2024-11-01 cut of 50%),
# SQS https://aws.amazon.com/sqs/pricing/ (standard queue, after the free tier),
# S3 https://aws.amazon.com/s3/pricing/ (S3 Standard requests),
# Step Functions https://aws.amazon.com/step-functions/pricing/ (Standard workflows).
PRICES_AS_OF = "2026-11-22 (AWS on-demand list prices, us-east-1; DynamoDB after the Nov 2024 cut)"
PRICES = {
    "lambda_request": 0.20 / 1e6,          # per request (an async Invoke is one request)
    "lambda_gb_s_arm64": 0.0000133334,     # per GB-second, arm64
    "dynamodb_wru": 0.625 / 1e6,           # per write request unit (on-demand)
    "dynamodb_rru": 0.125 / 1e6,           # per read request unit (on-demand)
    "sqs_request": 0.40 / 1e6,             # per request, standard queue (64 KB chunks)
    "s3_put": 0.005 / 1000,                # PUT, COPY, POST, LIST
    "s3_get": 0.0004 / 1000,               # GET, SELECT and all other requests
    "sfn_transition": 25.0 / 1e6,          # Step Functions Standard, per state transition
}
LAMBDA_MEMORY_MB = 128
DEFAULT_LAMBDA_MS = 40.0  # assumed billed duration of one worker invocation on AWS (128 MB arm64)
S3_PUT_OPS = {"PutObject", "CopyObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload",
              "ListObjects", "ListObjectsV2", "DeleteObject", "DeleteObjects"}
EMULATION_SERVICES = {"logs"}  # done by the Lambda runtime on AWS, not by our code

# Issue #8 targets.
TARGET_INVOKES_PER_TASK = 1.0
TARGET_DDB_WRITES_PER_TASK = 4.0
TARGET_CRITICAL_PATH_CALLS = 4


@dataclass
class DagCalls:
    """The AWS calls one run of one DAG made."""

    spec: BenchDag
    run: RunResult
    calls: list[Call]
    hops: list[list[str]] = field(default_factory=list)

    @property
    def api(self) -> list[Call]:
        return [c for c in self.calls if c.service != "mark" and c.service not in EMULATION_SERVICES]

    @property
    def emulation(self) -> list[Call]:
        return [c for c in self.calls if c.service in EMULATION_SERVICES]

    def per_task(self) -> dict[str, float]:
        n = max(1, self.spec.task_instances)
        api = self.api
        ddb = [c for c in api if c.service == "dynamodb"]
        ddb_reads = [c for c in ddb if c.operation in ("GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems")]
        ddb_writes = [c for c in ddb if c.item_writes or c.operation in (
            "PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")]
        s3 = [c for c in api if c.service == "s3"]
        return {
            "invoke": sum(1 for c in api if c.name == "lambda:Invoke") / n,
            "ddb_read_calls": len(ddb_reads) / n,
            "ddb_write_calls": len(ddb_writes) / n,
            "ddb_item_writes": sum(c.item_writes for c in ddb_writes) / n,
            "wru": sum(c.wcu for c in ddb) / n,
            "rru": sum(c.rcu for c in ddb) / n,
            "s3_put": sum(1 for c in s3 if c.operation in S3_PUT_OPS) / n,
            "s3_get": sum(1 for c in s3 if c.operation not in S3_PUT_OPS) / n,
            "sqs": sum(1 for c in api if c.service == "sqs") / n,
            "other": sum(1 for c in api if c.service not in ("lambda", "dynamodb", "s3", "sqs")) / n,
            "other_lambda": sum(1 for c in api if c.service == "lambda" and c.operation != "Invoke") / n,
            "total": len(api) / n,
        }

    def invocation_ms(self) -> list[float]:
        """Wall time of each handler invocation in this run (from the invocation markers), in ms."""
        open_at: dict[int, float] = {}
        out: list[float] = []
        for c in self.calls:
            if c.service != "mark":
                continue
            if c.operation == "invocation_start":
                open_at[c.thread] = c.start
            elif c.operation == "invocation_end" and c.thread in open_at:
                out.append((c.start - open_at.pop(c.thread)) * 1000)
        return out

    def other_names(self) -> list[str]:
        names = Counter(c.name for c in self.api if c.service not in ("dynamodb", "s3", "sqs")
                        and c.name != "lambda:Invoke")
        return [f"{k} x{v}" for k, v in names.most_common()]


def cost_per_million(per_task: dict[str, float], lambda_ms: float) -> dict[str, float]:
    """Dollars per million task instances, by service, from the per-task figures."""
    m = 1e6
    gb_s = (LAMBDA_MEMORY_MB / 1024) * (lambda_ms / 1000)
    out = {
        "lambda_requests": per_task["invoke"] * PRICES["lambda_request"] * m,
        "lambda_duration": per_task["invoke"] * gb_s * PRICES["lambda_gb_s_arm64"] * m,
        "dynamodb": (per_task["wru"] * PRICES["dynamodb_wru"] + per_task["rru"] * PRICES["dynamodb_rru"]) * m,
        "s3": (per_task["s3_put"] * PRICES["s3_put"] + per_task["s3_get"] * PRICES["s3_get"]) * m,
        "sqs": per_task["sqs"] * PRICES["sqs_request"] * m,
    }
    out["total"] = sum(out.values())
    return out


def step_functions_per_million(spec: BenchDag, lambda_ms: float) -> dict[str, float]:
    """Step Functions Standard for the same DAG: transitions, plus one Lambda invocation per task."""
    per_task_transitions = spec.sfn_transitions / max(1, spec.task_instances)
    gb_s = (LAMBDA_MEMORY_MB / 1024) * (lambda_ms / 1000)
    transitions = per_task_transitions * PRICES["sfn_transition"] * 1e6
    lam = (PRICES["lambda_request"] + gb_s * PRICES["lambda_gb_s_arm64"]) * 1e6
    return {"transitions_per_task": per_task_transitions, "transitions": transitions, "total": transitions + lam}


def critical_path_hops(calls: list[Call]) -> list[list[str]]:
    """The sequential calls of each hop from one task's end to the next task's start (for a chain).

    A hop is: the calls the finishing worker makes after its task body returns, up to and
    including the ``lambda:Invoke`` that dispatches the next task (what it does after that
    runs in parallel with the next task, as on AWS), then the calls the next worker makes
    between the start of its invocation and the start of its task body. Calls are attributed
    to invocations by thread and ``invocation_start`` markers.
    """
    hops: list[list[str]] = []
    ends: dict[int, list[str]] = {}  # thread -> calls since task_end, until its Invoke
    open_end: dict[int, bool] = {}
    pending: list[list[str]] = []  # finished "end sides" waiting for the next task's start
    since_invocation: dict[int, list[str]] = {}
    for c in calls:
        if c.service in EMULATION_SERVICES:
            continue
        t = c.thread
        if c.service == "mark":
            if c.operation == "invocation_start":
                since_invocation[t] = []
            elif c.operation == "task_end":
                ends[t], open_end[t] = [], True
            elif c.operation == "task_start":
                if pending:
                    hops.append(pending.pop(0) + since_invocation.get(t, []))
                since_invocation[t] = []
            continue
        since_invocation.setdefault(t, []).append(c.name)
        if open_end.get(t):
            ends[t].append(c.name)
            if c.name == "lambda:Invoke":
                open_end[t] = False
                pending.append(ends[t])
    return hops


def measure(specs: list[BenchDag], timeout_s: float = 1800.0, backend: str = "local") -> list[DagCalls]:
    """Run each DAG once on one cloud (see ``bench.harness.bench_cloud``), recording the calls of each run apart."""
    results: list[DagCalls] = []
    # Counting, not timing: moto's whole-table copy per transaction only slows this down (see orchestrator/local/speedups/moto_patches.py).
    fast_moto()
    with bench_cloud(specs, backend=backend) as cloud, CallRecorder() as recorder, operator_markers(recorder):
        for spec in specs:
            cloud.wait_idle(timeout_s)
            run = run_and_wait(cloud, spec, timeout_s, recorder=recorder)
            calls = recorder.snapshot()
            result = DagCalls(spec, run, calls)
            if spec.shape == "chain":
                result.hops = critical_path_hops(calls)
            results.append(result)
    return results


def calls_table(results: list[DagCalls]) -> str:
    rows = []
    for r in results:
        p = r.per_task()
        rows.append([
            r.spec.label, r.spec.task_instances, r.run.state, p["invoke"], p["ddb_read_calls"], p["ddb_write_calls"],
            p["ddb_item_writes"], p["wru"], p["rru"], p["s3_get"], p["s3_put"], p["sqs"], p["other"] + p["other_lambda"],
            p["total"],
        ])
    notes = []
    for r in results:
        other = r.other_names()
        if other:
            notes.append(f"{r.spec.label}: other calls in the run: {', '.join(other)}")
        emu = Counter(c.name for c in r.emulation)
        if emu:
            notes.append(f"{r.spec.label}: local emulation calls (not priced): "
                         + ", ".join(f"{k} x{v}" for k, v in emu.most_common()))
    for r in results:
        durations = r.invocation_ms()
        if durations:
            notes.append(f"{r.spec.label}: {len(durations)} handler invocations, median {statistics.median(durations):.0f} ms "
                         "each on this machine's moto (AWS latencies differ; the cost table assumes --lambda-ms).")
    notes.append("DynamoDB units: WRU = ceil(max(item before, after) / 1 KB), x2 in a transaction; "
                 "RRU = ceil(size / 4 KB), half when eventually consistent (computed from item sizes).")
    return render(
        "AWS API calls per task instance (whole run divided by its task instances)",
        ["DAG", "task instances", "run", "Lambda Invoke", "DDB read calls", "DDB write calls", "DDB item writes",
         "WRU", "RRU", "S3 GET", "S3 PUT", "SQS", "other", "all calls"],
        [[c if not isinstance(c, float) else round(c, 2) for c in row] for row in rows],
        notes,
    )


def cost_table(results: list[DagCalls], lambda_ms: float) -> str:
    rows = []
    for r in results:
        cost = cost_per_million(r.per_task(), lambda_ms)
        sfn = step_functions_per_million(r.spec, lambda_ms)
        rows.append([
            r.spec.label, cost["lambda_requests"], cost["lambda_duration"], cost["dynamodb"], cost["s3"], cost["sqs"],
            cost["total"], cost["total"] - cost["lambda_requests"] - cost["lambda_duration"],
            sfn["transitions_per_task"], sfn["transitions"], sfn["total"],
            f"{sfn['total'] / cost['total']:.1f}x" if cost["total"] else "-",
        ])
    return render(
        "Cost per million task instances, USD (on-demand, us-east-1)",
        ["DAG", "Lambda requests", "Lambda GB-s", "DynamoDB", "S3", "SQS", "Stratus total",
         "Stratus orchestration only", "SFN transitions per task", "SFN Standard transitions",
         "SFN Standard + Lambda", "SFN / Stratus"],
        rows,
        [
            f"Prices as of {PRICES_AS_OF}: Lambda $0.20 per 1M requests + $0.0000133334 per GB-s (arm64, "
            f"{LAMBDA_MEMORY_MB} MB, {lambda_ms:.0f} ms assumed per invocation); DynamoDB on-demand $0.625 per 1M WRU, "
            "$0.125 per 1M RRU; SQS $0.40 per 1M requests; S3 $0.005 per 1,000 PUT/LIST, $0.0004 per 1,000 GET; "
            "Step Functions Standard $25 per 1M state transitions.",
            "Stratus orchestration only = DynamoDB + S3 + SQS (the Lambda invocation runs the task either way).",
            "SFN: an equivalent Standard state machine (one Task state per task, one Parallel/Map state per fan-out; "
            "every Map iteration counted) invoking the same Lambda once per task. Not included on either side: "
            "CloudWatch Logs ingestion, free tiers, data transfer.",
        ],
    )


def critical_path_table(results: list[DagCalls]) -> str:
    rows = []
    for r in results:
        if not r.hops:
            continue
        lengths = [len(h) for h in r.hops]
        common, times = Counter(tuple(h) for h in r.hops).most_common(1)[0]
        median = statistics.median(lengths)
        rows.append([
            r.spec.label, len(r.hops), median, max(lengths), " -> ".join(common) or "(none)", f"{times}/{len(r.hops)}",
            f"<= {TARGET_CRITICAL_PATH_CALLS}: {'met' if median <= TARGET_CRITICAL_PATH_CALLS else 'NOT met'}",
        ])
    if not rows:
        rows.append(["(no chain measured, or no task markers)", 0, None, None, "-", "-", "-"])
    return render(
        "Sequential AWS calls from one task's end to the next task's start (chain)",
        ["DAG", "hops", "median calls", "max calls", "most common sequence", "share", "target"],
        rows,
        ["Order of calls as made: the finishing worker's calls after the task body returns, then the next "
         "worker's calls before its task body starts (on AWS the async Invoke returns before the next worker runs)."],
    )


def sites_table(results: list[DagCalls], top: int = 12) -> str:
    """Where in Stratus's code the calls are made (per task instance), the most frequent first."""
    rows = []
    for r in results:
        n = max(1, r.spec.task_instances)
        counts = Counter((c.name, " <- ".join(c.site.split(" <- ")[:2]) or "(outside Stratus code)") for c in r.api)
        for (name, site), k in counts.most_common(top):
            rows.append([r.spec.label, name, round(k / n, 2), site])
    return render(
        "Where the calls are made (per task instance; innermost Stratus frames)",
        ["DAG", "call", "per task", "call site"],
        rows,
    )


def targets_summary(results: list[DagCalls]) -> str:
    lines = ["Issue #8 targets (AWS calls):"]
    for r in results:
        p = r.per_task()
        ok_inv = p["invoke"] <= TARGET_INVOKES_PER_TASK + 1e-9
        ok_w = p["ddb_item_writes"] <= TARGET_DDB_WRITES_PER_TASK + 1e-9
        lines.append(
            f"- {r.spec.label}: {p['invoke']:.2f} Lambda invocations per task (<= 1: {'met' if ok_inv else 'NOT met'}), "
            f"{p['ddb_item_writes']:.2f} DynamoDB item writes per task (<= 4: {'met' if ok_w else 'NOT met'})"
        )
    return "\n".join(lines) + "\n"


def report(results: list[DagCalls], lambda_ms: float = DEFAULT_LAMBDA_MS) -> str:
    """All the tables of this script."""
    return "\n".join([calls_table(results), cost_table(results, lambda_ms), critical_path_table(results),
                      targets_summary(results), sites_table(results)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chain", type=int, default=100)
    parser.add_argument("--diamond", type=int, default=50)
    parser.add_argument("--map", type=int, default=1000)
    parser.add_argument("--lambda-ms", type=float, default=DEFAULT_LAMBDA_MS,
                        help="billed duration assumed per Lambda invocation on AWS (ms)")
    parser.add_argument("--backend", choices=BACKENDS, default=None,
                        help="local: the local cloud (default when available); engine: the engine alone on moto")
    args = parser.parse_args(argv)
    backend = args.backend or default_backend()
    specs = standard_suite(chain_n=args.chain, diamond_w=args.diamond, map_n=args.map)
    if backend != "local":
        print(f"Backend: {backend} (the engine alone on moto; each dispatch counted as one lambda:Invoke)\n")
    print(report(measure(specs, backend=backend), args.lambda_ms))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

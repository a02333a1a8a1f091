"""The chaos harness: many runs of mixed DAG shapes under seeded faults, at once, each judged.

``python -m chaos [--seeds 7] [--runs 200]`` (``make chaos CHAOS_SEED=7``) prints the seeds it
runs and ends with one line ``runs=N faults=N correct=N stuck=N lost=N overlap=N``.

The world (``chaos.world``) is moto in process with the real run store, engine, conductor
and trigger code, deliveries running on several threads at once and the sweeper running
alongside them; what moto does not do is played with AWS's documented behaviour and the
template's configuration (no Lambda retries for the worker: failures reach the conductor
through the OnFailure destination).

Faults (``chaos.faults``): duplicated and dropped invokes, deliveries in random order, a crash
before or after every store write, Lambda's hard timeout killing a try mid-body, DynamoDB and
Lambda throttling through botocore's real retry path, storms of throttled transactions on one
run item, someone clearing or marking tasks while the run goes on, duplicated and concurrent
S3 events.

Each run is judged against a fault-free run of the same DAG in the same world: ``correct``
(same run and task states, every task instance's XComs and number of successful tries, no
slot, marker or waiting item left, finished once), ``stuck`` (not finished after sweeping),
``lost`` (run or a task instance missing), else ``wrong`` (printed with its difference).
``overlap`` counts two executions of one task instance's body at the same time (after a
crash a body may run again: never two at once).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from chaos import dags as chaos_dags
from chaos import probe
from chaos.faults import FaultRates, Faults, virtual_backoff
from chaos.world import THREADS, TERMINAL_RUN, ChaosWorld, SimClock, Verdict, moto_serialised

__all__ = ["ChaosWorld", "SimClock", "Verdict", "SeedResult", "run_seed", "summary", "summary_line", "main"]

Reference = tuple[str | None, dict[str, str], dict[str, dict[str, Any]]]


@dataclass
class SeedResult:
    seed: int
    verdicts: list[Verdict]
    faults: Counter[str]
    errors: Counter[str]
    overlaps: list[tuple[str, ...]] = field(default_factory=list)


def run_seed(seed: int, runs: int, *, rates: FaultRates | None = None, batch: int = 8,
             asset_rounds: int | None = None, workdir: Path | None = None,
             shapes: list[str] | None = None, threads: int = THREADS) -> SeedResult:
    """``runs`` DAG runs (plus S3-triggered asset runs) under seeded faults; every run judged.

    ``batch`` runs are started together and delivered on ``threads`` threads at once, with
    the sweeper alongside. ``shapes`` limits the DAGs runs pick from (``chaos.dags.write_dags``).
    """
    from moto import mock_aws

    env = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "chaos", "AWS_SECRET_ACCESS_KEY": "chaos",
           "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_TRACE_DISABLED": "true"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="stratus-chaos-")
        workdir = Path(tmp.name)
    try:
        root = workdir / f"dags-{seed}"
        dag_ids = chaos_dags.write_dags(root, seed)
        if shapes:
            unknown = sorted(set(shapes) - set(dag_ids))
            if unknown:
                raise ValueError(f"Unknown chaos DAG(s) {unknown}; choose from {dag_ids}.")
            dag_ids = [d for d in dag_ids if d in shapes]
        faults = Faults(seed, rates or FaultRates.default())
        # botocore's retry jitter uses the global generator; it moves the simulated clock.
        random.seed(seed)
        clock = SimClock()
        probe.reset()
        _fast_moto()
        with mock_aws(), virtual_backoff(clock.advance), moto_serialised():
            world = ChaosWorld(root, faults, clock, threads=threads)
            world.register(dag_ids + [chaos_dags.ASSET_DAG])
            expected = _references(world, dag_ids)
            verdicts: list[Verdict] = []
            picker = faults.rng
            for start in range(0, runs, batch):
                keys = []
                for i in range(start, min(runs, start + batch)):
                    dag_id = picker.choice(dag_ids)
                    keys.append((dag_id, f"chaos__{seed}_{i:05d}"))
                    world.start(*keys[-1])
                    world.plan_user(*keys[-1])
                world.settle(keys)
                verdicts += [world.judge(d, r, expected[d]) for d, r in keys]
                verdicts += _slots_released(world, sorted({d for d, _ in keys}))
                for d, r in keys:
                    world.purge(d, r)
            rounds = asset_rounds if asset_rounds is not None else max(1, runs // 50)
            for round_no in range(rounds):
                verdicts += _asset_round(world, seed, round_no, picker, expected[chaos_dags.ASSET_DAG])
        return SeedResult(seed, verdicts, faults.counts, world.errors, list(probe.overlaps))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if tmp is not None:
            tmp.cleanup()


def _fast_moto() -> None:
    """The local cloud's moto speed-ups (moto copies whole tables per transaction)."""
    from orchestrator.local import speedups

    speedups.install()


def _references(world: ChaosWorld, dag_ids: list[str]) -> dict[str, Reference]:
    """The fault-free outcome of each DAG (states, XComs, successful tries), run in the same
    world with faults paused."""
    out: dict[str, Reference] = {}
    with world.faults.paused():
        for dag_id in dag_ids + [chaos_dags.ASSET_DAG]:
            run_id = f"reference__{dag_id}"
            world.start(dag_id, run_id)
            world.settle([(dag_id, run_id)])
            state, tis, _ = world.snapshot(dag_id, run_id)
            if state not in TERMINAL_RUN:
                raise RuntimeError(f"chaos: the fault-free run of '{dag_id}' did not finish ({state}, {tis}).")
            outputs = world.outputs(dag_id, run_id)
            if dag_id == chaos_dags.ASSET_DAG:
                outputs = {}  # its XComs name the objects that triggered it: judged by object instead
            out[dag_id] = (state, tis, outputs)
            world.expected_success[dag_id] = {k for k, v in tis.items() if v == "success"}
            world.purge(dag_id, run_id)
    return out


def _slots_released(world: ChaosWorld, dag_ids: list[str]) -> list[Verdict]:
    """Once every run of a batch has finished, no DAG still holds a run slot."""
    out = []
    with world.faults.paused():
        for dag_id in dag_ids:
            held = world.store.count_active_runs(dag_id)
            if held:
                out.append(Verdict(dag_id, "<run slots>", "wrong", f"{held} run slot(s) still held"))
    return out


def _asset_round(world: ChaosWorld, seed: int, round_no: int, rng: Any, expected: Reference) -> list[Verdict]:
    """Object Created events for the asset DAG, duplicated, in random order and delivered at
    once; every object triggers exactly one run (a run may carry several). Returns a verdict
    per run and per object lost or double-counted."""
    n = rng.randint(1, 6)
    before = {r["run_id"] for r in _asset_runs(world)}
    events = []
    for i in range(n):
        key = f"in/{seed}/{round_no}/{i}.csv"
        sequencer = f"{seed:04X}{round_no:06X}{i:04X}"
        events.append({"version": "0", "id": f"evt-{seed}-{round_no}-{i}", "source": "aws.s3",
                       "detail-type": "Object Created", "time": world.clock.now().isoformat(),
                       "detail": {"bucket": {"name": chaos_dags.LANDING_BUCKET},
                                  "object": {"key": key, "size": 10 + i, "etag": f"etag{i}", "sequencer": sequencer}}})
    deliveries = [e for e in events for _ in range(2 if world.faults.roll("s3_duplicate") else 1)]
    for e in deliveries:
        world.push("s3", e)
    world.drain()
    new = [r for r in _asset_runs(world) if r["run_id"] not in before]
    world.settle([(chaos_dags.ASSET_DAG, r["run_id"]) for r in new])
    # Airflow may fold several queued asset events into one run: judge by object, not by count.
    # Each object must trigger exactly one run; each run must finish as the reference did.
    verdicts = [world.judge(chaos_dags.ASSET_DAG, r["run_id"], expected) for r in new]
    for i in range(n):
        key = f"in/{seed}/{round_no}/{i}.csv"
        hits = [r["run_id"] for r in new if key in json.dumps(r.get("triggering_asset_events") or {})]
        if not hits:
            verdicts.append(Verdict(chaos_dags.ASSET_DAG, f"<object {key}>", "lost",
                                    f"no asset-triggered run has s3://{chaos_dags.LANDING_BUCKET}/{key} "
                                    f"among its triggering events ({len(new)} runs for {n} objects)"))
        elif len(hits) > 1:
            verdicts.append(Verdict(chaos_dags.ASSET_DAG, f"<object {key}>", "wrong",
                                    f"one object triggered {len(hits)} runs: {hits}"))
    for r in new:
        world.purge(chaos_dags.ASSET_DAG, r["run_id"])
    return verdicts


def _asset_runs(world: ChaosWorld) -> list[dict[str, Any]]:
    with world.faults.paused():
        return [r for r in world.store.list_runs(chaos_dags.ASSET_DAG, limit=10_000)
                if r.get("run_type") == "asset_triggered"]


# ---------------------------------------------------------------------------- report


def summary(results: list[SeedResult]) -> dict[str, int]:
    verdicts = [v for r in results for v in r.verdicts]
    out = Counter(v.outcome for v in verdicts)
    return {"runs": len(verdicts), "faults": sum(sum(r.faults.values()) for r in results),
            "correct": out["correct"], "stuck": out["stuck"], "lost": out["lost"],
            "overlap": sum(len(r.overlaps) for r in results)}


def summary_line(results: list[SeedResult]) -> str:
    s = summary(results)
    return " ".join(f"{k}={v}" for k, v in s.items())


def main(argv: list[str] | None = None) -> int:
    """``make chaos``: run the seeds, print per-seed detail, end with the one summary line."""
    parser = argparse.ArgumentParser(prog="python -m chaos", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--seeds", default="", help="comma-separated seeds (default: one fresh seed, printed)")
    parser.add_argument("--runs", type=int, default=200, help="DAG runs per seed (default 200)")
    parser.add_argument("--threads", type=int, default=THREADS, help=f"deliveries at once (default {THREADS})")
    parser.add_argument("--ddb-storm", type=float, default=0.0,
                        help="rate of DynamoDB calls throttled past botocore's retries (arbitrary-point handler "
                             "failures; these may cost a task its spare try, so judge stuck/lost only)")
    parser.add_argument("--shapes", default="", help="comma-separated chaos DAG ids to pick from (default: all)")
    args = parser.parse_args(argv)
    seeds = [int(x) for x in args.seeds.split(",") if x.strip()] or [random.SystemRandom().randrange(1, 100_000)]
    if os.environ.get("PYTHONHASHSEED") != "0" and argv is None:
        # Set iteration order feeds dispatch order: pin it (threads still interleave freely).
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable, "-m", "chaos", *_without_seeds(sys.argv[1:]),
                                  "--seeds", ",".join(map(str, seeds))])
    print(f"chaos: seeds {','.join(map(str, seeds))}, {args.runs} runs each, {args.threads} threads "
          f"(replay: make chaos CHAOS_SEED={','.join(map(str, seeds))})", flush=True)
    import logging

    logging.disable(logging.CRITICAL)  # the engine's own logs would drown the report
    results = []
    try:
        for seed in seeds:
            started = time.monotonic()
            rates = replace(FaultRates.default(), ddb_storm=args.ddb_storm)
            res = run_seed(seed, args.runs, rates=rates, threads=args.threads,
                           shapes=[x for x in args.shapes.split(",") if x] or None)
            results.append(res)
            _report_seed(res, time.monotonic() - started)
    finally:
        logging.disable(logging.NOTSET)
    s = summary(results)
    print(summary_line(results))
    exact = args.ddb_storm == 0  # storms may legitimately change outcomes (a try lost to the platform)
    ok = s["stuck"] == 0 and s["lost"] == 0 and s["overlap"] == 0 and (s["correct"] == s["runs"] or not exact)
    return 0 if ok else 1


def _without_seeds(args: list[str]) -> list[str]:
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a == "--seeds":
            skip = True
            continue
        if a.startswith("--seeds="):
            continue
        out.append(a)
    return out


def _report_seed(res: SeedResult, seconds: float) -> None:
    outcomes = Counter(v.outcome for v in res.verdicts)
    print(f"seed {res.seed}: {len(res.verdicts)} runs, {dict(outcomes)}, faults {dict(sorted(res.faults.items()))}, "
          f"handler errors {dict(res.errors)}, overlaps {len(res.overlaps)} ({seconds:.0f}s)", file=sys.stderr)
    for v in res.verdicts:
        if v.outcome != "correct":
            print(f"  {v.outcome}: {v.dag_id} {v.run_id}: {v.detail}", file=sys.stderr)
    for key in res.overlaps:
        print(f"  overlap: {key}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())

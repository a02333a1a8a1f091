"""A discrete-event model of Stratus on AWS: recorded runs replayed against Lambda's and DynamoDB's limits.

The local cloud answers one call at a time and has no limits; AWS has both. This model takes
what the real engine asks of AWS (``bench.aws_trace``: every invocation of a run, its calls in
order, each DynamoDB item with its partition key and units, which Invoke or SQS message started
which invocation) and replays it on a model of AWS:

- **Lambda**: account concurrency; per-function scaling (new execution environments at a
  bounded rate); cold starts for new environments; async invocations wait in Lambda's queue
  while no environment is free; an Invoke call's own latency and the async queue's delay.
- **DynamoDB** (on demand): each partition key and each item is a token bucket refilled at
  1,000 write units and 3,000 read units per second; a transaction's items cost twice; a
  request over the bucket is throttled and retried by the SDK (standard mode: exponential
  back-off with full jitter, ``max_attempts`` as Stratus configures botocore); a call that
  stays throttled past its attempts fails its invocation, which the OnFailure destination
  brings to the conductor, and the task runs again (counted).
- **Task bodies** take ``body_ms``; every call takes its service's latency.

Every figure and its source is in ``bench/README.md`` ("AWS model"); ``Limits`` holds them.

Scenarios (``SCENARIOS``) are built from short recorded runs, widened to the target size:
``widen(trace, k)`` repeats the lanes of a mapped task ``k`` times (each repeat writes its own
task-instance items; the run item and partition key stay shared, as in one real run);
``Trace.rename`` gives each of many concurrent runs its own partition key.

The model is checked against what can be checked here (``check()``, run by ``--check`` and by
the tests): a recording widened to a size that is also recorded predicts that recording's call
counts, item writes and units.

Usage::

    python bench/aws_model.py                 # the scenario table (records its inputs first, a few minutes)
    python bench/aws_model.py --quick         # smaller scenarios
    python bench/aws_model.py --check         # widened recordings against direct recordings
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import statistics
import sys
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.aws_trace import Invocation, Item, Step, Trace, classify, subtrees  # noqa: E402


@dataclass(frozen=True)
class Limits:
    """AWS's published limits and the latencies the model assumes (sources in bench/README.md)."""

    partition_wcu: float = 1000.0         # write units per second per partition (and per item)
    partition_rcu: float = 3000.0         # read units per second per partition
    split_for_heat: bool = False          # True: a partition key's items spread over partitions (only items are limited)
    table_wcu: float = 40000.0            # on-demand per-table quota (default, per region)
    lambda_concurrency: int = 1000        # account concurrency (default quota)
    scale_per_10s: int = 1000             # new execution environments per function per 10 s
    cold_start_ms: float = 700.0          # init of a Python 3.12 arm64 function with the Stratus layer
    invoke_ms: float = 20.0               # the Invoke API call (InvocationType=Event)
    async_queue_ms: float = 50.0          # async queue to the start of the invocation (median assumed)
    sqs_ms: float = 30.0                  # SendMessage, and the poller's delivery to the conductor (each)
    ddb_ms: float = 6.0                   # one item read or write
    ddb_tx_ms: float = 14.0               # a transaction
    other_ms: float = 20.0                # S3 and other calls
    body_ms: float = 1000.0               # each task body
    max_attempts: int = 5                 # botocore standard retry mode, as orchestrator/config.py sets it
    backoff_cap_s: float = 20.0           # botocore's largest back-off
    onfailure_s: float = 2.0              # a failed invocation reaches the conductor and the task is re-sent
    lambda_timeout_s: float = 900.0       # the worker function's timeout (template.yaml WorkerTimeout)
    memory_mb: int = 128
    # The run table's index gsi1: None projects ALL attributes (every write to an indexed item writes
    # the index too); a tuple names the non-key attributes projected (INCLUDE): only a write that
    # sets one of them, or puts or deletes the item, writes the index.
    gsi_projection: tuple[str, ...] | None = None


def template_projection(path: Path = REPO / "template.yaml") -> tuple[str, ...] | None:
    """The projection of the run table's index as template.yaml declares it (None: ALL)."""
    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    doc = yaml.load(path.read_text(), Loader=_Loader)
    for res in (doc.get("Resources") or {}).values():
        if (res or {}).get("Type") == "AWS::DynamoDB::Table":
            for gsi in (res.get("Properties") or {}).get("GlobalSecondaryIndexes") or []:
                proj = gsi.get("Projection") or {}
                if proj.get("ProjectionType") == "ALL":
                    return None
                return tuple(proj.get("NonKeyAttributes") or ())
    return None


# Prices as bench/aws_calls.py states them (us-east-1 on-demand list prices).
def _prices() -> dict[str, float]:
    from bench.aws_calls import LAMBDA_MEMORY_MB, PRICES  # noqa: F401

    return PRICES


@dataclass
class Result:
    """What one simulated scenario gives."""

    name: str
    tasks: int
    makespan_s: float
    latency_ms: list[float]
    peak_pk_wcu: float
    peak_pk: str
    peak_item_wcu: float
    peak_item: str
    throttled: int
    failed_invocations: int
    invocations: int
    wru: float
    rru: float
    lambda_gb_s: float
    requests: Counter[str] = field(default_factory=Counter)
    over_timeout: int = 0
    peak_concurrency: int = 0

    def cost(self) -> float:
        p = _prices()
        return (self.invocations * p["lambda_request"] + self.lambda_gb_s * p["lambda_gb_s_arm64"]
                + self.wru * p["dynamodb_wru"] + self.rru * p["dynamodb_rru"]
                + self.requests["sqs"] * p["sqs_request"] + self.requests["s3_put"] * p["s3_put"]
                + self.requests["s3_get"] * p["s3_get"])

    def pct(self, q: float) -> float:
        if not self.latency_ms:
            return 0.0
        data = sorted(self.latency_ms)
        return data[min(len(data) - 1, int(q * len(data)))]


class _Bucket:
    """A token bucket refilled at ``rate`` per second, holding at most one second's worth."""

    __slots__ = ("rate", "level", "at")

    def __init__(self, rate: float) -> None:
        self.rate, self.level, self.at = rate, rate, 0.0

    def take(self, now: float, units: float) -> bool:
        self.level = min(self.rate, self.level + (now - self.at) * self.rate)
        self.at = now
        if units <= self.level:
            self.level -= units
            return True
        return False


class Simulator:
    """Replays traces on the model of AWS; ``run(traces)`` returns a ``Result``."""

    def __init__(self, limits: Limits, seed: int = 1) -> None:
        self.lim = limits
        self.rng = random.Random(seed)
        self.now = 0.0
        self.events: list[tuple[float, int, Callable[[], None]]] = []
        self.seq = 0
        self.buckets: dict[tuple[str, str], _Bucket] = {}
        self.table = _Bucket(limits.table_wcu)
        self.written: dict[str, Counter[int]] = defaultdict(Counter)  # pk -> second -> units
        self.item_written: dict[tuple[str, str], Counter[int]] = defaultdict(Counter)
        # Lambda
        self.busy = 0
        self.idle: dict[str, int] = defaultdict(int)  # function -> warm idle environments
        self.envs: dict[str, int] = defaultdict(int)
        self.scale_tokens: dict[str, _Bucket] = {}
        self.waiting: deque[tuple[str, Invocation, float, float]] = deque()  # (function, invocation, enqueued, ready mark)
        self.retry_pending = False
        self.peak_busy = 0
        # results
        self.throttled = 0
        self.failed = 0
        self.invocations = 0
        self.over_timeout = 0
        self.gb_s = 0.0
        self.wru = self.rru = 0.0
        self.requests: Counter[str] = Counter()
        self.latency: list[float] = []
        self.last_end = 0.0
        self.children: dict[str, Invocation] = {}

    # -- the event loop

    def at(self, when: float, fn: Callable[[], None]) -> None:
        self.seq += 1
        heapq.heappush(self.events, (when, self.seq, fn))

    def run(self, name: str, traces: Iterable[tuple[float, Trace]]) -> Result:
        traces = list(traces)
        roots: list[tuple[float, Invocation]] = []
        for start, trace in traces:
            linked = {s.invokes for inv in trace.invocations for s in inv.steps if s.invokes}
            for inv in trace.invocations:
                self.children[inv.digest] = inv
                if inv.digest not in linked:
                    roots.append((start, inv))
        for start, inv in roots:
            self.at(start, lambda inv=inv, start=start: self.enqueue(inv.function, inv, start))
        while self.events:
            when, _, fn = heapq.heappop(self.events)
            self.now = when
            fn()
        hot_pk, hot = _peak(self.written)
        hot_item, hot_i = _peak(self.item_written)
        tasks = sum(t.tasks() for _, t in traces)
        return Result(name, tasks, self.last_end, self.latency, hot, hot_pk, hot_i, "/".join(hot_item) if hot_item else "",
                      self.throttled, self.failed, self.invocations, self.wru, self.rru, self.gb_s, self.requests,
                      self.over_timeout, self.peak_busy)

    # -- Lambda

    def enqueue(self, function: str, inv: Invocation, ready_mark: float) -> None:
        self.waiting.append((function, inv, self.now, ready_mark))
        self._start_waiting()

    def _start_waiting(self) -> None:
        """Start waiting invocations, first come first served, while concurrency and the scaling rate allow."""
        while self.waiting and self.busy < self.lim.lambda_concurrency:
            function, inv, queued, mark = self.waiting[0]
            cold = 0.0
            if self.idle[function] > 0:
                self.idle[function] -= 1
            else:
                tokens = self.scale_tokens.setdefault(function, _Bucket(self.lim.scale_per_10s / 10.0))
                if self.envs[function] >= self.lim.scale_per_10s and not tokens.take(self.now, 1.0):
                    if not self.retry_pending:
                        self.retry_pending = True
                        self.at(self.now + 0.01, self._retry_waiting)  # the scaling rate refills
                    return
                self.envs[function] += 1
                cold = self.lim.cold_start_ms / 1000
            self.waiting.popleft()
            self.busy += 1
            self.peak_busy = max(self.peak_busy, self.busy)
            self.invocations += 1
            started = self.now
            self.at(self.now + cold, lambda f=function, i=inv, s=started, m=mark: self._step(f, i, 0, s, m, 1))

    def _retry_waiting(self) -> None:
        self.retry_pending = False
        self._start_waiting()

    def _end(self, function: str, started: float) -> None:
        self.busy -= 1
        self.idle[function] += 1
        took = self.now - started
        if took > self.lim.lambda_timeout_s:
            self.over_timeout += 1
        self.gb_s += (self.lim.memory_mb / 1024) * max(took, 0.001)
        self.last_end = max(self.last_end, self.now)
        if self.waiting:
            self._start_waiting()

    def _step(self, function: str, inv: Invocation, i: int, started: float, mark: float, attempt: int) -> None:
        if i >= len(inv.steps):
            self._end(function, started)
            return
        step = inv.steps[i]
        nxt = lambda delay: self.at(self.now + delay, lambda: self._step(function, inv, i + 1, started, mark, 1))  # noqa: E731
        if step.service == "body":
            self.latency.append((self.now - mark) * 1000)
            self.at(self.now + self.lim.body_ms / 1000,
                    lambda: self._step(function, inv, i + 1, started, self.now, 1))
            return
        if step.service == "dynamodb":
            ok = self._capacity(step)
            if not ok:
                self.throttled += 1
                if attempt >= self.lim.max_attempts:
                    # The invocation fails: OnFailure -> conductor -> the task is sent again, from the start.
                    self.failed += 1
                    self._end(function, started)
                    self.at(self.now + self.lim.onfailure_s, lambda: self.enqueue(function, inv, mark))
                    return
                back = min(self.lim.backoff_cap_s, self.rng.random() * 2 ** (attempt - 1))
                self.at(self.now + back, lambda: self._step(function, inv, i, started, mark, attempt + 1))
                return
            nxt((self.lim.ddb_tx_ms if step.transactional else self.lim.ddb_ms) / 1000)
            return
        if step.service == "lambda" and step.operation == "Invoke":
            self.requests["invoke"] += 1
            child = self.children.get(step.invokes)
            if child is not None:
                lag = (self.lim.invoke_ms + self.lim.async_queue_ms) / 1000
                after = mark if self._ran_body(inv, i) else self.now
                self.at(self.now + lag, lambda c=child, m=after: self.enqueue(c.function, c, m))
            nxt(self.lim.invoke_ms / 1000)
            return
        if step.service == "sqs":
            self.requests["sqs"] += 1
            child = self.children.get(step.invokes) if step.invokes else None
            if child is not None:
                after = mark if self._ran_body(inv, i) else self.now
                self.at(self.now + 2 * self.lim.sqs_ms / 1000, lambda c=child, m=after: self.enqueue(c.function, c, m))
            nxt(self.lim.sqs_ms / 1000)
            return
        if step.service == "s3":
            self.requests["s3_put" if step.operation.startswith(("Put", "Copy", "List", "Delete")) else "s3_get"] += 1
        nxt(self.lim.other_ms / 1000)

    @staticmethod
    def _ran_body(inv: Invocation, i: int) -> bool:
        return any(s.service == "body" for s in inv.steps[:i])

    # -- DynamoDB

    def _capacity(self, step: Step) -> bool:
        """Take the units of every item of the call, or none (a throttled request consumes nothing)."""
        need: dict[tuple[str, str], float] = defaultdict(float)
        index_writes: list[tuple[str, float]] = []
        for item in step.items:
            if item.wcu and item.gsi and self._writes_index(item):
                units = 1.0 if self.lim.gsi_projection is not None else float(max(1, math.ceil(item.size / 1024)))
                need[("w", "gsi:" + item.gsi)] += units
                index_writes.append(("gsi:" + item.gsi, units))
            if item.wcu:
                if not self.lim.split_for_heat:
                    need[("w", item.pk)] += item.wcu
                need[("wi", item.pk + "\0" + item.sk)] += item.wcu
            if item.rcu:
                if not self.lim.split_for_heat or not item.sk:
                    need[("r", item.pk)] += item.rcu
                if item.sk:
                    need[("ri", item.pk + "\0" + item.sk)] += item.rcu
        for key, units in need.items():
            rate = self.lim.partition_wcu if key[0] in ("w", "wi") else self.lim.partition_rcu
            bucket = self.buckets.get(key)
            if bucket is None:
                bucket = self.buckets[key] = _Bucket(rate)
            if not bucket.take(self.now, units):
                # Give back what this call already took: a throttled request is all or nothing.
                for back_key, back_units in need.items():
                    if back_key == key:
                        break
                    self.buckets[back_key].level += back_units
                return False
        second = int(self.now)
        for key, units in index_writes:
            self.wru += units
            self.written[key][second] += units
        for item in step.items:
            if item.wcu:
                self.wru += item.wcu
                self.written[item.pk][second] += item.wcu
                self.item_written[(item.pk, item.sk)][second] += item.wcu
            self.rru += item.rcu
        return True


    def _writes_index(self, item: Item) -> bool:
        proj = self.lim.gsi_projection
        if proj is None or item.action in ("Put", "Delete"):
            return True
        return bool(set(item.names) & {*proj, "gsi1pk", "gsi1sk"})


def _peak(series: dict[Any, Counter[int]]) -> tuple[Any, float]:
    best, best_v = None, 0.0
    for key, per_second in series.items():
        v = max(per_second.values(), default=0.0)
        if v > best_v:
            best, best_v = key, v
    return best, best_v


# ---------------------------------------------------------------- scaling recorded traces


def widen(trace: Trace, k: int, task: str) -> Trace:
    """The run with ``k`` times the lanes of mapped task ``task`` (same lane length).

    The invocation that queued the lane heads (one transaction, then one Invoke per head)
    repeats that pair ``k`` times; each repeat starts a copy of the head's lane whose
    task-instance items are its own (sort keys suffixed). Lanes that end by starting a
    downstream task start it in one copy only.
    """
    if k <= 1:
        return trace
    by_digest = {inv.digest: inv for inv in trace.invocations}
    out: list[Invocation] = []
    for inv in trace.invocations:
        heads = [n for n, s in enumerate(inv.steps) if s.invokes in by_digest
                 and by_digest[s.invokes].task.startswith(task + "[") and not inv.task.startswith(task + "[")]
        if not heads:
            out.append(inv)
            continue
        steps: list[Step] = []
        extra: list[Invocation] = []
        for n, step in enumerate(inv.steps):
            steps.append(step)
            if n not in heads:
                continue
            queue_step = _queueing_step(inv.steps, n)
            for copy in range(1, k):
                suffix = f"~{copy}"
                lane = _lane_copy(by_digest, by_digest[step.invokes], suffix, task)
                if queue_step is not None:
                    steps.append(_suffixed(queue_step, suffix, shared_run_item=True))
                steps.append(Step(step.service, step.operation, [], step.invokes + suffix, step.failed))
                extra += lane
        out.append(Invocation(inv.function, inv.digest, inv.task, steps))
        out += extra
    return Trace(trace.dag_id, out)


def _queueing_step(steps: list[Step], n: int) -> Step | None:
    for j in range(n - 1, -1, -1):
        if steps[j].service == "dynamodb":
            return steps[j]
        if steps[j].invokes:
            return None
    return None


def _suffixed(step: Step, suffix: str, *, shared_run_item: bool = True) -> Step:
    items = [i if (shared_run_item and i.sk in ("RUN", "")) else Item(i.action, i.pk, i.sk + suffix, i.wcu, i.rcu, i.size)
             for i in step.items]
    return Step(step.service, step.operation, items, step.invokes + suffix if step.invokes else "", step.failed)


def _lane_copy(by_digest: dict[str, Invocation], head: Invocation, suffix: str, task: str) -> list[Invocation]:
    """The lane starting at ``head``, copied: each member and the members it starts (not the downstream)."""
    out: list[Invocation] = []
    todo = [head]
    while todo:
        inv = todo.pop()
        steps = []
        for s in inv.steps:
            child = by_digest.get(s.invokes) if s.invokes else None
            if child is not None and not child.task.startswith(task + "["):
                continue  # the downstream task: started by the original lane only
            steps.append(_suffixed(s, suffix))
            if child is not None:
                todo.append(child)
        out.append(Invocation(inv.function, inv.digest + suffix, inv.task + suffix, steps))
    return out


def lengthen(trace: Trace, k: int, task: str | None, length: int | None = None) -> Trace:
    """The run with each lane of mapped task ``task`` ``k`` times as long (the same lanes).

    A lane is the chain of members each started by the one before (``task=None``: every
    invocation that runs a task, so a chain DAG is one lane). Its members between the head
    and the last one repeat ``k`` times, or cyclically up to ``length`` members in all (each
    repeat writes its own task-instance items), rewired so that each member starts the next;
    the head and the last member stay as they are.
    """
    if k <= 1 and length is None:
        return trace
    by_digest = {inv.digest: inv for inv in trace.invocations}
    member = (lambda inv: bool(inv.task)) if task is None else (lambda inv: inv.task.startswith(task + "["))  # noqa: E731
    started_by: dict[str, Invocation] = {}
    for inv in trace.invocations:
        for s in inv.steps:
            if s.invokes in by_digest:
                started_by[s.invokes] = inv
    heads = [inv for inv in trace.invocations if member(inv) and not member(started_by.get(inv.digest, Invocation("", "")))]
    replaced: dict[str, list[Invocation]] = {}
    for head in heads:
        lane = [head]
        while True:
            nxt = [by_digest[s.invokes] for s in lane[-1].steps if s.invokes in by_digest and member(by_digest[s.invokes])]
            if not nxt:
                break
            lane.append(nxt[0])
        if len(lane) < 3:
            continue
        middle = lane[1:-1]
        count = (length - 2) if length is not None else k * len(middle)
        copies = [_copy_member(middle[n % len(middle)], f"~l{n // len(middle)}" if n >= len(middle) else "")
                  for n in range(max(0, count))]
        chain = [lane[0], *copies, lane[-1]]
        rewired: list[Invocation] = []
        for pos, inv in enumerate(chain):
            if pos + 1 < len(chain):
                target = chain[pos + 1].digest
                steps = [Step(s.service, s.operation, s.items, target, s.failed)
                         if s.invokes in by_digest and member(by_digest[s.invokes]) else s for s in inv.steps]
                inv = Invocation(inv.function, inv.digest, inv.task, steps)
            rewired.append(inv)
        replaced[head.digest] = rewired
        for m in lane[1:]:
            replaced.setdefault(m.digest, [])
    out: list[Invocation] = []
    for inv in trace.invocations:
        out += replaced.get(inv.digest, [inv])
    return Trace(trace.dag_id, out)


def _copy_member(inv: Invocation, suffix: str) -> Invocation:
    if not suffix:
        return inv
    steps = [Step(s.service, s.operation,
                  [i if i.sk in ("RUN", "") else Item(i.action, i.pk, i.sk + suffix, i.wcu, i.rcu, i.size) for i in s.items],
                  s.invokes, s.failed) for s in inv.steps]
    return Invocation(inv.function, inv.digest + suffix, inv.task + suffix, steps)


def many_runs(trace: Trace, n: int) -> list[Trace]:
    """``n`` copies of one run, each with its own run partition key (concurrent runs of one DAG)."""
    return [trace.rename(f"~r{i}") for i in range(n)]


def arrivals(trace: Trace, total: int, seconds: float) -> list[tuple[float, Trace]]:
    """``total`` S3 objects arriving evenly over ``seconds``, from a recording of a few arrivals.

    Each recorded trigger invocation (with the run it started, if any) is one arrival; copies
    of the recording are renamed apart (their runs and events), the asset's items stay shared.
    """
    roots = subtrees(trace)
    out: list[tuple[float, Trace]] = []
    for n in range(total):
        copy, j = divmod(n, len(roots))
        piece = roots[j] if copy == 0 else roots[j].rename(f"~a{copy}")
        out.append((n * seconds / total, piece))
    return out


def signature(trace: Trace) -> dict[str, float]:
    """What the check compares: calls by operation, item writes by kind and action, units."""
    out: Counter[str] = Counter()
    for step in trace.all_steps():
        if step.service == "body":
            continue
        out[f"call {step.name}"] += 1
        for item in step.items:
            if item.wcu:
                out[f"write {classify(item.pk, item.sk)} {item.action}"] += 1
    wcu, rcu = trace.units()
    out["units WCU"] = round(wcu)
    out["units RCU"] = round(rcu)
    return dict(out)


# ---------------------------------------------------------------- the scenarios


def _record(spec: Any) -> Trace:
    """A recorded run of ``spec``."""
    from bench.aws_trace import record

    return _kept(spec.dag_id, ("engine", "store"), f"{spec.dag_id} on the local cloud", lambda: record(spec))


def _record_s3(objects: int) -> Trace:
    """A recording of ``objects`` S3 objects arriving under an asset's prefix."""
    from bench.aws_trace import record_s3_arrival

    return _kept(f"s3_arrival_{objects}", ("engine", "store", "triggers"),
                 f"{objects} S3 object arrivals on the local cloud", lambda: record_s3_arrival(objects))


def _kept(name: str, packages: tuple[str, ...], what: str, make: Callable[[], Trace]) -> Trace:
    """``make()``'s trace, kept in $STRATUS_MODEL_TRACES when set (keyed by ``name`` and the source of ``packages``)."""
    import json
    import os

    from bench.aws_trace import dumps

    keep = os.environ.get("STRATUS_MODEL_TRACES")
    path = Path(keep) / f"{name}-{_source_digest(packages)}.json" if keep else None
    if path is not None and path.exists():
        return Trace.from_json(json.loads(path.read_text()))
    print(f"  recording {what} ...", file=sys.stderr, flush=True)
    trace = make()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dumps(trace))
    return trace


def _source_digest(packages: tuple[str, ...]) -> str:
    """The digest of these packages' source: a kept recording is stale when one changes."""
    import hashlib

    h = hashlib.sha1()
    for sub in packages:
        for f in sorted((REPO / "orchestrator" / sub).glob("*.py")):
            h.update(f.read_bytes())
    return h.hexdigest()[:12]


@dataclass(frozen=True)
class Scenario:
    name: str
    build: Callable[[], list[tuple[float, Trace]]]
    limits: Limits = Limits()


def scenarios(quick: bool = False) -> list[Scenario]:
    """The issue's scenarios (``quick``: a tenth of the size, for smoke tests)."""
    from bench.dags import chain, diamond, fan_map

    scale = 10 if quick else 1
    cache: dict[str, Trace] = {}

    def rec(spec: Any) -> Trace:
        if spec.dag_id not in cache:
            cache[spec.dag_id] = _record(spec)
        return cache[spec.dag_id]

    def big_map(lanes: int) -> Callable[[], list[tuple[float, Trace]]]:
        n = 100_000 // scale
        lanes = max(1, lanes // scale) if lanes > 16 else lanes
        per_lane = n // lanes
        if per_lane > 100:
            # Long lanes: a 1,000-map's lanes made longer.
            recorded_per_lane = 1000 // lanes
            return lambda: [(0.0, lengthen(rec(fan_map(1000, max_active_tasks=lanes)), max(1, per_lane // recorded_per_lane), "work"))]
        # A recording with the same lane length (1,000 instances at most), its lanes widened to the target count.
        rec_lanes = max(1, min(lanes, 1000 // per_lane, 100))
        k = max(1, lanes // rec_lanes)
        return lambda: [(0.0, widen(rec(fan_map(per_lane * rec_lanes, max_active_tasks=rec_lanes)), k, "work"))]

    runs = 1000 // scale
    objects = 10_000 // scale
    s3: dict[str, Trace] = {}

    def s3_trace() -> Trace:
        if "t" not in s3:
            s3["t"] = _record_s3(20)
        return s3["t"]

    now = Limits(gsi_projection=template_projection())
    before = Limits(gsi_projection=None)
    heat = replace(now, split_for_heat=True)
    return [
        Scenario(f"{100_000 // scale:,}-map, max_active_tasks 16", big_map(16), now),
        Scenario(f"{100_000 // scale:,}-map, max_active_tasks {1000 // scale:,}", big_map(1000), now),
        Scenario("  the same, once DynamoDB has split the run's partition for heat", big_map(1000), heat),
        Scenario(f"{100_000 // scale:,}-map, max_active_tasks {10_000 // scale:,}", big_map(10_000), now),
        Scenario("  the same, once DynamoDB has split the run's partition for heat", big_map(10_000), heat),
        Scenario(f"{runs:,} concurrent runs of a 20-task DAG",
                 lambda: [(0.0, t) for t in many_runs(rec(diamond(18)), runs)], now),
        Scenario("  the same with the index projecting ALL (before this change)",
                 lambda: [(0.0, t) for t in many_runs(rec(diamond(18)), runs)], before),
        # A 100-chain's middle steps repeated up to 1,000 steps (one recording of 100 steps).
        Scenario(f"{1000 // scale:,}-step chain",
                 lambda: [(0.0, lengthen(rec(chain(100)), 1, None, length=1000 // scale))], now),
        Scenario(f"{objects:,} S3 objects arriving in a minute", lambda: arrivals(s3_trace(), objects, 60.0), now),
    ]


def simulate(s: Scenario, seed: int = 1) -> Result:
    return Simulator(s.limits, seed).run(s.name, s.build())


def table(results: list[Result]) -> str:
    from bench.table import render

    rows = []
    for r in results:
        rows.append([r.name, f"{r.tasks:,}", f"{r.makespan_s:,.1f} s", f"{r.pct(0.5):,.0f} / {r.pct(0.99):,.0f} ms",
                     f"{r.peak_pk_wcu:,.0f}", f"{r.peak_item_wcu:,.0f}", f"{r.throttled:,}", f"{r.failed_invocations:,}",
                     f"{r.peak_concurrency:,}", f"${r.cost():,.2f}"])
    return render("Stratus on AWS, modelled (bench/aws_model.py)", ["scenario", "tasks", "makespan", "orchestration latency p50 / p99", "peak WCU/s hottest partition key",
                   "peak WCU/s hottest item", "throttled requests", "failed invocations", "peak concurrency", "cost"], rows,
                  notes=[f"{r.name.strip()}: hottest partition key {_key_kind(r.peak_pk)}, hottest item "
                         f"{_key_kind(*r.peak_item.split('/', 1)) if r.peak_item else '-'}" for r in results])


def _key_kind(pk: str, sk: str | None = None) -> str:
    """A key named by kind (the run's partition, the DAG's index partition, an asset's item, ...)."""
    if pk.startswith("gsi:"):
        return "index partition " + pk[4:].split("#", 1)[0] + "#<dag>"
    if sk is None:
        return {"RUN": "a run's partition", "DAG": "a DAG's partition", "ASSET": "an asset's partition"}.get(
            pk.split("#", 1)[0], pk.split("#", 1)[0])
    return classify(pk, sk)


def check(small: tuple[int, int] = (100, 10), big: tuple[int, int] = (200, 20)) -> list[tuple[str, float, float]]:
    """A recording widened to another size against a recording of that size: ``(what, predicted, measured)``.

    ``small`` and ``big`` are ``(instances, max_active_tasks)`` of two maps with the same lane
    length; the small one's lanes are widened ``big/small`` times. Rows cover calls by
    operation, item writes by kind and action, and request units.
    """
    from bench.dags import fan_map

    if small[0] // small[1] != big[0] // big[1] or big[1] % small[1]:
        raise ValueError(f"check needs the same lane length and a whole widening factor, got {small} and {big}")
    pred = signature(widen(_record(fan_map(*small)), big[1] // small[1], "work"))
    meas = signature(_record(fan_map(*big)))
    return [(key, pred.get(key, 0), meas.get(key, 0)) for key in sorted(set(pred) | set(meas))]


def check_table(rows: list[tuple[str, float, float]], small: tuple[int, int], big: tuple[int, int]) -> str:
    from bench.table import render

    return render(
        f"Model check: a {small[0]:,}-map ({small[1]} lanes) widened to {big[1]} lanes, against a {big[0]:,}-map recorded",
        ["what", "predicted", "measured", "difference"],
        [[k, f"{p:,.0f}", f"{m:,.0f}", f"{(p - m) / m:+.1%}" if m else "-"] for k, p, m in rows],
        notes=["Differences come from what varies between two recordings of one DAG: which lane ends last "
               "(it writes the map's counts and starts the downstream task) and the lanes' steal queries."])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of each scenario's size")
    parser.add_argument("--check", action="store_true", help="compare a widened recording with a direct one")
    parser.add_argument("--body-ms", type=float, default=Limits.body_ms)
    parser.add_argument("--split-for-heat", action="store_true",
                        help="assume DynamoDB has spread each hot partition key's items (only items limited)")
    args = parser.parse_args(argv)
    if args.check:
        small, big = ((20, 2), (40, 4)) if args.quick else ((100, 10), (200, 20))
        print(check_table(check(small, big), small, big))
        return 0
    results = []
    for s in scenarios(args.quick):
        lim = replace(s.limits, body_ms=args.body_ms, split_for_heat=args.split_for_heat or s.limits.split_for_heat)
        results.append(Simulator(lim).run(s.name, s.build()))
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Record what a run asks of AWS, invocation by invocation, for ``bench/aws_model.py`` to replay.

A trace is the list of handler invocations one run caused on the local cloud (moto, the SAM
template deployed, the real handlers run on invoke), each with its AWS calls in order:

- a DynamoDB call lists every item it touched: the action (``Put``, ``Update``, ``Delete``,
  ``ConditionCheck``, ``Get``, ``Query``), the partition key, the sort key and the request
  units AWS would bill for that item (``bench.awscount``: item sizes, transactions doubled);
- a ``lambda:Invoke`` names the invocation it started (the payload's digest links the two),
  so the model knows which invocation waits for which;
- the task body is a step of its own (``body``), where the model puts the task's duration.

Keys are kept symbolic enough to be re-used at another scale: ``classify`` names the
item kinds (the run item, a task instance, a lane marker, ...), and ``Trace.rename`` gives a
copy whose run partition keys are those of another run (1,000 concurrent runs are one trace
renamed 1,000 times).

Example::

    trace = record(fan_map(200, max_active_tasks=20))
    trace.counts()      # Counter of (service, operation) - what bench/aws_calls.py counts too
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Iterator

from bench.awscount import Call, CallRecorder, _read_units, _write_units, item_size
from bench.dags import BenchDag

EMULATION_SERVICES = {"logs"}  # the Lambda runtime writes logs on AWS; not a call of ours


@dataclass(frozen=True)
class Item:
    """One DynamoDB item one call touched, with the units AWS bills for it."""

    action: str  # Put | Update | Delete | ConditionCheck | Get | Query
    pk: str
    sk: str
    wcu: float = 0.0
    rcu: float = 0.0
    size: int = 0  # bytes after the call (reads: bytes returned)
    names: tuple[str, ...] = ()  # writes: the attributes set or removed (a Put: all of them)
    gsi: str = ""  # writes: the item's gsi1pk after the call (the index partition it is written to)


@dataclass
class Step:
    """One step of an invocation: an AWS call, or the task body (``service == "body"``)."""

    service: str
    operation: str
    items: list[Item] = field(default_factory=list)
    invokes: str = ""  # for lambda:Invoke: the digest of the invocation it starts
    failed: str = ""   # the error code when the call failed (a lost race, a throttle)

    @property
    def name(self) -> str:
        return f"{self.service}:{self.operation}"

    @property
    def transactional(self) -> bool:
        return self.operation in ("TransactWriteItems", "TransactGetItems")


@dataclass
class Invocation:
    """One handler invocation: the function, what started it, the task it ran, its steps."""

    function: str
    digest: str
    task: str = ""  # task_id[map_index] of the body it ran ("" when it ran none)
    steps: list[Step] = field(default_factory=list)


@dataclass
class Trace:
    """Every invocation of one recorded run, in start order."""

    dag_id: str
    invocations: list[Invocation]  # the first, ``trigger``, holds the calls that started the run

    def counts(self) -> Counter[str]:
        """Calls by ``service:operation`` (task bodies left out), as ``bench/aws_calls.py`` counts them."""
        out: Counter[str] = Counter()
        for step in self.all_steps():
            if step.service != "body":
                out[step.name] += 1
        return out

    def all_steps(self) -> Iterator[Step]:
        for inv in self.invocations:
            yield from inv.steps

    def item_writes(self) -> int:
        return sum(len(s.items) for s in self.all_steps() if s.service == "dynamodb" and any(i.wcu for i in s.items))

    def units(self) -> tuple[float, float]:
        w = r = 0.0
        for s in self.all_steps():
            for i in s.items:
                w, r = w + i.wcu, r + i.rcu
        return w, r

    def tasks(self) -> int:
        return sum(1 for inv in self.invocations if inv.task)

    def rename(self, suffix: str) -> Trace:
        """The same trace for another run: every run partition key, event sort key and digest gets ``suffix``.

        Items every run shares (a DAG's registry item and run slots, an asset's waiting state,
        an asset's partition) keep their keys, so copies compete for them as real runs do.
        """
        def step(s: Step) -> Step:
            items = [replace(i, pk=_renamed(i.pk, suffix), sk=i.sk + suffix if i.sk.startswith(_OWN_SK) else i.sk)
                     for i in s.items]
            return Step(s.service, s.operation, items, s.invokes + suffix if s.invokes else "", s.failed)

        invs = [Invocation(i.function, i.digest + suffix, i.task, [step(s) for s in i.steps]) for i in self.invocations]
        return Trace(self.dag_id, invs)

    def to_json(self) -> dict[str, Any]:
        def step(s: Step) -> dict[str, Any]:
            return {"svc": s.service, "op": s.operation, "inv": s.invokes, "err": s.failed,
                    "items": [[i.action, i.pk, i.sk, i.wcu, i.rcu, i.size, list(i.names), i.gsi] for i in s.items]}

        return {"dag_id": self.dag_id, "invocations": [{"fn": i.function, "digest": i.digest, "task": i.task,
                                 "steps": [step(s) for s in i.steps]} for i in self.invocations]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Trace:
        def step(d: dict[str, Any]) -> Step:
            return Step(d["svc"], d["op"], [Item(*row[:6], tuple(row[6]), row[7]) for row in d["items"]],
                        d.get("inv", ""), d.get("err", ""))

        return cls(data["dag_id"],
                   [Invocation(i["fn"], i["digest"], i["task"], [step(s) for s in i["steps"]]) for i in data["invocations"]])


def classify(pk: str, sk: str) -> str:
    """The kind of a stored item, from its key: ``run``, ``ti``, ``marker``, ``asset``, ... (for the tables)."""
    head = pk.split("#", 1)[0].lower()
    if head == "run":
        if sk == "RUN":
            return "run item"
        return {"TI": "task instance", "SCHED": "lane/slot marker", "XCOM": "xcom"}.get(sk.split("#", 1)[0], "run:" + sk.split("#", 1)[0].lower())
    return f"{head}:{sk.split('#', 1)[0].lower()}"


_OWN_SK = ("EVT#", "QRUN#", "ACTIVE#")  # sort keys one run (or one event) owns under a shared partition key


def subtrees(trace: Trace) -> list[Trace]:
    """One trace per root invocation (one started by no Invoke or message of the trace), with what it started."""
    by_digest = {inv.digest: inv for inv in trace.invocations}
    linked = {s.invokes for inv in trace.invocations for s in inv.steps if s.invokes}
    out = []
    for root in (inv for inv in trace.invocations if inv.digest not in linked):
        members, todo, seen = [], [root], set()
        while todo:
            inv = todo.pop(0)
            if inv.digest in seen:
                continue
            seen.add(inv.digest)
            members.append(inv)
            todo += [by_digest[s.invokes] for s in inv.steps if s.invokes in by_digest]
        out.append(Trace(trace.dag_id, members))
    return out


def _renamed(pk: str, suffix: str) -> str:
    return pk + suffix if pk.startswith(("RUN#", "RUNID#")) else pk


def digest(payload: Any) -> str:
    """The link between a ``lambda:Invoke`` and the invocation it starts: the payload's digest."""
    raw = payload if isinstance(payload, bytes) else str(payload).encode("utf-8")
    return hashlib.sha1(raw).hexdigest()[:16]


class TraceRecorder(CallRecorder):
    """A ``CallRecorder`` that keeps each DynamoDB item a call touched and each Invoke's target."""

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[int, list[Item]] = {}
        self.links: dict[int, str] = {}
        self.current = threading.local()

    def _before_call(self, params: dict[str, Any] | None = None, **kw: Any) -> None:
        call: Call | None = getattr(self._local, "call", None)
        if call is not None and params is not None:
            if call.service == "lambda" and call.operation == "Invoke":
                self.links[call.seq] = digest(params.get("body") or b"")
            elif call.service == "sqs" and call.operation == "SendMessage":
                self.links[call.seq] = _sqs_digest(params.get("body"))
        super()._before_call(params=params, **kw)

    def _account(self, call: Call) -> None:
        super()._account(call)
        if call.service != "dynamodb" or call.request is None:
            return
        self.items[call.seq] = list(_items_of(call))


def _items_of(call: Call) -> Iterator[Item]:
    req, resp, op = call.request or {}, call.response or {}, call.operation
    table = req.get("TableName", "")
    factor = 2.0 if op == "TransactWriteItems" else 1.0
    if op in ("PutItem", "UpdateItem", "DeleteItem"):
        bodies = [(op[:-4], req)]
    elif op == "TransactWriteItems":
        bodies = [next(iter(a.items())) for a in req.get("TransactItems") or []]
    else:
        bodies = []
    for n, (kind, body) in enumerate(bodies):
        key = (body.get("Item") if kind == "Put" else body.get("Key")) or {}
        before = call.before_sizes[n] if n < len(call.before_sizes) else 0
        stored = _stored_item(body.get("TableName", table), _pk_sk(key), call.label)
        after = 0 if stored is None else int(stored.size())
        if kind == "Put":
            after = max(after, item_size(body.get("Item")))
        gsi = ""
        if stored is not None and "gsi1pk" in stored.attrs:
            gsi = str(stored.attrs["gsi1pk"].value)
        yield Item(kind, _s(key, "pk"), _s(key, "sk"), factor * _write_units(before, after), 0.0, after,
                   _written_names(kind, body), gsi)
    if op == "GetItem":
        size = item_size(resp.get("Item"))
        key = req.get("Key") or {}
        yield Item("Get", _s(key, "pk"), _s(key, "sk"), 0.0, _read_units(size, bool(req.get("ConsistentRead"))), size)
    elif op in ("Query", "Scan"):
        found = resp.get("Items") or []
        size = sum(item_size(i) for i in found)
        pk = ""
        for v in (req.get("ExpressionAttributeValues") or {}).values():
            if "S" in v:
                pk = v["S"]
                break
        yield Item(op, pk, "", 0.0, _read_units(size, bool(req.get("ConsistentRead"))), size)
    elif op == "BatchGetItem":
        for items in (resp.get("Responses") or {}).values():
            for it in items:
                yield Item("Get", _s(it, "pk"), _s(it, "sk"), 0.0, _read_units(item_size(it), False), item_size(it))
    elif op == "BatchWriteItem":
        for reqs in (req.get("RequestItems") or {}).values():
            for r in reqs:
                body = r.get("PutRequest", {}).get("Item") or r.get("DeleteRequest", {}).get("Key") or {}
                yield Item("Put" if "PutRequest" in r else "Delete", _s(body, "pk"), _s(body, "sk"),
                           _write_units(0, item_size(body)), 0.0, item_size(body))


def _sqs_digest(body: Any) -> str:
    """The digest of an SQS message body, from the query- or JSON-protocol request body."""
    from urllib.parse import parse_qs

    raw = body.decode("utf-8") if isinstance(body, bytes) else str(body or "")
    try:
        text = json.loads(raw).get("MessageBody", "")
    except ValueError:
        text = (parse_qs(raw).get("MessageBody") or [""])[0]
    return digest(text)


def _payload_digest(payload: str) -> str:
    """An invocation's link: its payload's digest, or its first SQS record's body's (an event source mapping)."""
    try:
        event = json.loads(payload)
    except ValueError:
        return digest(payload)
    records = event.get("Records") if isinstance(event, dict) else None
    if isinstance(records, list) and records and isinstance(records[0], dict) and "body" in records[0]:
        return digest(records[0]["body"])
    return digest(payload)


def _stored_item(table: str, key: dict[str, Any], region: str) -> Any:
    """The item as moto stores it now (None when absent)."""
    try:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        return dynamodb_backends[DEFAULT_ACCOUNT_ID][region].get_item(table, key)
    except Exception:  # noqa: BLE001 - a benchmark estimate, never an error
        return None


def _written_names(kind: str, body: dict[str, Any]) -> tuple[str, ...]:
    """The attributes a write sets or removes (a Put: all; a Delete and a ConditionCheck: none)."""
    import re

    if kind == "Put":
        return tuple(sorted((body.get("Item") or {}).keys()))
    if kind != "Update":
        return ()
    names = body.get("ExpressionAttributeNames") or {}
    expr = body.get("UpdateExpression") or ""
    out = set()
    for clause in re.split(r"\b(?:SET|REMOVE|ADD|DELETE)\b", expr, flags=re.IGNORECASE):
        for part in clause.split(","):
            target = part.split("=")[0].strip().split(" ")[0].strip()
            if not target:
                continue
            head = re.split(r"[.\[]", target)[0]
            out.add(names.get(head, head))
    return tuple(sorted(n for n in out if n))


def _pk_sk(key: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in key.items() if k in ("pk", "sk")}


def _s(key: dict[str, Any], name: str) -> str:
    value = key.get(name) or {}
    return str(value.get("S", "")) if isinstance(value, dict) else ""


@contextlib.contextmanager
def _invocation_links(recorder: TraceRecorder) -> Iterator[None]:
    """Mark every handler run with the digest of its payload (the Invoke that started it names it too)."""
    from orchestrator.local.functions import FunctionHost

    original = FunctionHost.run

    def run(self: Any, name: str, payload: str) -> Any:
        recorder.mark("invocation_start", f"{name} {_payload_digest(payload)}")
        try:
            return original(self, name, payload)
        finally:
            recorder.mark("invocation_end", name)

    FunctionHost.run = run  # type: ignore[method-assign]
    try:
        yield
    finally:
        FunctionHost.run = original  # type: ignore[method-assign]


def build(dag_id: str, calls: list[Call], recorder: TraceRecorder) -> Trace:
    """Group a recorder's timeline into invocations (by thread, between invocation markers)."""
    open_inv: dict[int, Invocation] = {}
    depth: Counter[int] = Counter()  # bench.harness.operator_markers marks each invocation too, inside ours
    invocations: list[Invocation] = []
    outside: list[Step] = []
    for c in calls:
        if c.service == "mark":
            if c.operation == "invocation_start":
                depth[c.thread] += 1
                if depth[c.thread] == 1:
                    name, _, dig = c.label.partition(" ")
                    inv = Invocation(name, dig)
                    open_inv[c.thread] = inv
                    invocations.append(inv)
            elif c.operation == "invocation_end":
                depth[c.thread] -= 1
                if depth[c.thread] <= 0:
                    depth[c.thread] = 0
                    open_inv.pop(c.thread, None)
            elif c.operation == "task_start" and c.thread in open_inv:
                open_inv[c.thread].task = c.label
                open_inv[c.thread].steps.append(Step("body", c.label))
            continue
        if c.service in EMULATION_SERVICES:
            continue
        step = Step(c.service, c.operation, recorder.items.get(c.seq, []), recorder.links.get(c.seq, ""), c.error)
        (open_inv[c.thread].steps if c.thread in open_inv else outside).append(step)
    if outside:
        # What the trigger function (or the API) does on AWS to start the run: an invocation of its own.
        invocations.insert(0, Invocation("trigger", "start", "", outside))
    return Trace(dag_id, invocations)


def record(spec: BenchDag, timeout_s: float = 1800.0) -> Trace:
    """Run ``spec``'s DAG once on the local cloud and return its trace."""
    from bench.harness import bench_cloud, operator_markers, run_and_wait
    from orchestrator.local.speedups.moto_patches import fast_moto

    fast_moto()
    with bench_cloud([spec]) as cloud, TraceRecorder() as recorder, operator_markers(recorder), \
            _invocation_links(recorder):
        cloud.wait_idle(timeout_s)
        run = run_and_wait(cloud, spec, timeout_s, recorder=recorder)
        if run.state != "success":
            raise RuntimeError(f"recording {spec.dag_id}: the run ended {run.state!r}, not success")
        return build(spec.dag_id, recorder.snapshot(), recorder)


def dumps(trace: Trace) -> str:
    return json.dumps(trace.to_json())


ASSET_DAG = '''\
"""Benchmark DAG bench_s3_arrival (generated by bench/aws_trace.py): one task per object arrival."""
from datetime import datetime, timezone

from orchestrator import Asset, dag, task


@dag(dag_id="bench_s3_arrival", schedule=[Asset("s3://{bucket}/in/")],
     start_date=datetime(2026, 1, 1, tzinfo=timezone.utc), catchup=False, tags=["bench"])
def bench_s3_arrival():
    @task
    def load(triggering_asset_events=None):
        return None

    load()


bench_s3_arrival()
'''


def record_s3_arrival(objects: int = 1, timeout_s: float = 600.0) -> Trace:
    """Put ``objects`` objects under an asset's prefix on the local cloud; the trace of what follows.

    The S3 -> EventBridge -> trigger function path runs as deployed; each trigger invocation is
    a root of the trace (started by S3, not by an Invoke of ours).
    """
    import tempfile
    from pathlib import Path

    from bench.harness import operator_markers
    from orchestrator.local.cloud import LocalCloud
    from orchestrator.local.speedups.moto_patches import fast_moto

    fast_moto()
    with tempfile.TemporaryDirectory(prefix="stratus-bench-s3-") as root:
        with LocalCloud(root) as cloud:
            bucket = cloud.resources.landing_bucket
            (Path(root) / "bench_s3_arrival.py").write_text(ASSET_DAG.format(bucket=bucket))
            cloud.sync_dag("bench_s3_arrival")
            cloud.wait_idle(timeout_s)
            with TraceRecorder() as recorder, operator_markers(recorder), _invocation_links(recorder):
                s3 = cloud.clients.client("s3")
                for n in range(objects):
                    s3.put_object(Bucket=bucket, Key=f"in/{n:05d}.csv", Body=b"a,b\n1,2\n")
                cloud.wait_idle(timeout_s)
                calls = [c for c in recorder.snapshot() if not (c.service == "s3" and c.operation == "PutObject"
                                                                 and "bench/aws_trace.py" not in c.site and not c.site)]
                return build("bench_s3_arrival", calls, recorder)

"""Count every AWS API call made in this process, with DynamoDB capacity units, in time order.

``CallRecorder`` wraps ``botocore.client.BaseClient._make_api_call`` (so it sees the calls of
every client, whichever session created it: the handlers', the local cloud's, the CLI's) and
registers botocore ``before-call``/``after-call`` hooks on each client it meets to read the wire
request and response. For DynamoDB it computes the request units AWS would bill, from item
sizes (moto returns a fixed ``ConsumedCapacity``, so its figure is not used):

- write: ``ceil(max(size before, size after) / 1 KB)`` units per item, at least 1; a
  ``TransactWriteItems`` action costs twice that (``ConditionCheck`` included);
- read: ``ceil(size / 4 KB)`` per strongly consistent read, half for an eventually
  consistent one, twice for ``TransactGetItems``; ``Query``/``Scan`` size the items returned
  together; a ``GetItem`` that finds nothing still costs one unit (half if eventual).

The item size before/after a write is read from moto's DynamoDB backend by key. Markers
(``recorder.mark("task_start", "t0001")``) go into the same timeline, so the calls between
one task's end and the next task's start can be listed.

Example::

    with CallRecorder() as rec:
        ...  # run something
    rec.summary()            # Counter of (service, operation)
"""

from __future__ import annotations

import itertools
import json
import math
import sys
import threading
import time
import weakref
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator

import botocore.client

from orchestrator.local import ddblimits

_WRITE_OPS = {"PutItem", "UpdateItem", "DeleteItem"}
_READ_OPS = {"GetItem", "Query", "Scan"}


@dataclass
class Call:
    """One AWS API call (or a marker when ``service == "mark"``)."""

    seq: int
    service: str
    operation: str
    thread: int
    start: float
    end: float = 0.0
    error: str = ""
    item_writes: int = 0
    item_reads: int = 0
    wcu: float = 0.0
    rcu: float = 0.0
    label: str = ""
    site: str = ""
    request: dict[str, Any] | None = field(default=None, repr=False)
    response: dict[str, Any] | None = field(default=None, repr=False)
    before_sizes: list[int] = field(default_factory=list, repr=False)

    @property
    def name(self) -> str:
        return f"{self.service}:{self.operation}"


# ---------------------------------------------------------------- DynamoDB item sizes


def item_size(item: dict[str, Any] | None) -> int:
    """Bytes of a whole item in wire form (attribute names + values), as the local cloud's limits count them."""
    return ddblimits.item_size(item) if item else 0


def _stored_item_size(table: str, key: dict[str, Any], region: str) -> int:
    """Size of the item as moto stores it right now (0 when absent or when not on moto)."""
    try:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][region]
        found = backend.get_item(table, key)
        return 0 if found is None else int(found.size())
    except Exception:  # noqa: BLE001 - a benchmark estimate, never an error
        return 0


def _write_units(before: int, after: int) -> float:
    return float(max(1, math.ceil(max(before, after) / 1024)))


def _read_units(size: int, consistent: bool) -> float:
    units = float(max(1, math.ceil(size / 4096)))
    return units if consistent else units / 2


# ---------------------------------------------------------------- the recorder


class CallRecorder:
    """Records AWS API calls process-wide while installed (a context manager; re-entrant use is refused)."""

    _active: CallRecorder | None = None

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._hooked: weakref.WeakSet[Any] = weakref.WeakSet()
        self._original: Any = None
        self.enabled = True

    # -- install / uninstall

    def __enter__(self) -> CallRecorder:
        self.install()
        return self

    def __exit__(self, *exc: object) -> None:
        self.uninstall()

    def install(self) -> None:
        if CallRecorder._active is not None:
            raise RuntimeError("a CallRecorder is already installed in this process")
        CallRecorder._active = self
        self._original = botocore.client.BaseClient._make_api_call
        recorder = self
        original = self._original

        def _make_api_call(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            if not recorder.enabled:
                return original(client, operation_name, api_params)
            recorder._hook(client)
            service = client.meta.service_model.service_name
            call = Call(next(recorder._seq), service, operation_name, threading.get_ident(), time.perf_counter())
            call.label = str(getattr(client.meta, "region_name", "") or "us-east-1")
            call.site = _call_site()
            outer = getattr(recorder._local, "call", None)
            recorder._local.call = call
            try:
                return original(client, operation_name, api_params)
            except Exception as exc:
                call.error = type(exc).__name__
                code = getattr(exc, "response", {}).get("Error", {}).get("Code") if hasattr(exc, "response") else None
                if code:
                    call.error = str(code)
                raise
            finally:
                call.end = time.perf_counter()
                recorder._local.call = outer
                try:
                    recorder._account(call)
                except Exception:  # noqa: BLE001 - accounting must never break the run
                    pass
                call.request = call.response = None
                with recorder._lock:
                    recorder.calls.append(call)

        botocore.client.BaseClient._make_api_call = _make_api_call  # type: ignore[method-assign]

    def uninstall(self) -> None:
        if self._original is not None:
            botocore.client.BaseClient._make_api_call = self._original  # type: ignore[method-assign]
            self._original = None
        if CallRecorder._active is self:
            CallRecorder._active = None

    def _hook(self, client: Any) -> None:
        if client in self._hooked:
            return
        with self._lock:
            if client in self._hooked:
                return
            client.meta.events.register("before-call", self._before_call, unique_id="stratus-bench-before")
            client.meta.events.register("after-call", self._after_call, unique_id="stratus-bench-after")
            self._hooked.add(client)

    def _before_call(self, params: dict[str, Any] | None = None, **_: Any) -> None:
        call: Call | None = getattr(self._local, "call", None)
        if call is None or call.service != "dynamodb" or params is None:
            return
        try:
            body = params.get("body") or b"{}"
            request = json.loads(body if isinstance(body, (str, bytes)) else b"{}")
        except ValueError:
            return
        call.request = request
        call.before_sizes = [_stored_item_size(t, k, call.label) for t, k in _write_keys(call.operation, request)]

    def _after_call(self, http_response: Any = None, **_: Any) -> None:
        call: Call | None = getattr(self._local, "call", None)
        if call is None or call.service != "dynamodb" or http_response is None:
            return
        try:
            call.response = json.loads(http_response.content or b"{}")
        except (ValueError, AttributeError):
            call.response = {}

    # -- accounting

    def _account(self, call: Call) -> None:
        if call.service != "dynamodb" or call.request is None:
            return
        req, resp = call.request, call.response or {}
        op = call.operation
        failed = bool(call.error)
        if op in _WRITE_OPS or op in ("TransactWriteItems", "BatchWriteItem"):
            keys = _write_keys(op, req)
            factor = 2.0 if op == "TransactWriteItems" else 1.0
            if op == "TransactWriteItems" and failed:
                # A cancelled transaction still consumes capacity for every action.
                pass
            for (table, key), before in zip(keys, call.before_sizes or [0] * len(keys)):
                after = _stored_item_size(table, key, call.label)
                if op == "PutItem":
                    after = max(after, item_size(req.get("Item")))
                call.wcu += factor * _write_units(before, after)
            call.item_writes = len(keys)
        elif op in _READ_OPS:
            consistent = bool(req.get("ConsistentRead"))
            if op == "GetItem":
                size = item_size(resp.get("Item"))
                call.item_reads = 1
            else:
                items = resp.get("Items") or []
                size = sum(item_size(i) for i in items)
                call.item_reads = len(items)
            call.rcu += _read_units(size, consistent)
        elif op == "BatchGetItem":
            for items in (resp.get("Responses") or {}).values():
                for it in items:
                    call.rcu += _read_units(item_size(it), False)
                    call.item_reads += 1
        elif op == "TransactGetItems":
            for entry in resp.get("Responses") or []:
                call.rcu += 2 * _read_units(item_size(entry.get("Item")), True)
                call.item_reads += 1

    # -- markers and views

    def mark(self, kind: str, label: str = "") -> None:
        """Put a marker (for example ``task_start``/``task_end`` with the task id) into the timeline."""
        if not self.enabled:
            return
        now = time.perf_counter()
        call = Call(next(self._seq), "mark", kind, threading.get_ident(), now, now, label=label)
        with self._lock:
            self.calls.append(call)

    def synthetic(self, service: str, operation: str) -> None:
        """Record a call that would be made on AWS but is short-circuited here (the engine-only backend's Invoke)."""
        if not self.enabled:
            return
        now = time.perf_counter()
        call = Call(next(self._seq), service, operation, threading.get_ident(), now, now, label="synthetic")
        with self._lock:
            self.calls.append(call)

    def snapshot(self) -> list[Call]:
        """All calls and markers so far, in start order."""
        with self._lock:
            return sorted(self.calls, key=lambda c: (c.start, c.seq))

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()

    def api_calls(self) -> list[Call]:
        return [c for c in self.snapshot() if c.service != "mark"]

    def summary(self) -> Counter[str]:
        return Counter(c.name for c in self.api_calls())


_SITE_MARKERS = ("/orchestrator/", "/functions/")
_SITE_SKIP = ("/orchestrator/store/base.py", "/orchestrator/store/dynamo.py")  # generic wrappers: say nothing


def _call_site(depth: int = 3) -> str:
    """The innermost ``depth`` frames of Stratus code that led to this call, innermost first."""
    frame = sys._getframe(2)
    out: list[str] = []
    while frame is not None and len(out) < depth:
        path = frame.f_code.co_filename.replace("\\", "/")
        for marker in _SITE_MARKERS if not path.endswith(_SITE_SKIP) else ():
            if marker in path:
                short = marker.strip("/") + "/" + path.split(marker, 1)[1]
                out.append(f"{short}:{frame.f_lineno} {frame.f_code.co_name}")
                break
        frame = frame.f_back  # type: ignore[assignment]
    return " <- ".join(out)


def _write_keys(op: str, request: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(table, key) of every item a DynamoDB write request touches."""
    table = request.get("TableName", "")
    if op == "PutItem":
        item = request.get("Item") or {}
        return [(table, {k: v for k, v in item.items() if k in ("pk", "sk")} or item)]
    if op in ("UpdateItem", "DeleteItem"):
        return [(table, request.get("Key") or {})]
    if op == "TransactWriteItems":
        out = []
        for action in request.get("TransactItems") or []:
            (kind, body), = action.items()
            if kind == "Put":
                item = body.get("Item") or {}
                out.append((body.get("TableName", ""), {k: v for k, v in item.items() if k in ("pk", "sk")}))
            else:
                out.append((body.get("TableName", ""), body.get("Key") or {}))
        return out
    if op == "BatchWriteItem":
        out = []
        for tname, reqs in (request.get("RequestItems") or {}).items():
            for r in reqs:
                if "PutRequest" in r:
                    item = r["PutRequest"].get("Item") or {}
                    out.append((tname, {k: v for k, v in item.items() if k in ("pk", "sk")}))
                elif "DeleteRequest" in r:
                    out.append((tname, r["DeleteRequest"].get("Key") or {}))
        return out
    return []


def iter_between(calls: list[Call], start_seq_time: float, end_time: float) -> Iterator[Call]:
    """API calls that started after ``start_seq_time`` and before ``end_time``."""
    for c in calls:
        if c.service != "mark" and start_seq_time <= c.start < end_time:
            yield c

"""Fault injection for the chaos harness: the failures AWS produces that moto never does.

Every fault is decided by one seeded ``random.Random`` (``Faults``), so a seed replays the
same faults in the same places. The hooks sit where the real failure happens:

- **Throttling** (``install_throttling``): a botocore ``before-call`` hook picks a call and a
  ``before-send`` hook answers its first 1..3 attempts with the service's throttling error
  (DynamoDB ``ProvisionedThroughputExceededException``/``ThrottlingException``, Lambda
  ``TooManyRequestsException``) before moto sees the request. botocore's own retry handler
  (the clients' ``standard`` mode, 5 attempts) then backs off and resends, exactly as on AWS;
  ``virtual_backoff`` makes that back-off sleep advance the simulated clock instead of the
  wall clock. A Lambda "storm" throttles every attempt, so the invoke fails for the caller.
- **Async invoke capture** (``capture_async_invokes``): ``lambda:Invoke`` with
  ``InvocationType=Event`` is answered ``202`` by the hook and its payload handed to a
  delivery function, or dropped (an accepted event that never runs), or handed over twice
  (at-least-once delivery).
- **Worker crashes** (``install_crash_points``): wraps a ``RunStore``'s terminal writes
  (``finish_ti``, ``retry_ti``) so that, during a worker delivery, the process "dies" just
  before the write (the task body ran, nothing recorded) or just after it (recorded, nothing
  dispatched downstream). The crash is ``InjectedCrash``, a ``BaseException``, so no
  ``except Exception`` in the code under test can swallow it, as with a killed process.

- **A crash at every store write** (``install_write_crashes``): any write of the run store
  (claim, terminal writes including a chain's and a lane's hand-over, decide, queue, run
  updates, the sweeper's) may kill the calling handler just before or just after it.
- **Sustained throttling of a run item** (``install_run_storms``): for a while, DynamoDB
  cancels transactions that write one run item with ``ThrottlingError`` on that item (a
  hot partition), as AWS answers; the store must send them again and never read them as a
  lost race.

Counts of what was injected are kept per kind in ``Faults.counts``.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import types
from urllib.parse import unquote
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse

# Error codes botocore's standard retry mode treats as throttling (botocore.retries.standard).
DYNAMODB_THROTTLES = ("ProvisionedThroughputExceededException", "ThrottlingException")
LAMBDA_THROTTLE = "TooManyRequestsException"
# The clients use botocore's standard retry mode, max_attempts=5 (5 retries; orchestrator.config.Clients):
# at most 3 throttled attempts per call always leaves botocore a successful attempt.
MAX_THROTTLED_ATTEMPTS = 3
_FAULT_URL = "https://fault-injection.invalid/"  # moto matches no route here: the request never reaches it


class InjectedCrash(BaseException):
    """The worker process died here (a BaseException: nothing in the code under test catches it)."""


@dataclass(frozen=True)
class FaultRates:
    """Probability of each fault per opportunity (a delivery, an API call, a terminal write)."""

    duplicate: float = 0.0  # an async invoke / SQS message delivered twice
    drop: float = 0.0  # an accepted async invoke that never runs
    crash_before_record: float = 0.0  # task body ran; the worker dies before the terminal write
    crash_after_record: float = 0.0  # terminal write done; the worker dies before dispatching downstream
    ddb_throttle: float = 0.0  # a DynamoDB call throttled for 1..3 attempts
    lambda_throttle: float = 0.0  # a Lambda invoke throttled for 1..3 attempts
    lambda_storm: float = 0.0  # a Lambda invoke throttled on every attempt (the caller sees the error)
    ddb_storm: float = 0.0  # a DynamoDB call throttled on every attempt: the handler fails at that call
    s3_duplicate: float = 0.0  # an S3 object event delivered twice
    reorder: bool = False  # deliveries taken in random order instead of FIFO
    crash_write: float = 0.0  # a handler killed just before or after one of the run store's writes
    hard_timeout: float = 0.0  # a worker invocation reaches the function's timeout mid-body (Lambda kills it)
    run_storm: float = 0.0  # a run item's transactions throttled for a while (ThrottlingError)
    clear: float = 0.0  # per run: someone runs `stratus clear` on a finished task while the run goes on
    mark: float = 0.0  # per run: someone marks a leaf task success while the run goes on

    @classmethod
    def none(cls) -> FaultRates:
        return cls()

    @classmethod
    def default(cls) -> FaultRates:
        """The mix ``make chaos`` uses: every fault kind, often enough to meet each other."""
        return cls(duplicate=0.08, drop=0.03, crash_before_record=0.03, crash_after_record=0.03,
                   ddb_throttle=0.02, lambda_throttle=0.05, lambda_storm=0.01, s3_duplicate=0.3, reorder=True,
                   crash_write=0.01, hard_timeout=0.02, run_storm=0.01, clear=0.15, mark=0.1)


@dataclass
class Faults:
    """Seeded fault decisions and the count of faults injected, per kind."""

    seed: int
    rates: FaultRates = field(default_factory=FaultRates.default)
    counts: Counter[str] = field(default_factory=Counter)
    enabled: bool = True

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def roll(self, kind: str) -> bool:
        """True (and counted) when fault ``kind`` (a ``FaultRates`` field) happens now."""
        rate = float(getattr(self.rates, kind))
        if not self.enabled or rate <= 0:
            return False
        with self._lock:
            hit = self.rng.random() < rate
            if hit:
                self.counts[kind] += 1
        return hit

    def randint(self, a: int, b: int) -> int:
        with self._lock:
            return self.rng.randint(a, b)

    def note(self, kind: str) -> None:
        """Count a fault decided elsewhere (e.g. each transaction a storm cancels)."""
        with self._lock:
            self.counts[kind] += 1

    def rng_uniform(self) -> float:
        with self._lock:
            return self.rng.random()

    def choice_index(self, n: int) -> int:
        """Index of the next delivery: random under ``reorder``, else the oldest (0)."""
        if n <= 1 or not (self.enabled and self.rates.reorder):
            return 0
        with self._lock:
            return self.rng.randrange(n)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """No faults inside the block (the harness's own bookkeeping calls)."""
        before, self.enabled = self.enabled, False
        try:
            yield
        finally:
            self.enabled = before


# ---------------------------------------------------------------------------- HTTP responses


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def _response(status: int, headers: dict[str, str], body: dict[str, Any] | None) -> AWSResponse:
    data = json.dumps(body).encode() if body is not None else b""
    return AWSResponse(_FAULT_URL, status, {"x-amzn-requestid": "fault-injection", **headers}, _Body(data))


def dynamodb_throttle_response(code: str) -> AWSResponse:
    """DynamoDB's JSON 1.0 error shape for ``code``."""
    return _response(400, {"content-type": "application/x-amz-json-1.0"},
                     {"__type": f"com.amazonaws.dynamodb.v20120810#{code}",
                      "message": "Rate of requests exceeds the allowed throughput (injected)."})


def lambda_throttle_response() -> AWSResponse:
    """Lambda's REST-JSON 429 TooManyRequestsException."""
    return _response(429, {"content-type": "application/json", "x-amzn-errortype": LAMBDA_THROTTLE},
                     {"Type": "User", "message": "Rate Exceeded. (injected)",
                      "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"})


# ---------------------------------------------------------------------------- throttling


class Throttler:
    """Decides, once per API call, how many of its attempts are throttled, and answers them.

    ``kind`` is ``ddb_throttle`` or ``lambda_throttle``; a ``lambda_storm`` / ``ddb_storm`` roll
    throttles every attempt (botocore gives up and the caller sees the throttling error: a
    handler failing at an arbitrary call, as a killed process would).
    """

    def __init__(self, faults: Faults, service: str, kind: str, codes: tuple[str, ...] = ()) -> None:
        self.faults, self.service, self.kind, self.codes = faults, service, kind, codes
        self._pending = threading.local()

    def decide(self, **_: Any) -> None:
        n = 0
        if self.kind == "lambda_throttle" and self.faults.roll("lambda_storm"):
            n = 1 << 30
        elif self.kind == "ddb_throttle" and self.faults.roll("ddb_storm"):
            n = 1 << 30
        elif self.faults.roll(self.kind):
            n = self.faults.randint(1, MAX_THROTTLED_ATTEMPTS)
        self._pending.n = n

    def take(self, request: Any) -> AWSResponse | None:
        """The throttling response for this attempt, or None to let it through."""
        n = getattr(self._pending, "n", 0)
        if n <= 0:
            return None
        self._pending.n = n - 1
        request.url = _FAULT_URL  # moto's stubber (a less specific before-send handler) ignores it
        if self.service == "lambda":
            return lambda_throttle_response()
        codes = self.codes or DYNAMODB_THROTTLES
        return dynamodb_throttle_response(codes[self.faults.randint(0, len(codes) - 1)])


def install_throttling(client: Any, faults: Faults, *, kind: str, codes: tuple[str, ...] = ()) -> Throttler:
    """Throttle a share of ``client``'s calls for 1..3 attempts (see ``Throttler``).

    The decision is made per API call (``before-call``); each attempt botocore sends
    (``before-send``, registered on the service, so it runs before moto's generic stubber)
    takes one throttle, and botocore's standard retry handler backs off and resends, as on
    AWS. A throttled attempt never reaches moto: nothing is written.
    """
    service = client.meta.service_model.service_name
    throttler = Throttler(faults, service, kind, codes)
    client.meta.events.register_first(f"before-call.{client.meta.service_model.service_id.hyphenize()}",
                                      throttler.decide)
    client.meta.events.register_first(f"before-send.{service}", lambda request, **_: throttler.take(request))
    return throttler


@contextlib.contextmanager
def virtual_backoff(sleep: Callable[[float], None]) -> Iterator[list[float]]:
    """botocore's retry back-off calls ``sleep`` (e.g. advance a simulated clock) for the block.

    botocore's endpoint sleeps between attempts with ``time.sleep``; this swaps the module's
    ``time`` for a copy whose ``sleep`` is ``sleep``. Process-wide while active: use it in a
    process (or test) that owns every botocore client running at the time. Yields the list
    of back-off delays taken.
    """
    import time as real_time

    import botocore.endpoint as endpoint

    delays: list[float] = []

    def fake_sleep(seconds: float) -> None:
        delays.append(float(seconds))
        sleep(float(seconds))

    previous = endpoint.time
    fake = types.SimpleNamespace(**{n: getattr(real_time, n) for n in dir(real_time) if not n.startswith("__")})
    fake.sleep = fake_sleep
    endpoint.time = fake  # type: ignore[assignment]
    try:
        yield delays
    finally:
        endpoint.time = previous  # type: ignore[assignment]


# ---------------------------------------------------------------------------- async invokes


def capture_async_invokes(client: Any, faults: Faults, deliver: Callable[[str, bytes], None], *,
                          throttle: bool = True) -> None:
    """Make ``client``'s ``Invoke(InvocationType=Event)`` calls async deliveries we control.

    Each attempt may first be throttled (``lambda_throttle``/``lambda_storm``, botocore
    retries); an accepted one is answered ``202`` and its payload handed to
    ``deliver(function_name, payload)``, not at all on a ``drop`` roll, twice on a
    ``duplicate`` roll. Other Lambda calls go to moto untouched.
    """
    throttler = Throttler(faults, "lambda", "lambda_throttle")

    def on_call(**kwargs: Any) -> None:
        if throttle:
            throttler.decide()

    def on_send(request: Any, **_: Any) -> AWSResponse | None:
        if "/invocations" not in request.url or _header(request, "X-Amz-Invocation-Type") != "Event":
            return None
        refused = throttler.take(request)
        if refused is not None:
            return refused
        name = unquote(request.url.split("/functions/", 1)[1].split("/invocations", 1)[0])
        body = request.body or b""
        payload = body if isinstance(body, bytes) else body.encode() if isinstance(body, str) else body.read()
        request.url = _FAULT_URL
        if not faults.roll("drop"):
            deliver(name, payload)
            if faults.roll("duplicate"):
                deliver(name, payload)
        return _response(202, {"content-type": "application/json"}, None)

    client.meta.events.register_first("before-call.lambda.Invoke", on_call)
    client.meta.events.register_first("before-send.lambda", on_send)


def _header(request: Any, name: str) -> str:
    value = request.headers.get(name)
    return value.decode() if isinstance(value, bytes) else str(value or "")


# ---------------------------------------------------------------------------- worker crashes


def install_crash_points(store: Any, faults: Faults, in_worker: Callable[[], bool],
                         once: set[tuple[str, ...]] | None = None) -> None:
    """Make ``store``'s terminal writes crash the worker (only while ``in_worker()``).

    ``crash_before_record`` raises ``InjectedCrash`` before ``finish_ti``/``retry_ti``
    reaches DynamoDB; ``crash_after_record`` raises it right after the write succeeded (the
    downstream dispatch never happens). ``once`` (a set the caller keeps) limits the
    before-record crash to one per task instance: a crash costs the try it killed, and the
    chaos DAGs give every task one spare try for it.
    """
    seen = once if once is not None else set()

    def wrap(name: str) -> None:
        real = getattr(store, name)

        def crashing(dag_id: str, run_id: str, task_id: str, map_index: int, *args: Any, **kwargs: Any) -> Any:
            if not in_worker():
                return real(dag_id, run_id, task_id, map_index, *args, **kwargs)
            key = (dag_id, run_id, task_id, str(map_index))
            if key not in seen and faults.roll("crash_before_record"):
                seen.add(key)
                raise InjectedCrash(f"worker killed before {name} of {task_id}[{map_index}] in {run_id}")
            out = real(dag_id, run_id, task_id, map_index, *args, **kwargs)
            if faults.roll("crash_after_record"):
                raise InjectedCrash(f"worker killed after {name} of {task_id}[{map_index}] in {run_id}")
            return out

        setattr(store, name, crashing)

    wrap("finish_ti")
    wrap("retry_ti")


# ---------------------------------------------------------------------------- every store write

# The run store's writes (a crash point before and after each). Names absent from a store are skipped.
STORE_WRITES = ("claim_ti", "finish_ti", "finish_and_queue", "retry_ti", "requeue_ti", "decide_ti", "queue_ti",
                "queue_many", "park_tis", "promote_scheduled", "update_run", "finish_run", "start_run_if_slot",
                "note_lost_invoke", "reschedule_ti", "requeue_poke", "create_run", "drop_waiting_marker",
                "reset_ti", "force_ti_state", "fence_run", "reopen_run")


def install_write_crashes(store: Any, faults: Faults, may_crash: Callable[[str], bool]) -> None:
    """Each write of ``store`` may kill its caller (``crash_write``), before or after the write.

    ``may_crash(name)`` says whether the calling handler may be killed now (its role, and the
    harness's budget of one try-costing fault per task instance); it is asked only after the
    roll hit, so the budget is spent only by a crash that happens.
    """

    def wrap(name: str) -> None:
        real = getattr(store, name)

        def crashing(*args: Any, **kwargs: Any) -> Any:
            before = faults.rates.crash_write > 0 and faults.roll("crash_write") and may_crash(name)
            if before and faults.randint(0, 1) == 0:
                raise InjectedCrash(f"handler killed before {name}{_where(args)}")
            out = real(*args, **kwargs)
            if before:
                raise InjectedCrash(f"handler killed after {name}{_where(args)}")
            return out

        setattr(store, name, crashing)

    for name in STORE_WRITES:
        if callable(getattr(store, name, None)):
            wrap(name)


def _where(args: tuple[Any, ...]) -> str:
    return f" ({', '.join(str(a) for a in args[:4] if isinstance(a, (str, int)))})" if args else ""


# ---------------------------------------------------------------------------- run-item throttling storms

RUN_STORM_S = 120.0  # how long a storm keeps a run item hot (simulated seconds)
RUN_STORM_CANCEL = 0.6  # share of the transactions on a hot run item DynamoDB cancels
# Consecutive cancellations of one caller's transaction: below the store's own attempts
# (StoreBase.TRANSACT_ATTEMPTS), so a storm slows writes down and never fails them for good.
RUN_STORM_MAX_IN_A_ROW = 4


def transaction_cancelled_response(reasons: list[str]) -> AWSResponse:
    """DynamoDB's TransactionCanceledException with one reason per item, as AWS sends it."""
    return _response(400, {"content-type": "application/x-amz-json-1.0"},
                     {"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                      "message": f"Transaction cancelled, please refer cancellation reasons for specific reasons "
                                 f"[{', '.join(reasons)}]",
                      "CancellationReasons": [{"Code": r} if r == "None" else
                                              {"Code": r, "Message": "Throughput exceeds the current capacity "
                                               "for one or more global secondary indexes. (injected)"}
                                              for r in reasons]})


def install_run_storms(client: Any, faults: Faults, now: Callable[[], float]) -> Counter[str]:
    """Throttle the transactions of a run item for ``RUN_STORM_S`` after a ``run_storm`` roll.

    Returns a counter of the transactions cancelled per run item key.
    """
    storms: dict[str, float] = {}
    cancelled: Counter[str] = Counter()
    local = threading.local()
    lock = threading.Lock()

    def decide(params: dict[str, Any], **_: Any) -> None:
        local.reasons = None
        items = params.get("TransactItems") or []
        keys = []
        for item in items:
            body = next(iter(item.values()), {})
            key = body.get("Key") or body.get("Item") or {}
            sk = key.get("sk", {}).get("S")
            keys.append(key.get("pk", {}).get("S") if sk == "RUN" else None)
        hot = [k for k in keys if k]
        if not hot or not faults.enabled:
            local.streak = 0
            return
        t = now()
        with lock:
            for k in hot:
                if storms.get(k, -1.0) < t and faults.roll("run_storm"):
                    storms[k] = t + RUN_STORM_S
            burning = [k for k in hot if storms.get(k, -1.0) >= t]
        streak = getattr(local, "streak", 0)
        if burning and streak < RUN_STORM_MAX_IN_A_ROW and faults.rng_uniform() < RUN_STORM_CANCEL:
            local.streak = streak + 1
            local.reasons = ["ThrottlingError" if k in burning else "None" for k in keys]
            with lock:
                cancelled[burning[0]] += 1
            faults.note("run_throttled")
        else:
            local.streak = 0

    def answer(request: Any, **_: Any) -> AWSResponse | None:
        reasons = getattr(local, "reasons", None)
        if not reasons or _header(request, "X-Amz-Target") != "DynamoDB_20120810.TransactWriteItems":
            return None
        local.reasons = None
        request.url = _FAULT_URL
        return transaction_cancelled_response(reasons)

    client.meta.events.register_first("before-parameter-build.dynamodb.TransactWriteItems", decide)
    client.meta.events.register_first("before-send.dynamodb", answer)
    return cancelled

"""Run the template's Lambda handlers in process when moto is asked to invoke a function.

``install_hooks`` replaces ``moto.awslambda.models.LambdaFunction.invoke`` (moto would run
Docker, or return a canned answer) and ``moto.core.responses.BaseResponse._dispatch`` (to make
each moto API call atomic, as each AWS API call is). While a ``FunctionHost`` is registered,
invoking one of its functions, through boto3 in process or through moto's threaded server,
runs the real handler module (``functions/<name>/app.py``) with a Lambda-like context:

- ``RequestResponse``: in the caller's thread; the result is the response payload, an
  exception becomes ``FunctionError: Unhandled`` with Lambda's error payload;
- ``Event``: queued on the host's pool (``local.invocations``: up to ``pool_size`` at once,
  more only while those running wait) and answered 202 at once (no inline recursion);
  failures follow ``local.emulation`` (Lambda's retries, then the OnFailure destination);
- ``DryRun``: answered 204.

Each invocation's stdout (Powertools logs) is captured and written to the function's
CloudWatch log group in moto, one stream per invocation, as Lambda does.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import ModuleType
from typing import Any

from orchestrator.constants import ASYNC_INVOKE_MAX_BYTES
from orchestrator.local import iam
from orchestrator.observe.logs import BufferSlot
from orchestrator.engine.deadlines import Deadlines
from orchestrator.local.invocations import InvocationPool
from orchestrator.local.template import FunctionSpec

log = logging.getLogger(__name__)

# One lock makes every moto API call atomic (DynamoDB conditional writes and transactions
# are atomic in AWS; moto's are not thread-safe). Lambda calls are left out: an invoke runs a
# handler that makes its own calls.
MOTO_LOCK = threading.RLock()

_HOSTS: dict[str, FunctionHost] = {}  # function ARN -> host
_HOOKS_LOCK = threading.Lock()
_ORIGINALS: dict[str, Any] = {}


class _Crashed(Exception):
    """Internal: an injected runtime crash (the handler never ran)."""


class LambdaTimeout(BaseException):
    """Raised inside a handler thread that outlived its function's timeout (Lambda kills it)."""


@dataclass
class LambdaContext:
    """The attributes and method of Lambda's Python context object that handlers use."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    timeout_s: int
    function_version: str = "$LATEST"
    identity: Any = None
    client_context: Any = None
    _start: float = field(default_factory=time.monotonic, repr=False)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._start + self.timeout_s - time.monotonic()) * 1000))


@dataclass(frozen=True)
class Outcome:
    """What one invocation returned: ``payload`` (JSON text) or ``error`` (Lambda's error shape)."""

    request_id: str
    payload: str | None = None
    error: dict[str, Any] | None = None
    timed_out: bool = False


@dataclass
class Fault:
    """A crash to inject: the next ``times`` invocations of ``function`` whose event matches."""

    function: str
    when: Callable[[Any], bool] | None = None
    times: int = 1


class _StampedIO(io.StringIO):
    """An invocation's output buffer that notes when each line ended (epoch ms), as CloudWatch
    Logs gives every line Lambda sends its own timestamp."""

    def __init__(self) -> None:
        super().__init__()
        self.stamps: list[int] = []

    def write(self, text: str) -> int:
        n = super().write(text)
        if "\n" in text:
            now = int(time.time() * 1000)
            self.stamps.extend([now] * text.count("\n"))
        return n


class _StdoutRouter(io.TextIOBase):
    """sys.stdout replacement: a thread with a capture buffer writes there, others pass through."""

    def __init__(self, passthrough: Any) -> None:
        self.passthrough = passthrough
        self.local = BufferSlot("stratus_local_stdout")  # per thread, and a task body's helper thread

    def write(self, text: str) -> int:
        buf = getattr(self.local, "buffer", None)
        if buf is not None:
            return buf.write(text)
        return self.passthrough.write(text)

    def flush(self) -> None:
        with contextlib.suppress(Exception):
            self.passthrough.flush()

    def isatty(self) -> bool:
        return bool(getattr(self.passthrough, "isatty", lambda: False)())


class FunctionHost:
    """The functions of one local cloud: loads handler modules and runs invocations.

    ``functions`` maps each function's physical name to its template spec. ``on_async_result``
    is called with (function name, payload, attempt, outcome) after every ``Event`` invocation
    (the emulation decides on retries and destinations). ``activity`` counts work for
    ``LocalCloud.wait_idle``.
    """

    def __init__(
        self,
        *,
        functions: dict[str, FunctionSpec],
        arns: dict[str, str],
        region: str,
        pool_size: int = 8,
        timeouts: dict[str, int] | None = None,
        log_writer: Callable[[str, str, str, list[int] | None], None] | None = None,
        echo_logs: bool = False,
        log_groups: dict[str, str] | None = None,
    ) -> None:
        self.functions = functions
        self.log_groups = dict(log_groups or {})
        self.arns = arns
        self.region = region
        self.timeouts = timeouts or {}
        self.on_async_result: Callable[[str, str, int, Outcome], None] | None = None
        self.on_handler_error: Callable[[str, BaseException], None] | None = None
        self._log_writer = log_writer
        self._echo = echo_logs
        self._modules: dict[str, ModuleType] = {}
        self._import_lock = threading.Lock()
        self._pool = InvocationPool(pool_size)
        self._deadlines = Deadlines()
        self._busy = 0
        self._busy_lock = threading.Condition()
        self.invocations: dict[str, int] = {name: 0 for name in functions}
        # (function, request id, started, ended): wall-clock epoch seconds of every handler run, so
        # a test can show that nothing ran between two pokes of a sensor.
        self.records: list[tuple[str, str, float, float]] = []
        self.faults: list[Fault] = []
        self.duplicated: set[str] = set()  # functions whose Event invokes are delivered twice
        self._fault_lock = threading.Lock()
        self.closed = False
        self._instance = uuid.uuid4().hex[:8]
        self.iam: iam.IamCheck | None = None  # set by the local cloud: each handler's calls are authorised

    # -- activity accounting
    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        self._started_work()
        try:
            yield
        finally:
            self._ended_work()

    def _started_work(self) -> None:
        with self._busy_lock:
            self._busy += 1

    def _ended_work(self) -> None:
        with self._busy_lock:
            self._busy -= 1
            # Only the waiter for "nothing pending" listens: waking it at every change cost two
            # thread switches per task, which on a virtual machine cost more than the wait saves.
            if self._busy == 0:
                self._busy_lock.notify_all()

    def wait_quiet(self, timeout: float) -> None:
        """Block until no invocation is pending (or ``timeout``)."""
        with self._busy_lock:
            self._busy_lock.wait_for(lambda: self._busy == 0, timeout)

    @property
    def pending(self) -> int:
        """Invocations queued or running (``Event``) plus batches being delivered."""
        with self._busy_lock:
            return self._busy

    # -- running handlers
    def _module(self, name: str) -> ModuleType:
        with self._import_lock:
            module = self._modules.get(name)
            if module is not None:
                return module
            spec = self.functions[name]
            path = spec.module_file
            if not path.is_file():
                raise FileNotFoundError(
                    f"Handler module {str(path)!r} of function {spec.logical_id!r} does not exist "
                    f"(template Handler {spec.handler!r}, CodeUri {str(spec.code_dir)!r})."
                )
            mod_name = f"_stratus_local_{self._instance}_{spec.logical_id}"
            import_spec = importlib.util.spec_from_file_location(mod_name, path)
            assert import_spec and import_spec.loader
            module = importlib.util.module_from_spec(import_spec)
            sys.modules[mod_name] = module
            sys.path.insert(0, str(spec.code_dir))
            try:
                import_spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(mod_name, None)
                raise
            finally:
                with contextlib.suppress(ValueError):
                    sys.path.remove(str(spec.code_dir))
            self._modules[name] = module
            return module

    def log_group_of(self, name: str) -> str:
        """The function's log group: its LoggingConfig's (per-DAG workers log to the worker's), else Lambda's default."""
        return self.log_groups.get(name) or f"/aws/lambda/{name}"

    def timeout_of(self, name: str) -> int:
        spec = self.functions[name]
        default = self.timeouts.get(spec.family, spec.timeout_s) if spec.family else spec.timeout_s
        return int(self.timeouts.get(spec.logical_id, self.timeouts.get(name, default)))

    def run(self, name: str, payload: str) -> Outcome:
        """Run the handler once in this thread; never raises for a handler failure."""
        spec = self.functions[name]
        request_id = str(uuid.uuid4())
        now = datetime.now(timezone.utc)
        stream = f"{now:%Y/%m/%d}/[$LATEST]{request_id.replace('-', '')}"
        timeout_s = self.timeout_of(name)
        ctx = LambdaContext(
            function_name=name,
            invoked_function_arn=self.arns[name],
            memory_limit_in_mb=spec.memory_mb,
            aws_request_id=request_id,
            log_group_name=self.log_group_of(name),
            log_stream_name=stream,
            timeout_s=timeout_s,
        )
        self.invocations[name] = self.invocations.get(name, 0) + 1
        buffer = _StampedIO()
        # Something (pytest's capture between test phases, a redirect_stdout) may have replaced
        # the router installed with the hooks: put it back so this invocation's lines are kept (H5).
        if not isinstance(sys.stdout, _StdoutRouter):
            sys.stdout = _StdoutRouter(sys.stdout)
        router = sys.stdout
        # Lambda stops the sandbox; the closest in process is an exception in the thread.
        guard = self._deadlines.watch(timeout_s, LambdaTimeout)
        done = guard.finish
        # A handler may invoke another function synchronously (RequestResponse) in this thread: its
        # lines go to its own log, and this one's capture resumes when it returns.
        outer = getattr(router.local, "buffer", None) if router is not None else None
        if router is not None:
            router.local.buffer = buffer
        print(f"START RequestId: {request_id} Version: $LATEST", file=buffer)
        started = time.monotonic()
        caller = iam.CALLER.set((self.iam, name) if self.iam is not None else None)
        try:
            try:
                event = json.loads(payload) if payload else {}
                if self._take_fault(name, event):
                    done()
                    message = f"RequestId: {request_id} Error: Runtime exited with error: signal: killed"
                    print(message, file=buffer)
                    outcome = Outcome(request_id, error={"errorType": "Runtime.ExitError", "errorMessage": message})
                    raise _Crashed()
                handler = getattr(self._module(name), spec.handler_name)
                result = handler(event, ctx)
                done()
                if guard.timed_out:  # the handler swallowed the timeout
                    raise LambdaTimeout()
                outcome = Outcome(request_id, payload=json.dumps(result, default=str))
            except (LambdaTimeout, _Crashed):
                raise
            except BaseException as exc:  # noqa: BLE001 - Lambda reports every exception
                done()
                if guard.timed_out:
                    raise LambdaTimeout() from exc
                if self.on_handler_error:
                    self.on_handler_error(name, exc)
                outcome = Outcome(request_id, error=_error_payload(exc, request_id))
                traceback.print_exc(file=buffer)
        except _Crashed:
            pass
        except LambdaTimeout:
            done()
            message = f"{now:%Y-%m-%dT%H:%M:%S.%f}Z {request_id} Task timed out after {timeout_s:.2f} seconds"
            outcome = Outcome(request_id, error={"errorMessage": message}, timed_out=True)
            print(message, file=buffer)
        finally:
            done()
            iam.CALLER.reset(caller)
            if router is not None:
                router.local.buffer = outer
        elapsed_ms = (time.monotonic() - started) * 1000
        ended = time.time()
        self.records.append((name, request_id, ended - elapsed_ms / 1000, ended))
        print(f"END RequestId: {request_id}", file=buffer)
        print(f"REPORT RequestId: {request_id}\tDuration: {elapsed_ms:.2f} ms", file=buffer)
        self._write_logs(name, stream, buffer.getvalue(), buffer.stamps)
        return outcome

    def _write_logs(self, name: str, stream: str, text: str, stamps: list[int] | None = None) -> None:
        from orchestrator.secrets.printmask import redact_text

        text = redact_text(text)  # this thread's capture sat before any masking stream (secrets.printmask)
        if self._echo and router_passthrough() is not None:
            router_passthrough().write(text)  # type: ignore[union-attr]
        if self._log_writer is not None:
            try:
                self._log_writer(self.log_group_of(name), stream, text, stamps)
            except Exception as exc:  # logs are best effort, as in Lambda
                log.debug("local cloud: could not write logs of %s: %s", name, exc)

    def _take_fault(self, name: str, event: Any) -> bool:
        spec = self.functions[name]
        with self._fault_lock:
            for fault in self.faults:
                if fault.function in (name, spec.logical_id, spec.family or name) and fault.times > 0 and (fault.when is None or fault.when(event)):
                    fault.times -= 1
                    return True
        return False

    def submit_event(self, name: str, payload: str, attempt: int = 1, *, duplicate: bool = True) -> None:
        """Queue an asynchronous (``Event``) invocation on the pool."""
        spec = self.functions[name]
        if duplicate and (name in self.duplicated or spec.logical_id in self.duplicated
                          or (spec.family and spec.family in self.duplicated)):
            self.submit_event(name, payload, attempt, duplicate=False)  # at-least-once: a second delivery
        if self.closed:
            log.warning("local cloud closed: dropping async invoke of %s", name)
            return
        self._started_work()

        def job() -> None:
            try:
                outcome = self.run(name, payload)
                if self.on_async_result:
                    self.on_async_result(name, payload, attempt, outcome)
            except Exception:  # the pool must never die silently
                log.exception("local cloud: async invocation of %s failed in the emulator", name)
            finally:
                self._ended_work()

        self._pool.submit(job)

    def submit(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the pool, counted as activity (used for SQS batches)."""
        self._started_work()

        def job() -> None:
            try:
                fn()
            except Exception:
                log.exception("local cloud: background delivery failed")
            finally:
                self._ended_work()

        self._pool.submit(job)

    def close(self, wait: bool = True) -> None:
        """Stop accepting work; queued invocations are dropped, running ones finish (if ``wait``)."""
        self.closed = True
        self._pool.close(wait=wait)
        self._deadlines.close()

    # -- the moto side
    def handle_invoke(self, name: str, body: Any, headers: Any, response_headers: dict[str, str]) -> str:
        payload = body.decode("utf-8") if isinstance(body, bytes) else (body or "")
        if not isinstance(payload, str):
            payload = json.dumps(payload)
        inv_type = _header(headers, "X-Amz-Invocation-Type") or "RequestResponse"
        if inv_type == "DryRun":
            return ""
        if inv_type == "Event":
            if len(payload.encode("utf-8")) > ASYNC_INVOKE_MAX_BYTES:
                from moto.awslambda.exceptions import LambdaClientError

                err = LambdaClientError(
                    "RequestEntityTooLargeException",
                    f"Request must be smaller than {ASYNC_INVOKE_MAX_BYTES} bytes for the InvokeAsync operation",
                )
                err.code = 413
                raise err
            self.submit_event(name, payload)
            return ""
        outcome = self.run(name, payload)
        if outcome.error is not None:
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(outcome.error)
        return outcome.payload or "null"


@contextlib.contextmanager
def quiet_stdout() -> Iterator[io.StringIO]:
    """Capture this thread's stdout only (the engine's EMF lines when it runs in the CLI's thread)."""
    buffer = io.StringIO()
    router = sys.stdout if isinstance(sys.stdout, _StdoutRouter) else None
    if router is None:
        with contextlib.redirect_stdout(buffer):
            yield buffer
        return
    previous = getattr(router.local, "buffer", None)
    router.local.buffer = buffer
    try:
        yield buffer
    finally:
        router.local.buffer = previous


def router_passthrough() -> Any:
    return sys.stdout.passthrough if isinstance(sys.stdout, _StdoutRouter) else None


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
    getter = getattr(headers, "get", None)
    if getter is not None:
        value = getter(name) or getter(name.lower())
        if value:
            return str(value)
    with contextlib.suppress(Exception):
        for key, value in headers.items():
            if key.lower() == name.lower():
                return str(value)
    return None


def _error_payload(exc: BaseException, request_id: str) -> dict[str, Any]:
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


# -- hook installation (process-wide; one registry of hosts)
def register(host: FunctionHost) -> None:
    """Route moto invokes of ``host``'s functions to it (installs the hooks on first use)."""
    with _HOOKS_LOCK:
        _install_hooks()
        for name, arn in host.arns.items():
            _HOSTS[arn] = host


def unregister(host: FunctionHost) -> None:
    with _HOOKS_LOCK:
        for arn in list(_HOSTS):
            if _HOSTS[arn] is host:
                del _HOSTS[arn]


def _install_hooks() -> None:
    if _ORIGINALS:
        return
    from moto.awslambda.models import LambdaFunction
    from moto.awslambda.responses import LambdaResponse
    from moto.core.responses import BaseResponse

    original_invoke = LambdaFunction.invoke
    original_dispatch = BaseResponse._dispatch

    def invoke(self: Any, body: Any, request_headers: Any, response_headers: Any) -> Any:
        host = _HOSTS.get(self.function_arn)
        if host is None:
            return original_invoke(self, body, request_headers, response_headers)
        return host.handle_invoke(self.function_name, body, request_headers, response_headers)

    def dispatch(self: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(self, LambdaResponse):
            return original_dispatch(self, *args, **kwargs)
        with MOTO_LOCK:
            return original_dispatch(self, *args, **kwargs)

    _ORIGINALS["invoke"] = original_invoke
    _ORIGINALS["dispatch"] = original_dispatch
    LambdaFunction.invoke = invoke  # type: ignore[method-assign]
    BaseResponse._dispatch = dispatch  # type: ignore[method-assign]
    if not isinstance(sys.stdout, _StdoutRouter):
        sys.stdout = _StdoutRouter(sys.stdout)


def uninstall_hooks() -> None:
    """Restore moto's own behaviour (when no host is registered)."""
    with _HOOKS_LOCK:
        if _HOSTS or not _ORIGINALS:
            return
        from moto.awslambda.models import LambdaFunction
        from moto.core.responses import BaseResponse

        LambdaFunction.invoke = _ORIGINALS.pop("invoke")  # type: ignore[method-assign]
        BaseResponse._dispatch = _ORIGINALS.pop("dispatch")  # type: ignore[method-assign]
        if isinstance(sys.stdout, _StdoutRouter):
            sys.stdout = sys.stdout.passthrough

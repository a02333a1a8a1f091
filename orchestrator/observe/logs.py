"""Task logs: finding one try's lines in CloudWatch Logs, and capturing them locally like Lambda.

Reading (``task_log_lines``): the worker writes JSON lines tagged with ``dag_id``, ``run_id``,
``task_id``, ``map_index`` and ``try_number`` (``telemetry.task_log_context``) and records
its log stream on the task instance (``log_stream``, and per past try in ``history``). We
read that stream, cut it into invocations at Lambda's ``START RequestId:`` / ``END
RequestId:`` lines and keep the invocations holding a line of the wanted try, so untagged
lines (a bare ``print``) of that invocation come along. Without a recorded stream, the
whole group is filtered by the same keys.

Writing, for the embedded cloud (``orchestrator.local``): Lambda sends whatever a handler
prints to ``/aws/lambda/<function>``. ``capture_invocation()`` collects what the current
thread writes to stdout/stderr during one invocation (handlers run on a thread pool, so the
redirection is per thread), and ``put_invocation_logs`` stores it with Lambda's framing
lines in moto's CloudWatch Logs::

    stream = new_log_stream_name()
    context = LambdaContext(..., log_stream_name=stream)
    with capture_invocation() as lines:
        handler(event, context)
    put_invocation_logs(logs_client, function_name, stream, request_id, lines, started_ms=...)
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import json
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import ClientError

from orchestrator.errors import NotFoundError, StratusError


def function_log_group(function_name: str) -> str:
    """Lambda's log group for a function."""
    return f"/aws/lambda/{function_name}"


def new_log_stream_name(now: datetime | None = None) -> str:
    """A log stream name shaped like Lambda's: ``2026/01/31/[$LATEST]<32 hex>``."""
    when = now or datetime.now(timezone.utc)
    return f"{when:%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"


# ---------------------------------------------------------------- local capture


class _ThreadRouter(io.TextIOBase):
    """Stands in for sys.stdout/sys.stderr: a thread inside ``capture_invocation`` writes to its
    buffer, every other thread to the original stream."""

    def __init__(self, original: Any, local: Any) -> None:
        self.original = original
        self._local = local

    def write(self, text: str) -> int:
        buf = getattr(self._local, "buffer", None)
        if buf is None:
            return self.original.write(text)
        buf.append(text)
        return len(text)

    def flush(self) -> None:
        if getattr(self._local, "buffer", None) is None:
            self.original.flush()

    def isatty(self) -> bool:
        return False if getattr(self._local, "buffer", None) is not None else self.original.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.original, "encoding", "utf-8")


class BufferSlot:
    """``.buffer`` per thread, inherited by a thread started in a copy of the context: a task
    body's helper thread (``engine.runtime.run_with_timeout``) writes where its invocation does."""

    def __init__(self, name: str) -> None:
        self._var: contextvars.ContextVar[Any] = contextvars.ContextVar(name, default=None)

    @property
    def buffer(self) -> Any:
        return self._var.get()

    @buffer.setter
    def buffer(self, value: Any) -> None:
        self._var.set(value)


_LOCAL: Any = BufferSlot("stratus_capture_buffer")
_INSTALL_LOCK = threading.Lock()


def _install() -> None:
    with _INSTALL_LOCK:
        if not isinstance(sys.stdout, _ThreadRouter):
            sys.stdout = _ThreadRouter(sys.stdout, _LOCAL)
        if not isinstance(sys.stderr, _ThreadRouter):
            sys.stderr = _ThreadRouter(sys.stderr, _LOCAL)


@contextlib.contextmanager
def capture_invocation() -> Iterator[list[str]]:
    """Collect the lines this thread prints (stdout and stderr) until the block ends.

    Yields a list that holds the lines (without newlines) once the block has exited.
    Other threads keep printing to the terminal. Nested use keeps the outer capture.
    """
    _install()
    if getattr(_LOCAL, "buffer", None) is not None:
        yield []
        return
    chunks: list[str] = []
    lines: list[str] = []
    _LOCAL.buffer = chunks
    try:
        yield lines
    finally:
        _LOCAL.buffer = None
        lines.extend("".join(chunks).splitlines())


def put_invocation_logs(
    logs_client: Any,
    function_name: str,
    log_stream: str,
    request_id: str,
    lines: Sequence[str],
    *,
    started_ms: int | None = None,
    duration_ms: float | None = None,
) -> None:
    """Store one invocation's lines in ``/aws/lambda/<function>``/``log_stream`` with Lambda's
    START/END/REPORT framing (creating the group and stream when missing)."""
    group = function_log_group(function_name)
    for create, kwargs in (
        (logs_client.create_log_group, {"logGroupName": group}),
        (logs_client.create_log_stream, {"logGroupName": group, "logStreamName": log_stream}),
    ):
        try:
            create(**kwargs)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "ResourceAlreadyExistsException":
                raise
    now_ms = int(time.time() * 1000)
    start = started_ms if started_ms is not None else now_ms
    duration = duration_ms if duration_ms is not None else float(max(0, now_ms - start))
    framed = [f"START RequestId: {request_id} Version: $LATEST", *lines, f"END RequestId: {request_id}",
              f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms"]
    # One millisecond apart: PutLogEvents wants chronological order and readers keep it.
    events = [{"timestamp": start + i, "message": m or " "} for i, m in enumerate(framed)]
    for batch_start in range(0, len(events), 5000):
        logs_client.put_log_events(logGroupName=group, logStreamName=log_stream, logEvents=events[batch_start : batch_start + 5000])


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class LogLine:
    timestamp: int  # epoch ms
    message: str
    fields: Mapping[str, Any] | None  # the parsed JSON line, when it is one

    def render(self, tz: Any = None) -> str:
        """``2026-01-01T06:00:02.123Z INFO message``: every line with its own time (printed lines
        too), in ``tz`` when given (a ``tzinfo``, e.g. the DAG's time zone), else UTC. A failed
        try's traceback is shown once, below its line."""
        when = _when(self.timestamp, tz)
        if not self.fields:
            return f"{when} {self.message.rstrip(chr(10))}"
        text = f"{when} {self.fields.get('level', 'INFO')} {self.fields.get('message', '')}"
        if self.fields.get("code"):  # the worker's "task started" line names the code the try runs
            text += f" (code: {self.fields['code']})"
        # Powertools puts a logged exception in "exception"; the engine logs a task's
        # traceback in "error". The same traceback in both is shown once.
        extra: list[str] = []
        for key in ("exception", "error"):
            value = str(self.fields.get(key) or "").rstrip("\n")
            if value and not any(value in seen or seen in value for seen in extra):
                extra.append(value)
        return "\n".join([text, *extra])

    @property
    def is_output(self) -> bool:
        """A line the task printed or logged, not one of Stratus's own lifecycle lines."""
        if not self.fields:
            return True
        return "error" not in self.fields and self.fields.get("message") not in LIFECYCLE_MESSAGES

    def text(self) -> str:
        """The line's message without time or level."""
        return str(self.fields.get("message", "")) if self.fields else self.message.rstrip("\n")


# What the worker itself logs around a try (left out of a failed task's output tail).
LIFECYCLE_MESSAGES = frozenset({"task started", "task finished", "run finished", "run started",
                                "duplicate task message: this try is not queued any more"})


def _when(timestamp_ms: int, tz: Any = None) -> str:
    moment = datetime.fromtimestamp(timestamp_ms / 1000, tz=timezone.utc)
    if tz is None or tz == timezone.utc:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    local = moment.astimezone(tz)
    return local.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:]


def output_lines(lines: Sequence[LogLine]) -> list[str]:
    """What a try printed or logged (its own lines, without Stratus's lifecycle lines), as text."""
    return [line.text() for line in lines if line.is_output]


def _parse(event: Mapping[str, Any]) -> LogLine:
    message = str(event.get("message", ""))
    fields = None
    text = message.strip()
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
            fields = parsed if isinstance(parsed, dict) else None
        except ValueError:
            fields = None
    return LogLine(timestamp=int(event.get("timestamp", 0)), message=message, fields=fields)


def _matches(line: LogLine, run_id: str, task_id: str, try_number: int, map_index: int) -> bool:
    f = line.fields
    if not f or f.get("run_id") != run_id or f.get("task_id") != task_id:
        return False
    try:
        if int(f.get("try_number", -99)) != try_number:
            return False
        return int(f.get("map_index", -1)) == map_index
    except (TypeError, ValueError):
        return False


def _invocations(lines: Sequence[LogLine]) -> list[list[LogLine]]:
    chunks: list[list[LogLine]] = []
    current: list[LogLine] | None = None
    for line in lines:
        text = line.message.lstrip()
        if text.startswith("START RequestId:"):
            current = [line]
            chunks.append(current)
        elif current is not None:
            current.append(line)
            if text.startswith("REPORT RequestId:"):
                current = None
        else:
            chunks.append([line])  # outside any framing: judged line by line
    return chunks


def select_try_lines(
    events: Sequence[Mapping[str, Any]],
    run_id: str,
    task_id: str,
    try_number: int,
    map_index: int = -1,
    *,
    one_stream: bool = False,
) -> list[LogLine]:
    """From raw log events, the lines of one try (whole invocations that logged for it).

    ``one_stream``: the events are one log stream; without Lambda's START/END framing the
    stream is taken as one invocation (a local cloud writing a stream per invocation).
    """
    parsed = [_parse(e) for e in events]
    framed = any(x.message.lstrip().startswith("START RequestId:") for x in parsed)
    chunks = [parsed] if one_stream and not framed and parsed else _invocations(parsed)
    out: list[LogLine] = []
    for chunk in chunks:
        if any(_matches(x, run_id, task_id, try_number, map_index) for x in chunk):
            out.extend(x for x in chunk if not _framing_or_metric(x))
    return out


def _framing_or_metric(line: LogLine) -> bool:
    """Lambda's START/END/REPORT lines and EMF metric documents: not the task's log."""
    if line.fields is not None and "_aws" in line.fields:
        return True
    return line.message.lstrip().startswith(("START RequestId:", "END RequestId:", "REPORT RequestId:"))


def _stream_events(logs_client: Any, group: str, stream: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"logGroupName": group, "logStreamName": stream, "startFromHead": True}
    while True:
        resp = logs_client.get_log_events(**kwargs)
        events.extend(resp.get("events", []))
        token = resp.get("nextForwardToken")
        if not token or token == kwargs.get("nextToken") or not resp.get("events"):
            return events
        kwargs["nextToken"] = token


def _group_events(logs_client: Any, group: str, start_ms: int | None) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"logGroupName": group}
    if start_ms is not None:
        kwargs["startTime"] = start_ms
    while True:
        resp = logs_client.filter_log_events(**kwargs)
        events.extend(resp.get("events", []))
        token = resp.get("nextToken")
        if not token:
            return sorted(events, key=lambda e: (e.get("logStreamName", ""), e.get("timestamp", 0)))
        kwargs["nextToken"] = token


def try_log_stream(ti: Mapping[str, Any], try_number: int) -> str | None:
    """The log stream recorded for one try of a task-instance item (current or past)."""
    if int(ti.get("try_number") or 0) == try_number and ti.get("log_stream"):
        return str(ti["log_stream"])
    for n, past in enumerate(ti.get("history") or [], start=1):
        if int(past.get("try_number") or n) == try_number and past.get("log_stream"):
            return str(past["log_stream"])
    return None


def task_log_lines(
    logs_client: Any,
    log_group: str,
    ti: Mapping[str, Any],
    *,
    run_id: str,
    try_number: int | None = None,
    since_ms: int | None = None,
) -> list[LogLine]:
    """The log lines of one try (default: the latest) of the task instance item ``ti``.

    Raises NotFoundError when the try never ran or the log group does not exist.
    """
    task_id = str(ti["task_id"])
    map_index = int(ti.get("map_index", -1))
    latest = int(ti.get("try_number") or 0)
    wanted = latest if try_number is None else try_number
    if wanted < 1 or wanted > latest:
        raise NotFoundError(
            f"Task '{task_id}' of run '{run_id}' has no try {wanted} (tries so far: {latest}); "
            "use --try with a number from `stratus show`."
        )
    stream = try_log_stream(ti, wanted)
    try:
        if stream:
            events = _stream_events(logs_client, log_group, stream)
        else:
            events = _group_events(logs_client, log_group, since_ms)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise NotFoundError(
                f"No logs for task '{task_id}' try {wanted} of run '{run_id}': log group '{log_group}'"
                + (f" or stream '{stream}'" if stream else "") + " does not exist (yet)."
            ) from err
        raise StratusError(f"Reading logs from '{log_group}' failed: {err}") from err
    return select_try_lines(events, run_id, task_id, wanted, map_index, one_stream=bool(stream))

"""Registered secrets masked in what a task prints, not only in what it logs.

``orchestrator.secrets`` masks every log record once a secret has been read. A task's
``print()`` never makes a record: on Lambda it goes straight to the process's stdout, which
Lambda sends to CloudWatch Logs. ``install()`` wraps ``sys.stdout`` and ``sys.stderr`` in a
``MaskingStream`` that replaces every registered secret with ``***`` on the way through
(once per process; the worker calls it before each try). The local cloud captures each
invocation's output itself and passes it through ``redact_text`` before storing it, so the
stored log is masked whichever wrapper a thread wrote through.

A secret is masked when one ``write`` holds it whole, which is what ``print(secret)``,
``print(f"...{secret}...")`` and ``print(a, secret)`` do.
"""

from __future__ import annotations

import io
import sys
import threading
from typing import Any

_LOCK = threading.Lock()
# Attributes under which the stdout wrappers of this project keep the stream they wrap.
_INNER = ("inner", "passthrough", "original")


def redact_text(text: str) -> str:
    """``text`` with every registered secret replaced by ``***`` (unchanged when none is registered)."""
    from orchestrator.secrets.masking import redact

    return str(redact(text))


class MaskingStream(io.TextIOBase):
    """A text stream that masks registered secrets in each write, then writes to ``inner``."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def write(self, text: str) -> int:
        self.inner.write(redact_text(text) if isinstance(text, str) else text)
        return len(text)

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:
        return bool(getattr(self.inner, "isatty", lambda: False)())

    def fileno(self) -> int:
        return int(self.inner.fileno())

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self.inner, "encoding", "utf-8"))


def _masked(stream: Any) -> bool:
    seen = 0
    while stream is not None and seen < 16:
        if isinstance(stream, MaskingStream):
            return True
        stream = next((getattr(stream, a) for a in _INNER if getattr(stream, a, None) is not None), None)
        seen += 1
    return False


def install() -> None:
    """Mask registered secrets in everything written to ``sys.stdout``/``sys.stderr`` (idempotent)."""
    with _LOCK:
        if not _masked(sys.stdout):
            sys.stdout = MaskingStream(sys.stdout)
        if not _masked(sys.stderr):
            sys.stderr = MaskingStream(sys.stderr)


__all__ = ["MaskingStream", "install", "redact_text"]

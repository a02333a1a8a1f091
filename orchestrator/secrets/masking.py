"""Secret masking: values registered here become ``***`` in every log record and in ``redact(text)``.

Process-wide on purpose: a secret a task read must vanish from whatever logs it (the task,
the engine, botocore). The hook is installed on ``logging.Logger.makeRecord`` when the first
value is registered.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

MASK = "***"
# Airflow's list of key fragments that make a Variable or an extra field sensitive.
SENSITIVE_WORDS = ("access_token", "api_key", "apikey", "authorization", "passphrase", "passwd", "password",
                   "private_key", "secret", "token", "keyfile_dict", "service_account")


def is_sensitive(name: str) -> bool:
    """True when a Variable key or extra field name suggests a secret (Airflow's rule)."""
    low = name.lower()
    return any(word in low for word in SENSITIVE_WORDS)


class _Masker:
    """Registered secret values, replaced by ``***`` in every log record once installed."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        self._installed = False

    def add(self, value: Any) -> None:
        if not isinstance(value, str) or len(value) < 3:  # "", "1", "no": masking them would garble every line
            return
        with self._lock:
            if value in self._values:
                return
            self._values.add(value)
            # Longest first so a secret that contains another is masked whole.
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
            if not self._installed:
                _install_record_hook()
                self._installed = True

    def redact(self, value: Any) -> Any:
        pattern = self._pattern
        if pattern is None:
            return value
        if isinstance(value, str):
            return pattern.sub(MASK, value)
        if isinstance(value, dict):
            return {k: self.redact(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.redact(v) for v in value)
        return value

    def clear(self) -> None:
        """Forget every registered value (tests)."""
        with self._lock:
            self._values.clear()
            self._pattern = None


MASKER = _Masker()
_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def redact(text: Any) -> Any:
    """``text`` (or a dict/list of strings) with every registered secret replaced by ``***``."""
    return MASKER.redact(text)


def mask_secret(value: Any) -> None:
    """Register ``value`` (a str) so it never appears in a log line from now on."""
    MASKER.add(value)


def _install_record_hook() -> None:
    """Redact at record creation: ``Logger.makeRecord`` covers every logger, extras included."""
    original = logging.Logger.makeRecord
    if getattr(original, "_stratus_masked", False):
        return

    def make_record(self: logging.Logger, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = original(self, *args, **kwargs)
        if MASKER._pattern is None:
            return record
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string: keep the raw message
            message = str(record.msg)
        clean = MASKER.redact(message)
        if clean != message:  # untouched records keep their msg/args (Powertools logs dicts as msg)
            record.msg, record.args = clean, None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD_ATTRS:
                record.__dict__[key] = MASKER.redact(value)
        if record.exc_info and record.exc_info[0] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            clean = MASKER.redact(text)
            if clean != text:  # the traceback names a secret: keep only its masked text
                record.msg = f"{record.msg}\n{clean}"
                record.exc_info, record.exc_text = None, None
        return record

    make_record._stratus_masked = True  # type: ignore[attr-defined]
    logging.Logger.makeRecord = make_record  # type: ignore[method-assign]


__all__ = ["MASK", "MASKER", "SENSITIVE_WORDS", "is_sensitive", "mask_secret", "redact"]

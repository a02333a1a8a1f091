"""Rendered template fields of a try (Airflow's "Rendered Template"): masked, bounded, stored.

The worker keeps, for every try, each ``template_fields`` value as the try ran with it (after
Jinja, upstream outputs resolved, a mapped instance's own values applied). Before storing:

1. **JSON-safe**: strings, numbers, booleans and None as they are; lists, tuples and sets as
   lists; dicts with string keys; dates as ISO text; anything else as ``str(value)``.
2. **Masked**: every secret registered with ``orchestrator.secrets`` (a Connection's
   password, a sensitive Variable) becomes ``***``, and so does the whole value of a dict key
   or field whose name says secret (``password``, ``api_key``, ...: Airflow's rule).
3. **Bounded**: a field longer than ``max_field_length()`` characters (its text, or its JSON
   for a list or dict) is cut to that many characters and a note saying so; the names of cut
   fields are listed in the document's ``truncated``. Masking comes first, so a cut never
   leaves part of a secret.

The document ``{"fields": {...}, "truncated": [...]}`` is JSON text. Up to ``INLINE_LIMIT``
bytes it stays in the task-instance item (``rendered_fields``, written with the try's own
terminal write: no extra call); above that it goes to the artefact bucket under the DAG's
XCom prefix, ``xcom/{dag_id}/{run_id}/{task_id}/{map_index}/{try}.rendered.json`` (next to
the try's XCom folder, never inside it: no XCom key can name it), and the item keeps
``{"$s3": key}``. The small inline bound keeps a task instance far inside DynamoDB's 400 KB
even after many tries: each past try keeps its document in the item's ``history``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from orchestrator.secrets.masking import MASK, is_sensitive, redact

ENV_MAX_FIELD_LENGTH = "STRATUS_MAX_TEMPLATED_FIELD_LENGTH"
DEFAULT_MAX_FIELD_LENGTH = 4096  # Airflow's [core] max_templated_field_length
INLINE_LIMIT = 4096  # bytes of the JSON document kept in the task-instance item
ITEM_ATTR = "rendered_fields"
_MAX_DEPTH = 16


def max_field_length() -> int:
    """Characters kept of one rendered field (env ``STRATUS_MAX_TEMPLATED_FIELD_LENGTH``)."""
    raw = os.environ.get(ENV_MAX_FIELD_LENGTH, "")
    try:
        return max(64, int(raw)) if raw else DEFAULT_MAX_FIELD_LENGTH
    except ValueError:
        return DEFAULT_MAX_FIELD_LENGTH


def _plain(value: Any, depth: int = 0) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else repr(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    if depth >= _MAX_DEPTH:
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [_plain(v, depth + 1) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    return str(value)


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: MASK if is_sensitive(k) and v not in (None, "") else _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def _bounded(value: Any, limit: int) -> tuple[Any, bool]:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if len(text) <= limit:
        return value, False
    note = (f"\n... [truncated: {len(text):,} characters, the first {limit:,} shown; "
            f"{ENV_MAX_FIELD_LENGTH} raises the limit]")
    return text[:limit] + note, True


def document(fields: Mapping[str, Any], *, limit: int | None = None) -> dict[str, Any]:
    """The stored form of one try's rendered fields: JSON-safe, masked, each field bounded.

    Example::

        document({"bash_command": "echo 2026-01-01", "env": {"API_TOKEN": "s3cr3t"}})
        == {"fields": {"bash_command": "echo 2026-01-01", "env": {"API_TOKEN": "***"}}, "truncated": []}
    """
    limit = limit or max_field_length()
    out: dict[str, Any] = {}
    cut: list[str] = []
    for name, value in fields.items():
        plain = _plain(value)
        safe = MASK if is_sensitive(name) and plain not in (None, "") else _masked(plain)
        out[name], truncated = _bounded(safe, limit)
        if truncated:
            cut.append(name)
    return {"fields": out, "truncated": cut}


def encode(fields: Mapping[str, Any], *, limit: int | None = None) -> str:
    """``document(fields)`` as compact JSON text."""
    return json.dumps(document(fields, limit=limit), separators=(",", ":"), ensure_ascii=False)


def s3_key(dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int) -> str:
    """Where a large document goes: beside the try's XCom folder, under the DAG's ``xcom/`` prefix."""
    return f"xcom/{dag_id}/{run_id}/{task_id}/{map_index}/{try_number}.rendered.json"


def place(xcom: Any, text: str, *, dag_id: str, run_id: str, task_id: str, map_index: int,
          try_number: int) -> str:
    """The item value for ``text``: the text itself when small, else ``{"$s3": key}`` after
    writing it to the artefact bucket (through the XCom store, which owns the bucket)."""
    if len(text.encode()) <= INLINE_LIMIT:
        return text
    return xcom.put_ref(s3_key(dag_id, run_id, task_id, map_index, try_number), text)


def load(xcom: Any, stored: Any) -> dict[str, Any] | None:
    """The document a try stored (``place``), or None when it stored none. A document in S3 that
    cannot be read comes back empty with an ``error`` saying why."""
    if not isinstance(stored, str) or not stored:
        return None
    try:
        raw = json.loads(stored)
    except ValueError:
        return None
    if isinstance(raw, dict) and set(raw) == {"$s3"}:
        try:
            raw = json.loads(xcom.load_text(raw["$s3"]))
        except Exception as exc:  # noqa: BLE001 - the page still shows the try, and why its values are missing
            return {"fields": {}, "truncated": [], "error": f"s3://.../{raw['$s3']} could not be read: {exc}"}
    if not isinstance(raw, dict) or not isinstance(raw.get("fields"), dict):
        return None
    return {"fields": raw["fields"], "truncated": list(raw.get("truncated") or [])}


__all__ = ["DEFAULT_MAX_FIELD_LENGTH", "ENV_MAX_FIELD_LENGTH", "INLINE_LIMIT", "ITEM_ATTR", "document", "encode",
           "load", "max_field_length", "place", "s3_key"]

"""XCom codec: task outputs as tagged JSON, inline when small, in S3 by reference when large.

Values are JSON with tagged objects for what JSON lacks (``{"$type": ..., ...}``):
datetime, date, time, timedelta, Decimal, bytes, tuple, set/frozenset, dicts with non-string
keys, dataclasses, pydantic models and objects that say how (``__stratus_xcom__()`` gives their
JSON form, the classmethod ``__stratus_xcom_load__(data)`` rebuilds them: Stratus's ``Asset`` and
``Metadata``). A dataclass, model or such object decodes back to its class when
the class's module is already imported in the reading process (the worker has loaded the DAG
file); otherwise it decodes to a plain dict. Nothing is ever unpickled and decoding never
imports a module.

Storage: an encoded value shorter than the inline limit (``constants.DEFAULT_INLINE_XCOM_LIMIT``
bytes, overridable with the ``STRATUS_INLINE_XCOM_LIMIT`` env var) stays in the task-instance
item; anything larger is written to the artefact bucket under
``xcom/{dag_id}/{run_id}/{task_id}/{map_index}/{try_number}/{key}.json`` and the item keeps
the key. Multi-MB outputs therefore work (S3 has no practical limit here).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import sys
import threading
from collections import OrderedDict
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from orchestrator import constants as c
from orchestrator.errors import StoreError

TAG = "$type"
S3_REF = "$s3"


def inline_limit() -> int:
    """The inline XCom limit in bytes (env ``STRATUS_INLINE_XCOM_LIMIT`` overrides the default)."""
    raw = os.environ.get(c.ENV_INLINE_XCOM_LIMIT)
    if raw:
        try:
            return int(raw)
        except ValueError as exc:
            raise StoreError(f"{c.ENV_INLINE_XCOM_LIMIT}={raw!r} is not an integer number of bytes.") from exc
    return c.DEFAULT_INLINE_XCOM_LIMIT


def _qualname(obj: type) -> str:
    return f"{obj.__module__}:{obj.__qualname__}"


def _known_class(path: str) -> type | None:
    module_name, _, qual = path.partition(":")
    module = sys.modules.get(module_name)
    if module is None:
        return None
    found: Any = module
    for part in qual.split("."):
        found = getattr(found, part, None)
        if found is None:
            return None
    return found if isinstance(found, type) else None


def _to_json(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return {TAG: "float", "value": repr(value)}
        return value
    if isinstance(value, datetime):
        return {TAG: "datetime", "value": value.isoformat()}
    if isinstance(value, date):
        return {TAG: "date", "value": value.isoformat()}
    if isinstance(value, time):
        return {TAG: "time", "value": value.isoformat()}
    if isinstance(value, timedelta):
        return {TAG: "timedelta", "seconds": value.total_seconds()}
    if isinstance(value, Decimal):
        return {TAG: "decimal", "value": str(value)}
    if isinstance(value, (bytes, bytearray)):
        return {TAG: "bytes", "b64": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return {TAG: "tuple", "items": [_to_json(v) for v in value]}
    if isinstance(value, tuple):  # namedtuple: a dict of its fields
        return {k: _to_json(v) for k, v in value._asdict().items()}  # type: ignore[attr-defined]
    if isinstance(value, list):
        return [_to_json(v) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [_to_json(v) for v in value]
        try:
            items.sort(key=lambda v: json.dumps(v, sort_keys=True))
        except TypeError:  # pragma: no cover
            pass
        return {TAG: "frozenset" if isinstance(value, frozenset) else "set", "items": items}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and TAG not in value and S3_REF not in value:
            return {k: _to_json(v) for k, v in value.items()}
        return {TAG: "dict", "items": [[_to_json(k), _to_json(v)] for k, v in value.items()]}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {TAG: "dataclass", "class": _qualname(type(value)), "fields": fields}
    dump = getattr(value, "model_dump", None)
    if callable(dump):  # pydantic v2 model
        return {TAG: "pydantic", "class": _qualname(type(value)), "data": dump(mode="json")}
    own = getattr(value, "__stratus_xcom__", None)
    if callable(own) and not isinstance(value, type):
        return {TAG: "object", "class": _qualname(type(value)), "data": _to_json(own())}
    raise TypeError(
        f"Cannot store a value of type {type(value).__module__}.{type(value).__qualname__} as XCom: "
        "return JSON-compatible data, datetimes, Decimals, dataclasses or pydantic models."
    )


def _from_json(value: Any) -> Any:
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    if not isinstance(value, dict):
        return value
    tag = value.get(TAG)
    if tag is None:
        return {k: _from_json(v) for k, v in value.items()}
    if tag == "datetime":
        return datetime.fromisoformat(value["value"])
    if tag == "date":
        return date.fromisoformat(value["value"])
    if tag == "time":
        return time.fromisoformat(value["value"])
    if tag == "timedelta":
        return timedelta(seconds=value["seconds"])
    if tag == "decimal":
        return Decimal(value["value"])
    if tag == "float":
        return float(value["value"])
    if tag == "bytes":
        return base64.b64decode(value["b64"])
    if tag == "tuple":
        return tuple(_from_json(v) for v in value["items"])
    if tag == "set":
        return {_from_json(v) for v in value["items"]}
    if tag == "frozenset":
        return frozenset(_from_json(v) for v in value["items"])
    if tag == "dict":
        return {_hashable(_from_json(k)): _from_json(v) for k, v in value["items"]}
    if tag == "dataclass":
        fields = {k: _from_json(v) for k, v in value["fields"].items()}
        cls = _known_class(value["class"])
        if cls is not None and dataclasses.is_dataclass(cls):
            try:
                return cls(**fields)
            except TypeError:
                return fields
        return fields
    if tag == "pydantic":
        cls = _known_class(value["class"])
        validate = getattr(cls, "model_validate", None)
        if callable(validate):
            return validate(value["data"])
        return value["data"]
    if tag == "object":
        data = _from_json(value["data"])
        load = getattr(_known_class(value["class"]), "__stratus_xcom_load__", None)
        return load(data) if callable(load) else data
    raise StoreError(f"Unknown XCom tag {tag!r}: the value was written by a newer Stratus version.")


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value


def encode(value: Any) -> str:
    """Encode a task output as compact tagged JSON text. Raises TypeError for unsupported types."""
    return json.dumps(_to_json(value), separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def decode(text: str | bytes) -> Any:
    """Decode text written by ``encode``."""
    return _from_json(json.loads(text))


class XComStore:
    """Places encoded outputs inline or in the artefact bucket and reads them back.

    S3 values are immutable (the key names the try), so a warm container keeps the last few
    it read: 1,000 mapped instances over one large list download it once per container.
    """

    CACHE_ENTRIES = 8

    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def s3_key(self, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int, key: str) -> str:
        return f"xcom/{dag_id}/{run_id}/{task_id}/{map_index}/{try_number}/{key}.json"

    def place(self, text: str, *, dag_id: str, run_id: str, task_id: str, map_index: int,
              try_number: int, key: str = "return_value") -> tuple[str | None, str | None]:
        """Return ``(inline_text, None)`` or ``(None, s3_key)`` after uploading a large value."""
        data = text.encode()
        if len(data) < inline_limit():
            return text, None
        if not self._bucket:
            raise StoreError(
                f"Output of task '{task_id}' is {len(data)} bytes, above the inline limit, and no "
                f"artefact bucket is configured ({c.ENV_ARTEFACT_BUCKET})."
            )
        s3_key = self.s3_key(dag_id, run_id, task_id, map_index, try_number, key)
        self._s3.put_object(Bucket=self._bucket, Key=s3_key, Body=data, ContentType="application/json")
        return None, s3_key

    def put_ref(self, s3_key: str, text: str) -> str:
        """Write ``text`` to the artefact bucket at ``s3_key``; returns ``{"$s3": key}`` (JSON)."""
        if not self._bucket:
            raise StoreError(f"Cannot write {s3_key!r}: no artefact bucket is configured ({c.ENV_ARTEFACT_BUCKET}).")
        self._s3.put_object(Bucket=self._bucket, Key=s3_key, Body=text.encode(), ContentType="application/json")
        return json.dumps({S3_REF: s3_key})

    def place_ref(self, text: str, **where: Any) -> str:
        """Like ``place`` but as one string: inline JSON, or ``{"$s3": key}`` for S3 values."""
        inline, key = self.place(text, **where)
        return inline if inline is not None else json.dumps({S3_REF: key})

    def load_text(self, s3_key: str) -> str:
        with self._lock:
            if s3_key in self._cache:
                self._cache.move_to_end(s3_key)
                return self._cache[s3_key]
        text = self._s3.get_object(Bucket=self._bucket, Key=s3_key)["Body"].read().decode()
        with self._lock:
            self._cache[s3_key] = text
            while len(self._cache) > self.CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return text

    def load(self, inline: str | None, s3_key: str | None) -> Any:
        if s3_key:
            return decode(self.load_text(s3_key))
        if inline is None:
            return None
        return decode(inline)

    def load_ref(self, text: str) -> Any:
        """Read a value stored by ``place_ref``."""
        raw = json.loads(text)
        if isinstance(raw, dict) and set(raw) == {S3_REF}:
            return decode(self.load_text(raw[S3_REF]))
        return _from_json(raw)

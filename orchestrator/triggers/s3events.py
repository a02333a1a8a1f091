"""S3 object events and task outlets as asset events: parsing and validation (pure).

Two S3 shapes arrive at the trigger function:

- EventBridge (the template's buckets have EventBridge notifications on; a rule routes
  ``Object Created`` to the trigger function)::

    {"source": "aws.s3", "detail-type": "Object Created",
     "detail": {"bucket": {"name": "landing"},
                "object": {"key": "sales/2026-01-01.csv", "size": 12, "etag": "...", "sequencer": "..."}}}

  The key is the raw object key.
- S3 event notifications (``{"Records": [{"eventSource": "aws:s3", "s3": {...}}]}``), where
  the key is URL-encoded (``red flower.jpg`` arrives as ``red+flower.jpg``); it is decoded.

Anything malformed or hostile (a key with ``..`` segments or control characters, a key
longer than S3 allows, a bucket name S3 would refuse) raises
:class:`~orchestrator.errors.EventError` before anything is written. Events that are
well-formed but not about a new object (``Object Deleted``) yield no asset events.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict

from orchestrator.errors import EventError

MAX_KEY_BYTES = 1024  # S3's limit
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_TOKEN_RE = re.compile(r"^[A-Za-z0-9\-_.:#/+=]{1,256}$")
# TAB is a legal (and seen) character in S3 keys; the other control characters are refused.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class AssetEvent(BaseModel):
    """One asset event: an S3 object that arrived, or a task outlet that was updated."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    uri: str  # s3://bucket/key, or any asset URI Airflow accepts (task outlets)
    bucket: str = ""
    key: str = ""
    size: int | None = None
    etag: str | None = None
    sequencer: str | None = None
    version_id: str | None = None
    timestamp: str  # ISO-8601 UTC
    source: str = "s3"  # "s3" or "outlet"
    source_dag_id: str | None = None
    source_run_id: str | None = None
    source_task_id: str | None = None
    user_extra: dict[str, Any] | None = None  # a producer task's outlet_events[asset].extra
    source_aliases: list[str] | None = None  # the AssetAlias names the producer emitted it through
    partition_key: str | None = None  # a partitioned event (Airflow 3.2+): the producer run's or task's key
    partition_date: str | None = None  # ISO-8601: the producer run's partition_date, when the key is the run's

    def dedup_id(self) -> str:
        """What makes a delivery a duplicate: S3's sequencer (+ etag/version), or the producing task
        (and the partition key: a task may emit one event per partition)."""
        if self.source == "outlet":
            own = f"outlet#{self.source_dag_id}#{self.source_run_id}#{self.source_task_id}"
            return own if self.partition_key is None else f"{own}#p#{self.partition_key}"
        parts = [self.sequencer or f"t{self.timestamp}", self.etag or "", self.version_id or ""]
        return "s3#" + "#".join(parts)

    def context_payload(self, asset_uri: str | None = None) -> dict[str, Any]:
        """One event as the run's context shows it in ``triggering_asset_events[asset_uri]``.

        The fields (``uri``, ``bucket``, ``key``, ``size``, ``etag``, ``timestamp``, ...) are at
        the top level and, as in Airflow 3's ``AssetEvent``, under ``extra``; ``asset_uri`` is
        the DAG's asset the event matched.
        """
        flat = self.model_dump(exclude_none=True)
        user = flat.pop("user_extra", None) or {}
        extra = {k: v for k, v in flat.items() if k not in ("timestamp", "source", "source_dag_id", "source_run_id",
                                                              "source_task_id", "source_aliases", "partition_key",
                                                              "partition_date")}
        return {**flat, "asset_uri": asset_uri or self.uri, "extra": {**extra, **user}}


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key); EventError when it is not an s3 URI."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise EventError(f"Asset URI {uri!r} is not an s3:// URI (expected s3://bucket/prefix/).")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def validate_bucket(bucket: Any) -> str:
    if not isinstance(bucket, str) or not _BUCKET_RE.match(bucket) or ".." in bucket:
        raise EventError(f"S3 event has an invalid bucket name {str(bucket)[:80]!r}; nothing was started.")
    return bucket


def validate_key(key: Any, *, allow_empty: bool = False) -> str:
    """An object key safe to match and to show; EventError for hostile or malformed keys."""
    if not isinstance(key, str) or (not key and not allow_empty):
        raise EventError("S3 event has no object key (detail.object.key); nothing was started.")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise EventError(
            f"S3 event object key is {len(key.encode('utf-8', 'surrogatepass'))} bytes, longer than S3's "
            f"{MAX_KEY_BYTES}; nothing was started."
        )
    if _CONTROL_RE.search(key):
        raise EventError(f"S3 event object key {key[:80]!r} contains control characters; nothing was started.")
    # '.' segments are legal S3 keys and harmless to prefix matching ('a/./b' is not 'a/b');
    # '..' is refused: a DAG that joins the key to a local path would climb out of its folder.
    if any(part == ".." for part in key.split("/")):
        raise EventError(f"S3 event object key {key[:80]!r} contains a '..' path segment; nothing was started.")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise EventError(f"S3 event object key {key[:80]!r} is not valid UTF-8; nothing was started.") from None
    return key


def _token(value: Any, what: str) -> str | None:
    if value is None or value == "":
        return None
    text = str(value).strip('"')
    if not _TOKEN_RE.match(text):
        raise EventError(f"S3 event has an invalid {what} {text[:80]!r}; nothing was started.")
    return text


# S3's largest object is 50 TB; anything above is a forged event (and would overflow DynamoDB numbers).
MAX_OBJECT_SIZE = 50 * 1024**4


def _size(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise EventError(f"S3 event has an invalid object size {value!r}; nothing was started.")
    try:
        size = int(value)
    except ValueError:
        raise EventError(f"S3 event has an invalid object size {value!r}; nothing was started.") from None
    if size < 0:
        raise EventError(f"S3 event has a negative object size {size}; nothing was started.")
    if size > MAX_OBJECT_SIZE:
        raise EventError(f"S3 event has an object size of {len(str(size))} digits, larger than S3 allows; "
                         "nothing was started.")
    return size


def _timestamp(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(float(value), UTC).isoformat()
        except (OverflowError, OSError, ValueError):
            raise EventError(f"S3 event has a time {str(value)[:40]!r} outside the calendar (epoch seconds); "
                             "nothing was started.") from None
    if isinstance(value, str) and value:
        try:
            text = value[:-1] + "+00:00" if value.endswith("Z") else value
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise EventError(f"S3 event has an invalid time {value[:40]!r}; nothing was started.") from None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    return datetime.now(UTC).isoformat()


def _object_event(bucket: Any, obj: Any, when: Any) -> AssetEvent:
    if not isinstance(obj, dict):
        raise EventError("S3 event has no object (detail.object); nothing was started.")
    bucket = validate_bucket(bucket)
    key = validate_key(obj.get("key"))
    return AssetEvent(
        uri=f"s3://{bucket}/{key}",
        bucket=bucket,
        key=key,
        size=_size(obj.get("size")),
        etag=_token(obj.get("etag", obj.get("eTag")), "etag"),
        sequencer=_token(obj.get("sequencer"), "sequencer"),
        version_id=_token(obj.get("version-id", obj.get("versionId")), "version id"),
        timestamp=_timestamp(when),
    )


def is_s3_event(event: Any) -> bool:
    """True for both S3 shapes (EventBridge ``aws.s3`` and notification ``Records``)."""
    if not isinstance(event, dict):
        return False
    if event.get("source") == "aws.s3":
        return True
    records = event.get("Records")
    return isinstance(records, list) and bool(records) and all(
        isinstance(r, dict) and r.get("eventSource") == "aws:s3" for r in records
    )


def parse_s3_event(event: Any) -> list[AssetEvent]:
    """The asset events in an S3 event of either shape; [] for events that are not object creations.

    Raises EventError for malformed or hostile input (the whole event is rejected: nothing
    in it is acted on).
    """
    if not isinstance(event, dict):
        raise EventError(f"S3 event must be a JSON object, got {type(event).__name__}.")
    if event.get("source") == "aws.s3":
        if event.get("detail-type") != "Object Created":
            return []
        detail = event.get("detail")
        if not isinstance(detail, dict) or not isinstance(detail.get("bucket"), dict):
            raise EventError("S3 EventBridge event has no detail.bucket; nothing was started.")
        return [_object_event(detail["bucket"].get("name"), detail.get("object"), event.get("time"))]
    records = event.get("Records")
    if not isinstance(records, list) or not records:
        raise EventError("Event is neither an S3 EventBridge event nor S3 notification records.")
    out: list[AssetEvent] = []
    for record in records:
        if not isinstance(record, dict) or record.get("eventSource") != "aws:s3":
            raise EventError("S3 notification record is not from aws:s3; nothing was started.")
        if not str(record.get("eventName", "")).startswith("ObjectCreated"):
            continue
        s3 = record.get("s3")
        if not isinstance(s3, dict) or not isinstance(s3.get("bucket"), dict):
            raise EventError("S3 notification record has no s3.bucket; nothing was started.")
        obj = s3.get("object")
        if isinstance(obj, dict) and isinstance(obj.get("key"), str):
            obj = {**obj, "key": unquote_plus(obj["key"])}  # notification keys are URL-encoded
        out.append(_object_event(s3["bucket"].get("name"), obj, record.get("eventTime")))
    return out


def outlet_event(uri: str, *, dag_id: str, run_id: str, task_id: str, when: datetime | None = None,
                 extra: dict[str, Any] | None = None, aliases: list[str] | None = None,
                 partition_key: str | None = None, partition_date: str | None = None) -> AssetEvent:
    """The asset event a successful task with ``outlets=[Asset(uri)]`` emits (``extra``: what the
    task set in ``context["outlet_events"][asset].extra``). Any URI Airflow accepts: only an
    ``s3://`` one has a bucket and key (an example-style bucket name such as ``consuming_1_task``
    included: no S3 object is involved)."""
    from orchestrator.authoring.assets import asset_uri_problem

    problem = asset_uri_problem(uri)
    if problem:
        raise EventError(problem + "; nothing was emitted.")
    bucket, key = uri[5:].partition("/")[::2] if uri.startswith("s3://") else ("", "")
    validate_key(key, allow_empty=True)
    return AssetEvent(
        uri=uri,
        bucket=bucket,
        key=key,
        timestamp=(when or datetime.now(UTC)).astimezone(UTC).isoformat(),
        source="outlet",
        source_dag_id=dag_id,
        source_run_id=run_id,
        source_task_id=task_id,
        user_extra=extra or None,
        source_aliases=aliases or None,
        partition_key=partition_key,
        partition_date=partition_date if partition_key is not None else None,
    )
